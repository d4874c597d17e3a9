"""The files that run `taxiway serve` replicas under a service manager: a systemd template unit, a Docker
Compose file and Kubernetes manifests, printed by ``taxiway serve --print KIND`` (docs/deploying.md).

What they share, and why:

- the store and artifact URIs come from secrets (a root-only environment file, Compose secrets, a
  Kubernetes Secret), never from the files themselves: a URI holds the database password;
- readiness is ``GET /health`` (200 once a live model is loaded: a replica gets traffic only then),
  liveness ``GET /version`` (200 while the process answers HTTP at all: a replica still loading its model,
  or refusing a tampered one, is not restarted for it);
- replicas stop on SIGTERM, finishing the requests they hold (``taxiway serve`` turns it into Ctrl+C);
  the managers wait 30 s before killing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = ["ServeFiles", "compose_file", "kubernetes_manifests", "systemd_unit"]

HEALTH = "/health"
LIVENESS = "/version"
STORE_SECRET_KEY = "store-uri"
ARTIFACTS_SECRET_KEY = "artifacts-uri"


@dataclass(frozen=True)
class ServeFiles:
    """What the printed files run: the project, the command, and how many replicas of it.

    Example:
        >>> ServeFiles("weather", "/srv/weather", "/opt/taxiway/bin/taxiway").serve_args(8001)[:4]
        ['/opt/taxiway/bin/taxiway', '--project', '/srv/weather', 'serve']
    """

    name: str  # the project's name: names the services
    root: str  # the project folder on the machine (or in the image)
    executable: str = "taxiway"  # the taxiway command
    replicas: int = 3
    workers: int = 2
    port: int = 8000
    image: str = "taxiway-serve:latest"

    def serve_args(self, port: int | str, host: str = "0.0.0.0", targets: str | None = None) -> list[str]:
        """``taxiway serve`` with this project, host, port and workers."""
        args = [self.executable, "--project", self.root, "serve", "--host", host, "--port", str(port)]
        args += ["--workers", str(self.workers)]
        return args + (["--prometheus-targets", targets] if targets else [])

    @property
    def slug(self) -> str:
        """The name in a form every manager accepts (lower case, digits and dashes).

        Example:
            >>> ServeFiles("Flight Delays_2", "/p").slug
            'taxiway-flight-delays-2'
        """
        cleaned = "".join(c if c.isalnum() else "-" for c in self.name.lower()).strip("-")
        return f"taxiway-{'-'.join(part for part in cleaned.split('-') if part) or 'serve'}"


def systemd_unit(files: ServeFiles) -> str:
    """A template unit ``<slug>@.service``: one replica per instance, the instance is its port.

    Example:
        >>> unit = systemd_unit(ServeFiles("weather", "/srv/weather", "/opt/tw/bin/taxiway"))
        >>> "ExecStart=/opt/tw/bin/taxiway --project /srv/weather serve --host 127.0.0.1 --port %i" in unit
        True
    """
    command = shlex.join(files.serve_args("PORT", "127.0.0.1", "/var/lib/taxiway/targets"))
    command = command.replace("--port PORT", "--port %i")
    return f"""# `taxiway serve --print systemd`: one replica of {files.name} per instance, named by its port.
#   useradd --system taxiway; cp {files.slug}@.service /etc/systemd/system/ && systemctl daemon-reload
#   systemctl enable --now {files.slug}@8001 {files.slug}@8002 {files.slug}@8003
# /etc/taxiway/{files.slug}.env (chmod 600) holds the secrets, e.g.
#   TAXIWAY_STORE_URI=postgresql+psycopg://taxiway:PASSWORD@db.internal/ml
#   TAXIWAY_ARTIFACTS_URI=s3://ml-artifacts/{files.name}
[Unit]
Description=taxiway serve: {files.name} on port %i
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
EnvironmentFile=/etc/taxiway/{files.slug}.env
Environment=NO_COLOR=1
WorkingDirectory={files.root}
ExecStart={command}
# taxiway serve stops on SIGTERM after answering the requests it holds.
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=2
User=taxiway
Group=taxiway
# /var/lib/taxiway/targets: each replica's Prometheus target file (Prometheus reads it: 0755).
StateDirectory=taxiway taxiway/targets
StateDirectoryMode=0755
NoNewPrivileges=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""


