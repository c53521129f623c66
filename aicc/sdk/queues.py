"""`client.queues`: a project's lanes for jobs, as `aicc.services.tenancy.views.Queue`."""

from __future__ import annotations

import builtins

from aicc.sdk.transport import Resource, api_path, given
from aicc.services.jobs.views import ProjectSlowdown
from aicc.services.tenancy.views import Queue


class Queues(Resource):
    def list(self, project: str | None = None) -> builtins.list[Queue]:
        return self._items(Queue, api_path("queues"), {"project": project})

    def slowdown(
        self, project: str | None = None, window_s: int | None = None
    ) -> builtins.list[ProjectSlowdown]:
        """Per project, the mean and p95 slowdown of the jobs finished in the window."""
        query = {"project": project, "window_s": window_s}
        return self._items(ProjectSlowdown, api_path("queues", "slowdown"), query)

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
    ) -> Queue:
        body = given(
            name=name,
            project=project,
            priority=priority,
            max_runtime=max_runtime,
            max_pending=max_pending,
            max_running=max_running,
            max_replicas_per_job=max_replicas_per_job,
        )
        return self._one(Queue, "POST", api_path("queues"), json=body)
