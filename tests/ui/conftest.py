"""Fixtures of the page tests: the session's trained project (and its deployed copy) served by a real
uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture(scope="session")
def site(trained: TrainedProject) -> Iterator[str]:
    """The dashboard of the trained project, over a real socket."""
    project = Project.load(trained.root)
    try:
        with serving(create_app(project)) as url:
            yield url
    finally:
        project.store.close()


@pytest.fixture
def http(site: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="session")
def deployed(trained: TrainedProject, tmp_path_factory: pytest.TempPathFactory) -> DeployedProject:
    return shared_deployed_project(trained, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def deployed_site(deployed: DeployedProject) -> Iterator[str]:
    """The dashboard of the deployed copy: registered versions, deployments, replicas, snapshots."""
    project = Project.load(deployed.root)
    try:
        with serving(create_app(project)) as url:
            yield url
    finally:
        project.store.close()


@pytest.fixture
def deployed_http(deployed_site: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=deployed_site, timeout=30, follow_redirects=False) as client:
        yield client
