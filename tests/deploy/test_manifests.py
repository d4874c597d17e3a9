"""`taxiway serve --print systemd|compose|kubernetes`: each file checked by a real validator (systemd-analyze
verify, the Compose specification's bindings, Kubernetes' schemas), and each validator shown to fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from compose_spec import PyCompose
from typer.testing import CliRunner

from taxiway.cli import app
from taxiway.deploy.manifests import ServeFiles, systemd_unit

KUBERNETES_VERSION = "1.30.0"


def _printed(runner: CliRunner, root: Path, kind: str, *args: str) -> str:
    result = runner.invoke(app, ["--project", str(root), "serve", "--print", kind, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _verify_unit(folder: Path, text: str, instance: str = "8001") -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify on the unit as instance ``instance`` (it exits 0 on bad values: they are
    printed and ignored, so a clean verify is one that prints nothing)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze (Debian's systemd package) is needed"
    unit = folder / f"taxiway-weather@{instance}.service"
    unit.write_text(text, encoding="utf-8")
    return subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)


def test_the_systemd_unit_passes_systemd_analyze_verify(
    runner: CliRunner, project_dir: Path, tmp_path: Path
) -> None:
    text = _printed(runner, project_dir, "systemd", "--workers", "2")
    executable = str(Path(sys.executable).with_name("taxiway"))
    assert f"ExecStart={executable} --project {project_dir} serve --host 127.0.0.1 --port %i" in text
    assert "EnvironmentFile=/etc/taxiway/" in text and "TimeoutStopSec=30" in text
    verified = _verify_unit(tmp_path, text)
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    text = systemd_unit(ServeFiles("weather", str(tmp_path), str(Path(sys.executable).with_name("taxiway"))))
    verified = _verify_unit(tmp_path, text.replace("Type=simple", "Type=sometimes"))
    assert "Failed to parse service type" in verified.stderr


def test_the_compose_file_follows_the_compose_specification(runner: CliRunner, project_dir: Path) -> None:
    text = _printed(runner, project_dir, "compose", "--replicas", "3", "--image", "registry.example/w:7")
    compose = PyCompose.from_yaml(text)  # raises on anything the specification does not allow
    assert sorted(compose.service_names()) == ["nginx", "taxiway"]
    document = yaml.safe_load(text)
    serve = document["services"]["taxiway"]
    assert serve["image"] == "registry.example/w:7" and serve["deploy"]["replicas"] == 3
    assert "/health" in serve["healthcheck"]["test"][-1] and serve["stop_grace_period"] == "30s"
    assert set(serve["secrets"]) == {"store_uri", "artifacts_uri"}
    assert "TAXIWAY_STORE_URI" in serve["command"][-1] and "postgresql" not in text, "no URI in the file"
    assert "server taxiway:8000 " in document["configs"]["taxiway_site"]["content"]


def test_the_compose_validator_refuses_a_misspelt_key(runner: CliRunner, project_dir: Path) -> None:
    text = _printed(runner, project_dir, "compose").replace("stop_grace_period:", "stop_grace_periode:")
    with pytest.raises(ValueError, match="stop_grace_periode"):
        PyCompose.from_yaml(text)


def _manifests(runner: CliRunner, root: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(_printed(runner, root, "kubernetes", "--replicas", "3")) if d]


def test_the_kubernetes_manifests_pass_kubernetes_schemas(runner: CliRunner, project_dir: Path) -> None:
    documents = _manifests(runner, project_dir)
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    deployment, service = documents
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    assert deployment["spec"]["replicas"] == 3
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/version"
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert set(secrets) == {"TAXIWAY_STORE_URI", "TAXIWAY_ARTIFACTS_URI"}
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_the_kubernetes_validator_refuses_a_wrong_type(runner: CliRunner, project_dir: Path) -> None:
    deployment = _manifests(runner, project_dir)[0]
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
