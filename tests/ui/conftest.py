"""Fixtures of the page tests: the session's trained project (and its deployed copy) served by a real
uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from taxiway.project import Project
from taxiway.ui import create_app
from tests.ui.deployed import DeployedProject, shared_deployed_project
from tests.ui.server import serving
from tests.ui.trained import TrainedProject, shared_trained_project


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedProject:
    return shared_trained_project(tmp_path_factory.getbasetemp())


def _dashboard(root: Path) -> Iterator[str]:
    """The dashboard of the project at ``root``, over a real socket, until the caller is done."""
    project = Project.load(root)
    try:
        with serving(create_app(project)) as url:
            yield url
    finally:
        project.store.close()


def _client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="session")
def site(trained: TrainedProject) -> Iterator[str]:
    """The dashboard of the trained project."""
    yield from _dashboard(trained.root)


@pytest.fixture
def http(site: str) -> Iterator[httpx.Client]:
    yield from _client(site)


@pytest.fixture(scope="session")
def deployed(trained: TrainedProject, tmp_path_factory: pytest.TempPathFactory) -> DeployedProject:
    return shared_deployed_project(trained, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def deployed_site(deployed: DeployedProject) -> Iterator[str]:
    """The dashboard of the deployed copy: registered versions, deployments, replicas, snapshots."""
    yield from _dashboard(deployed.root)


@pytest.fixture(scope="module")
def project(deployed: DeployedProject) -> Iterator[Project]:
    """The deployed copy, opened (a module's worth of tests share it). Modules that need another project
    define their own ``project``."""
    loaded = Project.load(deployed.root)
    yield loaded
    loaded.store.close()


@pytest.fixture
def deployed_http(deployed_site: str) -> Iterator[httpx.Client]:
    yield from _client(deployed_site)
