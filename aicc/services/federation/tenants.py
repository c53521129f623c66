"""A calling site as a tenant of this one: organization `site-<name>` with its default project
and one member user, made on first contact. The site's jobs then meet this site's quotas,
metering and invoices as any tenant's do, and see nothing of other tenants."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, Role
from aicc.services import tenancy
from aicc.store.tables import UserRow


def org_name(site: str) -> str:
    return f"site-{site}"


def find(session: Session, site: str) -> Principal | None:
    """Who `site`'s signed requests act as, or None before its first contact (a read)."""
    user = session.scalar(select(UserRow).where(UserRow.name == org_name(site)))
    return None if user is None else tenancy.principal_of(session, user)


def principal(session: Session, site: str) -> Principal:
    """Who `site`'s signed requests act as; its organization and user are made the first time."""
    name = org_name(site)
    user = session.scalar(select(UserRow).where(UserRow.name == name))
    if user is None:
        org = tenancy.create_org(session, None, name=name, display_name=f"federation site {site}")
        tenancy.create_user(session, None, name=name, role=Role.MEMBER, org_id=org.id)
        user = session.scalar(select(UserRow).where(UserRow.name == name))
        assert user is not None
    return tenancy.principal_of(session, user)
