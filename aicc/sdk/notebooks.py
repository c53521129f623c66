"""`client.notebooks`: a person's JupyterLab in a project, opened in the browser through the
server at `url` (docs/notebooks.md). Answers are the jobs context's read model
(`services/jobs/views.py`): a `Notebook`, or a `list[Notebook]`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aicc.sdk.transport import Json, Resource, api_path
from aicc.services.jobs.views import Notebook


class Notebooks(Resource):
    def list(self, project: str | None = None) -> list[Notebook]:
        """Your notebooks (in one project, or all of yours)."""
        return self._items(Notebook, api_path("notebooks"), {"project": project})

    def create(
        self,
        name: str,
        *,
        project: str | None = None,
        resources: dict[str, Any] | None = None,
        idle_timeout_s: int | None = None,
        datasets: Sequence[str] | None = None,
        start: bool = True,
        image: str | None = None,
    ) -> Notebook:
        """Create a notebook and start it (unless `start` is false). `resources` as a job
        spec's (`cpu`, `memory`, `gpu`); `datasets`: names to mount, None for all the
        project's; `image`: what it runs in (with JupyterLab)."""
        body: dict[str, Any] = {"name": name, "start": start}
        optional: dict[str, Any] = {"project": project, "resources": resources}
        optional |= {"idle_timeout_s": idle_timeout_s, "image": image}
        optional["datasets"] = list(datasets) if datasets is not None else None
        body.update({k: v for k, v in optional.items() if v is not None})
        return self._one(Notebook, "POST", api_path("notebooks"), json=body)

    def get(self, notebook: str, project: str | None = None) -> Notebook:
        path = api_path("notebooks", notebook)
        return self._one(Notebook, "GET", path, params={"project": project})

    def start(self, notebook: str, project: str | None = None) -> Notebook:
        path = api_path("notebooks", notebook, "start")
        return self._one(Notebook, "POST", path, params={"project": project})

    def stop(self, notebook: str, project: str | None = None) -> Notebook:
        path = api_path("notebooks", notebook, "stop")
        return self._one(Notebook, "POST", path, params={"project": project})

    def delete(self, notebook: str, project: str | None = None) -> Json:
        path = api_path("notebooks", notebook)
        return self._t.call("DELETE", path, params={"project": project})

    def url(self, notebook: str, project: str | None = None) -> str | None:
        """The address to open in a browser signed in to the portal, while it runs."""
        found = self.get(notebook, project=project)
        return f"{self._t.server.rstrip('/')}{found.url}" if found.url else None
