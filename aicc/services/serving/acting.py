"""Who an API key acts as on OpenAI's object routes (`/v1/files`, `/v1/batches`,
`/v1/fine_tuning/jobs`): the person who made the key, narrowed to the key's project as a member.
So the native API's rules apply as they are (another project's object is a 404, a write is
audited under that person's name with the key's), and a key never reaches beyond its project,
whatever its maker's role."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, Role
from aicc.services.common import NotFound
from aicc.services.serving import gateway as gw
from aicc.services.tenancy import directory
from aicc.store.tables.serving import ApiKeyRow


def principal(session: Session, key_id: str, *, revoked: bool = False) -> Principal:
    """The key's caller; a key revoked since the gateway read it is a NotFound (unless
    `revoked`: a batch it started still writes its results)."""
    key = session.get(ApiKeyRow, key_id)
    if key is None or (key.revoked_at is not None and not revoked):
        raise NotFound("invalid or revoked API key")
    user = directory.user(session, key.created_by)
    name = user.name if user is not None else key.created_by
    return Principal(
        user_id=key.created_by,
        name=f"{name} (API key {key.name})",
        org_id=key.org_id,
        role=Role.MEMBER,
        project_ids=frozenset({key.project_id}),
        default_project_id=key.project_id,
    )


def grant(session: Session, key_id: str, *, now: datetime, zone: str) -> gw.Grant | None:
    """The gateway's grant of key `key_id` (None: revoked), for requests the server sends on
    the key's behalf (a batch's lines): limited, routed and metered as the key's own."""
    key = session.get(ApiKeyRow, key_id)
    return None if key is None else gw.grant(session, key.secret_hash, now=now, zone=zone)
