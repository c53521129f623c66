"""S3 access keys: a user's credentials for the S3 endpoint (`/s3`, docs/interop.md).

A key acts as its user, for reads only unless it was made `writable`: what the user may read
through the API, the key reads through S3; a writable key also writes new versions of the data
sets its user may push to (the `data` scope: `services/data/s3writes.py`), and only a user who
may write data (a member, through a token that may) makes one. AWS Signature Version 4 signs
each request with the secret itself, so unlike a token's the secret cannot be kept as a digest:
it is sealed with the server's key (`store/sealing.py`, as project secrets and channel secrets
are) and opened to check a signature. It is shown once, when the key is made.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, Role, Scope, allows, can_manage_user
from aicc.services.common import Forbidden, Invalid, NotFound, new_id, utcnow
from aicc.services.tenancy import audit
from aicc.services.tenancy.tenancy import principal_of
from aicc.services.tenancy.views import S3Key
from aicc.store.sealing import Sealer
from aicc.store.tables.tenancy import S3KeyRow, UserRow

PREFIX = "AKAICC"  # an access key id: 20 characters, as AWS's, recognizably AICC's
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
MAX_KEYS = 20  # per user: a key is a credential to keep track of, not a session


def _access_key_id() -> str:
    return PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(14))


def issue(
    session: Session, who: Principal, *, sealer: Sealer, name: str, writable: bool = False
) -> tuple[S3Key, str]:
    """A new key for the caller; the secret is returned here and never again. A `writable` key
    is refused (403) to a viewer and through a token that may not write data: a key never does
    more than the credentials that made it."""
    user = session.get(UserRow, who.user_id)
    if user is None:  # the center's bootstrap principal has no user row
        raise Invalid("S3 keys belong to a user; sign in as one")
    if writable and (who.role.rank < Role.MEMBER.rank or not allows(who.scopes, Scope.DATA)):
        raise Forbidden(
            "a writable S3 key needs a member's rights to write data; make a read-only key"
        )
    held = session.scalars(select(S3KeyRow.id).where(S3KeyRow.user_id == user.id)).all()
    if len(held) >= MAX_KEYS:
        raise Invalid(
            "you hold {count} S3 keys, the most one user may; delete one first", count=len(held)
        )
    secret = secrets.token_urlsafe(30)  # 40 characters, as AWS's secret access keys
    row = S3KeyRow(
        id=new_id("s3k"),
        user_id=user.id,
        name=name,
        access_key_id=_access_key_id(),
        sealed_secret=sealer.seal(secret),
        created_at=utcnow(),
        last_used_at=None,
        writable=writable,
    )
    session.add(row)
    session.flush()
    detail = {"access_key_id": row.access_key_id, "writable": writable}
    audit.record(session, who, "s3_key.create", "s3_key", row.id, org_id=user.org_id, detail=detail)
    return S3Key.model_validate(row, from_attributes=True), secret


def list_keys(session: Session, who: Principal) -> list[S3Key]:
    """The caller's own keys, never their secrets."""
    query = select(S3KeyRow).where(S3KeyRow.user_id == who.user_id).order_by(S3KeyRow.created_at)
    return [S3Key.model_validate(row, from_attributes=True) for row in session.scalars(query)]


def delete(session: Session, who: Principal, key_id: str) -> None:
    """Delete a key at once: the caller's own, or (an org admin) one of their organization's
    users'. Anyone else's is a 404."""
    row = session.get(S3KeyRow, key_id)
    user = session.get(UserRow, row.user_id) if row else None
    if row is None or user is None or not can_manage_user(who, user_id=user.id, org_id=user.org_id):
        raise NotFound("S3 key {key_id} not found", key_id=key_id)
    detail = {"access_key_id": row.access_key_id}
    session.delete(row)
    audit.record(session, who, "s3_key.delete", "s3_key", key_id, org_id=user.org_id, detail=detail)


@dataclass(frozen=True)
class Holder:
    """Who an access key stands for (reads, and data writes for a writable key), and the secret
    that signs its requests."""

    who: Principal
    secret: str
    key_id: str
    stale: bool  # its `last_used_at` is over a minute old: `touch` it


def holder(session: Session, sealer: Sealer, access_key_id: str) -> Holder | None:
    """The key with this id and its enabled user; None for an unknown key or a disabled user."""
    row = session.scalar(select(S3KeyRow).where(S3KeyRow.access_key_id == access_key_id))
    user = session.get(UserRow, row.user_id) if row else None
    if row is None or user is None or user.disabled:
        return None
    who = principal_of(session, user)
    reader = replace(who, scopes=frozenset({Scope.DATA if row.writable else Scope.READ}))
    stale = row.last_used_at is None or utcnow() - row.last_used_at > timedelta(minutes=1)
    return Holder(reader, sealer.open(row.sealed_secret), row.id, stale)


def touch(session: Session, key_id: str) -> None:
    """Record use coarsely (once a minute), so reads do not turn every request into a write."""
    row = session.get(S3KeyRow, key_id)
    if row is not None:
        row.last_used_at = utcnow()
