"""A deployment for the gateway's tests and benchmark: `upstream.py` (a small real
OpenAI-shaped program) deployed through the deployments API, as a tenant would, and returned
once every replica is ready; and a replica killed as a crash would kill it."""

from __future__ import annotations

import json
import os
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from aicc.testing import upstream
from aicc.testing.polling import wait


class _Api(Protocol):
    def post(self, url: str, **kwargs: Any) -> httpx.Response: ...

    def get(self, url: str, **kwargs: Any) -> httpx.Response: ...


@dataclass(frozen=True)
class Deployment:
    id: str
    name: str
    project_id: str
    jobs: list[str]


def deploy(
    api: _Api,
    name: str,
    *,
    replicas: int = 1,
    env: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    project: str | None = None,
    timeout: float = 90,
) -> Deployment:
    """Deployment `name` of `replicas` upstreams (their environment `env`: `UPSTREAM_DELAY_S`,
    `UPSTREAM_DIE_AFTER`...), every replica ready when this returns."""
    body: dict[str, Any] = {
        "name": name,
        "command": shlex.join(upstream.command()),
        "env": env or {},
        "min_replicas": replicas,
        "max_replicas": replicas,
        "resources": {"cpu": 0.1, "memory": "128MiB"},  # many fit on a test machine
        **({"project": project} if project else {}),
    }
    made = api.post("/api/v1/deployments", json=body, headers=headers or {})
    assert made.status_code == 201, made.text
    params = {"project": project} if project else {}

    def ready() -> dict[str, Any] | None:
        found = api.get(f"/api/v1/deployments/{name}", params=params, headers=headers or {})
        shown = found.json()
        live = [r for r in shown["replicas"] if r["ready"]]
        return shown if shown["state"] == "ready" and len(live) == replicas else None

    shown = wait(f"deployment {name} to be ready", ready, timeout=timeout)
    jobs = [r["job_id"] for r in shown["replicas"]]
    return Deployment(shown["id"], name, shown["project_id"], jobs)


def kill_replica(home: Path, job_id: str) -> None:
    """SIGKILL a local replica's process group, as a crash or the OOM killer would."""
    (status,) = (home / "runs" / job_id).glob("*/*/status.json")
    os.killpg(int(json.loads(status.read_text())["pid"]), signal.SIGKILL)
