"""API tokens: random secrets shown once, stored as SHA-256 digests, with expiry and revocation."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, Scope, can_manage_user
from aicc.services.common import Invalid, NotFound, new_id, utcnow
from aicc.services.tenancy import audit
from aicc.services.tenancy.tenancy import principal_of
from aicc.services.tenancy.views import Token
from aicc.store.tables.tenancy import TokenRow, UserRow

PREFIX = "aicc_"
# The tables whose rows decide who a token stands for: a write to one outdates a server's cache.
SHAPES_A_CALLER = {"tokens", "users", "memberships", "projects", "orgs"}
_SCOPES = frozenset(scope.value for scope in Scope)


def digest(secret: str) -> str:
    """What is stored of a token's or a portal session's secret (sessions.py). Both carry 256
    random bits, so a fast hash is enough; a slow one would tax every call."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(
    session: Session,
    who: Principal | None,
    *,
    user_id: str,
    name: str,
    expires_in_days: int | None = None,
    scopes: list[Scope] | None = None,
) -> tuple[Token, str]:
    """A new token for a user; the secret is returned here and never again. `scopes` limit
    what it may do (none given: `all`, whatever its user may)."""
    user = session.get(UserRow, user_id)
    if who is not None and (
        user is None or not can_manage_user(who, user_id=user.id, org_id=user.org_id)
    ):
        raise NotFound("user {user_id} not found", user_id=user_id)
    if user is None:
        raise NotFound("user {user_id} not found", user_id=user_id)
    if expires_in_days is not None and expires_in_days <= 0:
        raise Invalid("expires_in_days: must be positive")
    granted = sorted(set(scopes or [Scope.ALL]))
    if Scope.ALL in granted and len(granted) > 1:
        raise Invalid("scopes: `all` already covers every other scope; give it alone")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = TokenRow(
        id=new_id("tok"),
        user_id=user.id,
        name=name,
        secret_hash=digest(secret),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        scopes=[str(scope) for scope in granted],
    )
    session.add(row)
    session.flush()
    detail = {"scopes": row.scopes}
    audit.record(session, who, "token.create", "token", row.id, org_id=user.org_id, detail=detail)
    return Token.model_validate(row, from_attributes=True), secret


def usable(row: Token | TokenRow | None, now: datetime) -> bool:
    """Neither revoked nor expired (the token's user may still be disabled)."""
    return (
        row is not None
        and row.revoked_at is None
        and (row.expires_at is None or row.expires_at > now)
    )


@dataclass(frozen=True)
class Caller:
    """Who a token stands for, and until when (a server keeps this a few seconds)."""

    who: Principal
    expires_at: datetime | None

    def valid(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


def find(session: Session, secret: str) -> Token | None:
    """The usable token with this secret, whose user is enabled; else None."""
    return _find(session, digest(secret))


def _find(session: Session, secret_hash: str) -> Token | None:
    row = session.scalar(select(TokenRow).where(TokenRow.secret_hash == secret_hash))
    if row is None or not usable(row, utcnow()):
        return None
    user = session.get(UserRow, row.user_id)
    return (
        Token.model_validate(row, from_attributes=True)
        if user is not None and not user.disabled
        else None
    )


def authenticate(session: Session, secret_hash: str) -> tuple[Caller | None, str | None]:
    """Who is behind the token with this `digest` (None if unknown, expired, revoked or
    disabled), and the token's id when its `last_used_at` is over a minute old and should be
    `touch`ed."""
    row = _find(session, secret_hash)
    if row is None:
        return None, None
    user = session.get(UserRow, row.user_id)
    assert user is not None
    stale = row.last_used_at is None or utcnow() - row.last_used_at > timedelta(minutes=1)
    who = principal_of(session, user)
    scopes = frozenset(Scope(s) for s in row.scopes if s in _SCOPES)
    caller = Caller(replace(who, scopes=scopes or frozenset({Scope.READ})), row.expires_at)
    return caller, row.id if stale else None


def touch(session: Session, token_id: str) -> None:
    """Record use coarsely (once a minute), so reads do not turn every request into a write."""
    row = session.get(TokenRow, token_id)
    if row is not None:
        row.last_used_at = utcnow()


def list_tokens(session: Session, who: Principal) -> list[Token]:
    query = select(TokenRow).where(TokenRow.user_id == who.user_id).order_by(TokenRow.created_at)
    return [Token.model_validate(row, from_attributes=True) for row in session.scalars(query)]


def revoke(session: Session, who: Principal, token_id: str) -> Token:
    row = session.get(TokenRow, token_id)
    user = session.get(UserRow, row.user_id) if row else None
    if row is None or user is None or not can_manage_user(who, user_id=user.id, org_id=user.org_id):
        raise NotFound("token {token_id} not found", token_id=token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, who, "token.revoke", "token", row.id, org_id=user.org_id)
    return Token.model_validate(row, from_attributes=True)
