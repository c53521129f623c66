"""AICC as the registry's token server: which actions a caller gets on each repository it asks
for, and the signed JWT the registry believes (Distribution's token authentication).

The registry itself answers 401/403 to a token without the action it needs, so a refusal here
is an empty `actions`, never an error: the answer of a scope on another tenant's private
repository is the same as on one that does not exist.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core import images as refs
from aicc.core.tenancy import Principal, Scope, allows, can_read, can_write
from aicc.services.common import Invalid
from aicc.services.images.keys import SigningKey
from aicc.services.tenancy import directory
from aicc.store.tables.images import ImageBlobRow, ImageRepositoryRow

ISSUER = "aicc"
MAX_SCOPES = 32  # a client asks for one or two; more is a probe
WRITES = (Scope.DATA, Scope.JOBS)  # a token with one of these pushes (images are built by jobs)
PULL_CREDENTIAL = "aicc_pull"  # the claim that marks a job's pull-only credential


@dataclass(frozen=True)
class Access:
    """One entry of the JWT's `access` claim."""

    type: str
    name: str
    actions: tuple[str, ...]

    def claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


@dataclass(frozen=True)
class Owner:
    """The project a repository path belongs to, and the repository's visibility (`private`
    until its first push made the row)."""

    org_id: str
    project_id: str
    visibility: str


def owner(session: Session, repository: str) -> Owner | None:
    """Whose `ORG/PROJECT/NAME` is, by the lowercase names of an organization and its project."""
    parts = repository.split("/")
    if len(parts) < 3:
        return None
    found = directory.project_named_lower(session, parts[0], parts[1])
    if found is None:
        return None
    visibility = session.scalar(
        select(ImageRepositoryRow.visibility).where(
            ImageRepositoryRow.project_id == found.id,
            ImageRepositoryRow.name == "/".join(parts[2:]),
        )
    )
    return Owner(found.org_id, found.id, visibility or "private")


def may_pull(who: Principal | None, found: Owner) -> bool:
    """Members of the project; the organization's members where it is shared with them;
    anybody, signed in or not, where it is public."""
    if found.visibility == "public":
        return True
    if who is None:
        return False
    if can_read(who, org_id=found.org_id, project_id=found.project_id):
        return True
    return found.visibility == "org" and who.org_id == found.org_id


def may_write(who: Principal | None, found: Owner) -> bool:
    """Push and delete: a member (not a viewer) of the project, with a token that writes."""
    return (
        who is not None
        and can_write(who, org_id=found.org_id, project_id=found.project_id)
        and any(allows(who.scopes, scope) for scope in WRITES)
    )


QUOTA_KEY = "storage_gib"  # the quota key data sets' storage uses too (`max`)


def _image_bytes(session: Session, where: Any) -> int:
    held = (
        select(ImageBlobRow.blob_digest, ImageBlobRow.size_bytes, ImageRepositoryRow.project_id)
        .distinct()
        .join(ImageRepositoryRow, ImageRepositoryRow.id == ImageBlobRow.repository_id)
        .where(where)
        .subquery()
    )
    return int(session.scalar(select(func.coalesce(func.sum(held.c.size_bytes), 0))) or 0)


def has_room(session: Session, found: Owner) -> bool:
    """Whether the project and its organization are under their `storage_gib` max in images
    (the registry cannot stop a push half-way: a project at its limit gets no push token, and
    one push may take it past by its own size)."""
    for row, where in (
        (
            directory.project(session, found.project_id),
            ImageRepositoryRow.project_id == found.project_id,
        ),
        (
            directory.org(session, found.org_id),
            ImageRepositoryRow.project_id.in_(directory.project_ids(org_id=found.org_id)),
        ),
    ):
        limit = row.quota.max.get(QUOTA_KEY) if row is not None else None
        if limit is not None and _image_bytes(session, where) >= float(limit) * 1024**3:
            return False
    return True


def allowed(session: Session, who: Principal | None, asked: refs.ScopeRequest) -> Access:
    """The actions of `asked` this caller may do (possibly none)."""
    if who is not None and who.is_admin:  # the center's operators: all their token may
        writes = any(allows(who.scopes, scope) for scope in WRITES)
        return Access(
            asked.type, asked.name, tuple(a for a in asked.actions if writes or a == "pull")
        )
    if asked.type != "repository":
        return Access(asked.type, asked.name, ())
    found = owner(session, asked.name)
    if found is None:
        return Access(asked.type, asked.name, ())
    pull, write = may_pull(who, found), may_write(who, found)
    push = write and "push" in asked.actions and has_room(session, found)
    given = tuple(
        a
        for a in asked.actions
        if (a == "pull" and pull) or (a == "push" and push) or (a == "delete" and write)
    )
    return Access(asked.type, asked.name, given)


def grant(session: Session, who: Principal | None, scopes: list[str]) -> list[Access]:
    """What each `scope` of a token request grants; a malformed scope is a 422 naming it."""
    if len(scopes) > MAX_SCOPES:
        raise Invalid("scope: at most {n} scopes in one request", n=MAX_SCOPES)
    try:
        asked = [refs.parse_scope(s) for s in scopes]
    except refs.BadReference as err:
        raise Invalid("{problem}", problem=str(err)) from None
    return [allowed(session, who, a) for a in asked]


@dataclass(frozen=True)
class Issued:
    token: str
    expires_in: int
    issued_at: datetime


def issue(
    key: SigningKey,
    *,
    service: str,
    subject: str,
    access: list[Access],
    ttl_s: int,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> Issued:
    """A JWT the registry of `service` accepts: signed with ES256, `kid` the libtrust id of the
    key in the registry's certificate bundle."""
    at = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": subject,
        "aud": service,
        "iat": at,
        "nbf": at - 5,  # the registry's clock may be a little behind
        "exp": at + ttl_s,
        "jti": secrets.token_urlsafe(16),
        "access": [a.claim() for a in access],
        **(extra or {}),
    }
    header = {"alg": "ES256", "typ": "JWT", "kid": key.kid}
    token = jwt.encode(header, claims, ECKey.import_key(key.private_pem), algorithms=["ES256"])
    return Issued(token, ttl_s, now)


def verify(key: SigningKey, token: str, *, service: str, now: datetime) -> dict[str, Any] | None:
    """The claims of a token this server issued for `service` that has not expired; else None."""
    try:
        decoded = jwt.decode(token, ECKey.import_key(key.private_pem), algorithms=["ES256"])
    except (JoseError, ValueError):
        return None
    claims = decoded.claims
    if claims.get("iss") != ISSUER or claims.get("aud") != service:
        return None
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now.timestamp():
        return None
    return dict(claims)


def narrowed(credential: dict[str, Any], asked: list[refs.ScopeRequest]) -> list[Access]:
    """What a pull credential grants of `asked`: only pull, only on its own repositories."""
    held = {
        a.get("name"): set(a.get("actions") or ())
        for a in credential.get("access") or ()
        if isinstance(a, dict) and a.get("type") == "repository"
    }
    return [
        Access(
            s.type, s.name, tuple(a for a in s.actions if a == "pull" and a in held.get(s.name, ()))
        )
        for s in asked
    ]
