"""`taxiway serve --print-nginx`: a site Debian's nginx accepts (`nginx -t`); clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.deploy.nginx import nginx_site
from taxiway.deploy.replicas import report_replica
from taxiway.project import Project
from tests.serve.engines import nginx_test, write_nginx


def test_the_printed_site_passes_nginx_t(runner: CliRunner, project_dir: Path, tmp_path: Path) -> None:
    args = ["--project", str(project_dir), "serve", "--print-nginx", "--nginx-listen", "127.0.0.1:18080"]
    result = runner.invoke(app, [*args, "--upstream", "127.0.0.1:8001", "--upstream", "10.0.0.7:8002"])
    assert result.exit_code == 0, result.output
    assert "server 127.0.0.1:8001 " in result.stdout and "server 10.0.0.7:8002 " in result.stdout
    assert "non_idempotent" in result.stdout and "listen 127.0.0.1:18080;" in result.stdout
    checked = nginx_test(write_nginx(tmp_path / "nginx", result.stdout))
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_nginx_t_fails_on_a_broken_site(tmp_path: Path) -> None:
    """The check above can fail: nginx refuses a site with a directive it does not know."""
    site = nginx_site([("127.0.0.1", 8001)]).replace("keepalive 32;", "keepalive_forever yes;")
    checked = nginx_test(write_nginx(tmp_path / "nginx", site))
    assert checked.returncode != 0 and "keepalive_forever" in checked.stderr


def test_without_upstreams_the_site_names_the_replicas_alive_in_the_store(
    runner: CliRunner, project_dir: Path
) -> None:
    store = Project.load(project_dir).store
    for port in (8101, 8102):
        report_replica(store, f"web-1:{port}:1", host="web-1", port=port, pid=1, generation=1, slots={})
    store.close()
    result = runner.invoke(app, ["--project", str(project_dir), "serve", "--print-nginx"])
    assert result.exit_code == 0, result.output
    assert "server web-1:8101 " in result.stdout and "server web-1:8102 " in result.stdout


@pytest.mark.parametrize(
    ("upstreams", "message"),
    [([], "nginx needs at least one replica"), (["localhost"], "'localhost' is not a replica address")],
)
def test_bad_upstreams_exit_2_with_a_hint(
    runner: CliRunner, project_dir: Path, upstreams: list[str], message: str
) -> None:
    args = [arg for upstream in upstreams for arg in ("--upstream", upstream)]
    result = runner.invoke(app, ["--project", str(project_dir), "serve", "--print-nginx", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "HOST:PORT" in result.output and "hint:" in result.output
    assert "Traceback" not in result.output
