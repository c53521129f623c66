"""`client.tokens`: API tokens as `aicc.services.tenancy.views.Token`; a secret is shown once,
when it is made."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from aicc.sdk.transport import Resource, api_path, given
from aicc.services.tenancy.views import Token


class Tokens(Resource):
    def list(self) -> builtins.list[Token]:
        return self._items(Token, api_path("tokens"))

    def create(
        self,
        name: str,
        expires_in_days: int | None = None,
        user_id: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> Token:
        """The answer carries `secret`: the only time the server ever shows it. `scopes`
        (`read`, `jobs`, `data`, `deployments`) limit it; none: whatever its user may."""
        scoped = list(scopes) if scopes else None
        body = given(name=name, expires_in_days=expires_in_days, user_id=user_id, scopes=scoped)
        return self._one(Token, "POST", api_path("tokens"), json=body)

    def revoke(self, token_id: str) -> Token:
        return self._one(Token, "DELETE", api_path("tokens", token_id))
