"""Single sign-on, what the claims mean here: who the person is, their organization and role.

A person is linked to a user by the provider's issuer and subject (`user_identities`), never
by an e-mail address or a name: whoever controls a name or an address at the provider must not
become the local user who has it. The first sign-in creates the user, named by the configured
claim (`alice`, or `alice-2` when the name is taken). The claim mapping
(`oidc.rules`, the first rule that matches) decides the organization and role at every sign-in,
so a person moved to another group at the provider has the new ones the next time; a person
no rule maps is refused, or joins `default_org` as a member when `unmapped: member`.

The protocol (redirects, tokens, signatures) is `services.oidc`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aicc.config import OidcSettings
from aicc.core.tenancy import Role
from aicc.services.common import Forbidden, new_id
from aicc.services.tenancy import audit, sessions, tenancy
from aicc.services.tenancy.sessions import Started
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import MembershipRow, OrgRow, ProjectRow, UserIdentityRow, UserRow

_NOT_NAME = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class Mapped:
    """Where the claims put a person: an organization's name and a role."""

    org: str
    role: Role


def _holds(value: Any, wanted: str) -> bool:
    if isinstance(value, list | tuple):
        return any(str(v) == wanted for v in value)
    return value is not None and str(value) == wanted


def mapping(settings: OidcSettings, claims: Mapping[str, Any]) -> Mapped | None:
    """The organization and role the claims give, by the first rule that matches; the default
    organization as member for anyone else when `unmapped: member`; None: refused."""
    for rule in settings.rules:
        if _holds(claims.get(rule.claim or settings.groups_claim), rule.value):
            return Mapped(rule.org, Role(rule.role))
    if settings.unmapped == "member":
        return Mapped(settings.default_org, Role.MEMBER)
    return None


def user_name(settings: OidcSettings, claims: Mapping[str, Any]) -> str:
    """A valid user name from the configured claim (then the e-mail's local part, then the
    subject): lower case, letters, digits, `.`, `_` and `-`, at most 64 characters."""
    for candidate in (claims.get(settings.username_claim), claims.get("email"), claims["sub"]):
        if not isinstance(candidate, str) or not candidate.strip():
            continue
        text = candidate.strip().lower()
        if "@" in text:
            text = text.split("@", 1)[0]
        text = _NOT_NAME.sub("-", text).strip("._-")[:56].strip("._-")
        if text:
            return text
    return "user"


def _free_name(session: Session, wanted: str) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`...: the first no user has."""
    taken = set(
        session.scalars(
            select(UserRow.name).where((UserRow.name == wanted) | UserRow.name.like(f"{wanted}-%"))
        )
    )
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted}-{n}"
    return name


def _org(session: Session, name: str, provider: str) -> OrgRow:
    org = session.scalar(select(OrgRow).where(OrgRow.name == name))
    if org is None:
        raise Forbidden(
            "your {provider} account maps to organization {org}, which does not exist here; "
            "ask the center's operators to create it",
            provider=provider,
            org=name,
        )
    return org


def _move(session: Session, user: UserRow, org: OrgRow) -> None:
    """Put the user in another organization: out of the old one's projects, into the new
    one's default project."""
    old_projects = select(ProjectRow.id).where(ProjectRow.org_id == user.org_id)
    session.execute(
        delete(MembershipRow).where(
            MembershipRow.user_id == user.id, MembershipRow.project_id.in_(old_projects)
        )
    )
    default = session.scalar(
        select(ProjectRow).where(ProjectRow.org_id == org.id, ProjectRow.name == tenancy.DEFAULT)
    )
    user.org_id = org.id
    user.default_project_id = default.id if default is not None else None
    if default is not None:
        session.add(MembershipRow(user_id=user.id, project_id=default.id))


def sign_in(
    session: Session,
    settings: OidcSettings,
    claims: Mapping[str, Any],
    *,
    client: str,
    now: datetime,
    language: str | None = None,
) -> Started:
    """A portal session for the person whose verified `claims` the provider gave: their user
    created or updated to the mapping. Raises Forbidden for a person no rule maps, a mapped
    organization that does not exist, or a disabled user. Audited: the sign-in, and the
    user's creation, linking and changes."""
    assert settings.issuer is not None
    label, subject = settings.label, str(claims["sub"])
    mapped = mapping(settings, claims)
    if mapped is None:
        raise Forbidden(
            "your {provider} account is not given any organization here; ask the center's "
            "operators to map one of your groups",
            provider=label,
        )
    org = _org(session, mapped.org, label)
    identity = session.scalar(
        select(UserIdentityRow).where(
            UserIdentityRow.issuer == settings.issuer, UserIdentityRow.subject == subject
        )
    )
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    if identity is None:
        user = _link(session, settings, claims, mapped, org, email=email, now=now)
    else:
        user = _update(session, identity, mapped, org, email=email, now=now)
    session.flush()
    secret, _ = sessions.start(session, user, client=client, now=now)
    if language is not None:
        user.language = language
    who = principal_of(session, user)
    audit.record(
        session, who, "portal.sign_in", "user", user.id, detail={"by": "oidc", "provider": label}
    )
    return Started(secret, who)


def _link(
    session: Session,
    settings: OidcSettings,
    claims: Mapping[str, Any],
    mapped: Mapped,
    org: OrgRow,
    *,
    email: str | None,
    now: datetime,
) -> UserRow:
    """A first sign-in: the user, created under a free name, linked to the issuer and subject."""
    assert settings.issuer is not None
    subject = str(claims["sub"])
    created = tenancy.create_user(
        session,
        None,
        name=_free_name(session, user_name(settings, claims)),
        role=mapped.role,
        org_id=org.id,
        email=email[:200] if email else None,
    )
    identity = UserIdentityRow(
        id=new_id("idn"),
        user_id=created.id,
        issuer=settings.issuer,
        subject=subject[:255],
        created_at=now,
        last_sign_in_at=now,
    )
    session.add(identity)
    user = session.get(UserRow, created.id)
    assert user is not None
    audit.record(
        session,
        None,
        "user.sso_link",
        "user",
        user.id,
        org_id=org.id,
        detail={"issuer": settings.issuer, "subject": subject, "name": user.name},
    )
    return user


def _update(
    session: Session,
    identity: UserIdentityRow,
    mapped: Mapped,
    org: OrgRow,
    *,
    email: str | None,
    now: datetime,
) -> UserRow:
    """A later sign-in: the linked user moved to the mapping's organization and role (audited
    when either changes); a disabled user is refused."""
    user = session.get(UserRow, identity.user_id)
    assert user is not None
    if user.disabled:
        raise Forbidden("your account here is disabled; ask the center's operators")
    changes: dict[str, Any] = {}
    if user.org_id != org.id:
        changes["org"] = [user.org_id, org.id]
        _move(session, user, org)
    if user.role != mapped.role.value:
        changes["role"] = [user.role, mapped.role.value]
        user.role = mapped.role.value
    if email and user.email != email[:200]:
        user.email = email[:200]
    if changes:
        audit.record(
            session, None, "user.sso_update", "user", user.id, org_id=org.id, detail=changes
        )
    identity.last_sign_in_at = now
    return user
