"""`client.queues`: a project's lanes for jobs."""

from __future__ import annotations

from aicc.sdk.transport import Json, Resource, api_path, given


class Queues(Resource):
    def list(self, project: str | None = None) -> Json:
        return self._t.pages(api_path("queues"), {"project": project})

    def create(
        self,
        name: str,
        project: str | None = None,
        *,
        priority: int | str | None = None,
        max_runtime: int | str | None = None,
        max_pending: int | None = None,
        max_running: int | None = None,
        max_replicas_per_job: int | None = None,
    ) -> Json:
        body = given(
            name=name,
            project=project,
            priority=priority,
            max_runtime=max_runtime,
            max_pending=max_pending,
            max_running=max_running,
            max_replicas_per_job=max_replicas_per_job,
        )
        return self._t.call("POST", api_path("queues"), json=body)
