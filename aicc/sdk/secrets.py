"""`client.secrets`: values injected into jobs as environment, never read back."""

from __future__ import annotations

from aicc.sdk.transport import Json, Resource, api_path


class Secrets(Resource):
    def list(self, project: str | None = None) -> Json:
        return self._t.pages(api_path("secrets"), {"project": project})

    def set(self, name: str, value: str, project: str | None = None) -> Json:
        """Create or replace; the answer never contains the value."""
        path = api_path("secrets", name)
        return self._t.call("PUT", path, params={"project": project}, json={"value": value})

    def delete(self, name: str, project: str | None = None) -> Json:
        return self._t.call("DELETE", api_path("secrets", name), params={"project": project})
