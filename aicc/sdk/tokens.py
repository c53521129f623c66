"""`client.tokens`: API tokens; a secret is shown once, when it is made."""

from __future__ import annotations

from collections.abc import Sequence

from aicc.sdk.transport import Json, Resource, api_path, given


class Tokens(Resource):
    def list(self) -> Json:
        return self._t.pages(api_path("tokens"))

    def create(
        self,
        name: str,
        expires_in_days: int | None = None,
        user_id: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> Json:
        """The answer carries `secret`: the only time the server ever shows it. `scopes`
        (`read`, `jobs`, `data`, `deployments`) limit it; none: whatever its user may."""
        scoped = list(scopes) if scopes else None
        body = given(name=name, expires_in_days=expires_in_days, user_id=user_id, scopes=scoped)
        return self._t.call("POST", api_path("tokens"), json=body)

    def revoke(self, token_id: str) -> Json:
        return self._t.call("DELETE", api_path("tokens", token_id))
