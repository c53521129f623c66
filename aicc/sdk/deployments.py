"""`client.deployments`: model APIs (or commands listening on `$PORT`) kept running. Answers
are the serving context's read models (`services/serving/views.py`), the classes the server's
services return: `get` is a `Deployment`, `list` a `list[Deployment]`."""

from __future__ import annotations

from typing import Any

from aicc.sdk.transport import Resource, api_path, given
from aicc.services.serving.views import Deployment, DeploymentAdapter, DeploymentRevision

Revisions = list[DeploymentRevision]  # a name: inside the class, `list` is the method
Adapters = list[DeploymentAdapter]


class Deployments(Resource):
    def list(self, project: str | None = None) -> list[Deployment]:
        return self._items(Deployment, api_path("deployments"), {"project": project})

    def create(
        self,
        name: str,
        *,
        model: str | None = None,
        command: str | None = None,
        project: str | None = None,
        min_replicas: int = 1,
        max_replicas: int = 1,
        resources: dict[str, Any] | None = None,
        engine: str = "auto",
        env: dict[str, str] | None = None,
        readiness_path: str = "/health",
        workdir_sha256: str | None = None,
        target_concurrency: float | None = None,
        image: str | None = None,
    ) -> Deployment:
        """Deploy a model version (`NAME@N`, `NAME` for the latest) or a command; `image`:
        what its replicas run in."""
        body = given(
            name=name,
            model=model,
            command=command,
            project=project,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            resources=resources,
            engine=engine,
            env=env,
            readiness_path=readiness_path,
            workdir_sha256=workdir_sha256,
            target_concurrency=target_concurrency,
            image=image,
        )
        return self._one(Deployment, "POST", api_path("deployments"), json=body)

    def get(self, name: str, project: str | None = None) -> Deployment:
        path = api_path("deployments", name)
        return self._one(Deployment, "GET", path, params={"project": project})

    def update(self, name: str, project: str | None = None, **changes: Any) -> Deployment:
        """A new revision: `model=`, `command=`, `resources=`, `env=`, `engine=`..."""
        path = api_path("deployments", name)
        return self._one(
            Deployment, "PATCH", path, params={"project": project}, json=given(**changes)
        )

    def revisions(self, name: str, project: str | None = None) -> Revisions:
        """Every revision, newest first."""
        path = api_path("deployments", name, "revisions")
        return self._each(DeploymentRevision, "GET", path, params={"project": project})

    def rollback(self, name: str, project: str | None = None) -> Deployment:
        return self._action(name, "rollback", project)

    def scale(
        self,
        name: str,
        *,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
        target_concurrency: float | None = None,
        project: str | None = None,
    ) -> Deployment:
        """New bounds, and the requests in flight per replica the autoscaler aims for."""
        path = api_path("deployments", name, "scale")
        body = given(
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            target_concurrency=target_concurrency,
        )
        return self._one(Deployment, "POST", path, params={"project": project}, json=body)

    def stop(self, name: str, project: str | None = None) -> Deployment:
        return self._action(name, "stop", project)

    def start(self, name: str, project: str | None = None) -> Deployment:
        return self._action(name, "start", project)

    def delete(self, name: str, project: str | None = None) -> None:
        self._t.call("DELETE", api_path("deployments", name), params={"project": project})

    def adapters(self, name: str, project: str | None = None) -> Adapters:
        """The LoRA adapters the deployment serves (`DEPLOYMENT:NAME`), by name."""
        path = api_path("deployments", name, "adapters")
        return self._each(DeploymentAdapter, "GET", path, params={"project": project})

    def attach(
        self,
        name: str,
        model: str,
        *,
        adapter: str | None = None,
        alias: str | None = None,
        project: str | None = None,
    ) -> DeploymentAdapter:
        """Serve the adapter model version `model` on the deployment as `NAME:ADAPTER` (the
        model's name by default) and as `alias` alone."""
        body = given(model=model, name=adapter, alias=alias)
        path = api_path("deployments", name, "adapters")
        return self._one(DeploymentAdapter, "POST", path, json=body, params={"project": project})

    def detach(self, name: str, adapter: str, project: str | None = None) -> None:
        """Stop serving the adapter."""
        path = api_path("deployments", name, "adapters", adapter)
        self._t.call("DELETE", path, params={"project": project})

    def _action(self, name: str, action: str, project: str | None) -> Deployment:
        path = api_path("deployments", name, action)
        return self._one(Deployment, "POST", path, params={"project": project})
