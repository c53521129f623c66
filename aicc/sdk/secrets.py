"""`client.secrets`: values injected into jobs as environment, never read back; what comes back
is `aicc.services.tenancy.views.Secret`, names and dates."""

from __future__ import annotations

import builtins

from aicc.sdk.transport import Json, Resource, api_path
from aicc.services.tenancy.views import Secret


class Secrets(Resource):
    def list(self, project: str | None = None) -> builtins.list[Secret]:
        return self._items(Secret, api_path("secrets"), {"project": project})

    def set(self, name: str, value: str, project: str | None = None) -> Secret:
        """Create or replace; the answer never contains the value."""
        path = api_path("secrets", name)
        return self._one(Secret, "PUT", path, params={"project": project}, json={"value": value})

    def delete(self, name: str, project: str | None = None) -> Json:
        return self._t.call("DELETE", api_path("secrets", name), params={"project": project})