def compose_file(files: ServeFiles, *, nginx_site: str) -> str:
    """A Compose file: ``files.replicas`` replicas of the server and nginx in front (its site inline).

    Example:
        >>> text = compose_file(ServeFiles("weather", "/srv/weather"), nginx_site="server {}")
        >>> sorted(yaml.safe_load(text)["services"])
        ['nginx', 'taxiway']
    """
    secrets_to_env = (
        'export TAXIWAY_STORE_URI="$$(cat /run/secrets/store_uri)" '
        'TAXIWAY_ARTIFACTS_URI="$$(cat /run/secrets/artifacts_uri)" && exec '
    )
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{files.port}{HEALTH}')"
    document: dict[str, Any] = {
        "name": files.slug,
        "services": {
            "taxiway": {
                "image": files.image,
                "command": ["sh", "-c", secrets_to_env + shlex.join(files.serve_args(files.port))],
                "secrets": ["store_uri", "artifacts_uri"],
                "environment": {"NO_COLOR": "1"},
                "expose": [str(files.port)],
                "deploy": {"replicas": files.replicas, "restart_policy": {"condition": "on-failure"}},
                "healthcheck": {
                    "test": ["CMD", "python", "-c", probe],
                    "interval": "5s",
                    "timeout": "3s",
                    "retries": 3,
                    "start_period": "60s",
                },
                "stop_signal": "SIGTERM",
                "stop_grace_period": "30s",
            },
            "nginx": {
                "image": "nginx:stable",
                "ports": ["80:80"],
                "configs": [{"source": "taxiway_site", "target": "/etc/nginx/conf.d/default.conf"}],
                "depends_on": {"taxiway": {"condition": "service_healthy"}},
            },
        },
        "configs": {"taxiway_site": {"content": nginx_site}},
        "secrets": {
            "store_uri": {"file": "./secrets/store_uri"},
            "artifacts_uri": {"file": "./secrets/artifacts_uri"},
        },
    }
    header = (
        f"# `taxiway serve --print compose`: {files.replicas} replicas of {files.name} behind nginx.\n"
        "# Put the store and artifact URIs in ./secrets/store_uri and ./secrets/artifacts_uri (chmod 600),\n"
        f"# build {files.image} holding the project in {files.root} (docs/deploying.md); docker compose up.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=110)


def kubernetes_manifests(files: ServeFiles) -> str:
    """A Deployment of ``files.replicas`` replicas and a Service in front, as one multi-document YAML.

    Example:
        >>> docs = list(yaml.safe_load_all(kubernetes_manifests(ServeFiles("weather", "/srv/weather"))))
        >>> [d["kind"] for d in docs]
        ['Deployment', 'Service']
    """
    labels = {"app.kubernetes.io/name": files.slug, "app.kubernetes.io/component": "serve"}
    secret = f"{files.slug}-store"

    def from_secret(name: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": "http"},
            "periodSeconds": period,
            "timeoutSeconds": 3,
            "failureThreshold": failures,
        }

    container = {
        "name": "serve",
        "image": files.image,
        "args": files.serve_args(files.port)[1:],
        "command": [files.executable],
        "ports": [{"name": "http", "containerPort": files.port}],
        "env": [
            from_secret("TAXIWAY_STORE_URI", STORE_SECRET_KEY),
            from_secret("TAXIWAY_ARTIFACTS_URI", ARTIFACTS_SECRET_KEY),
            {"name": "NO_COLOR", "value": "1"},
        ],
        "readinessProbe": probe(HEALTH, 2, 2),
        "livenessProbe": probe(LIVENESS, 10, 3),
        # Loading a model and checking it against stored rows takes seconds on a busy node.
        "startupProbe": probe(LIVENESS, 2, 60),
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": files.slug, "labels": labels},
        "spec": {
            "replicas": files.replicas,
            "selector": {"matchLabels": labels},
            # A new pod must be ready before an old one goes: the fleet never shrinks during a rollout.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(files.port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {"terminationGracePeriodSeconds": 30, "containers": [container]},
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": files.slug, "labels": labels},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    header = (
        f"# `taxiway serve --print kubernetes`: {files.replicas} replicas of {files.name} and a Service.\n"
        f"# kubectl create secret generic {secret} --from-literal={STORE_SECRET_KEY}=postgresql+psycopg://… "
        f"--from-literal={ARTIFACTS_SECRET_KEY}=s3://…\n"
    )
    return header + yaml.safe_dump_all([deployment, service], sort_keys=False, width=110)
