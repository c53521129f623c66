"""`client.keys`: API keys to a project's deployments through the gateway (`/v1`); a secret is
shown once, when it is made. `client.requests`: the gateway's request log. Answers are the
serving context's read models (`services/serving/views.py`): `ApiKey`, `GatewayRequest`."""

from __future__ import annotations

from collections.abc import Sequence

from aicc.sdk.transport import Resource, api_path, given
from aicc.services.serving.views import ApiKey, GatewayRequest


class Keys(Resource):
    def list(self, project: str | None = None, revoked: bool = False) -> list[ApiKey]:
        params = {"project": project, "revoked": "true" if revoked else None}
        return self._items(ApiKey, api_path("keys"), params)

    def create(
        self,
        name: str,
        deployments: Sequence[str] | None = None,
        rpm: int | None = None,
        tokens_per_month: int | None = None,
        project: str | None = None,
        tier: int | None = None,
    ) -> ApiKey:
        """The answer carries `secret` (`aicc-sk-...`): the only time the server shows it."""
        body = given(
            name=name,
            deployments=list(deployments) if deployments else None,
            rpm=rpm,
            tokens_per_month=tokens_per_month,
            tier=tier,
        )
        path = api_path("keys")
        return self._one(ApiKey, "POST", path, params={"project": project}, json=body)

    def revoke(self, ref: str, project: str | None = None) -> ApiKey:
        """By id or name; the gateway refuses it within `gateway.key_cache_s` seconds."""
        return self._one(ApiKey, "DELETE", api_path("keys", ref), params={"project": project})


class Requests(Resource):
    def list(
        self, deployment: str | None = None, project: str | None = None, limit: int = 100
    ) -> list[GatewayRequest]:
        """The latest requests through the gateway, newest first."""
        params = {"deployment": deployment, "project": project, "limit": limit}
        return self._each(GatewayRequest, "GET", api_path("requests"), params=params)
