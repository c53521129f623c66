"""A calling site as a tenant of this one: organization `site-<name>` with its default project
and one member user, made on first contact. The site's jobs then meet this site's quotas,
metering and invoices as any tenant's do, and see nothing of other tenants."""

from __future__ import annotations

from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, Role
from aicc.services.common import Conflict
from aicc.services.tenancy import directory, tenancy
from aicc.services.tenancy.views import User


def org_name(site: str) -> str:
    return f"site-{site}"


def _user(session: Session, site: str) -> User | None:
    """The site's user: named `site-<name>` AND in the organization of that name. A user of
    that name in another organization (an organization admin may name theirs so) is not it."""
    name = org_name(site)
    return directory.user_named(session, name, org_name=name)


def find(session: Session, site: str) -> Principal | None:
    """Who `site`'s signed requests act as, or None before its first contact (a read)."""
    user = _user(session, site)
    return None if user is None else tenancy.principal_of(session, user)


def principal(session: Session, site: str) -> Principal:
    """Who `site`'s signed requests act as; its organization and user are made the first time."""
    name = org_name(site)
    user = _user(session, site)
    if user is None:
        if directory.user_named(session, name) is not None:
            raise Conflict(
                "user {name} exists in another organization: rename it, so that site {site} "
                "can be a tenant of its own here",
                name=name,
                site=site,
            )
        org = tenancy.create_org(session, None, name=name, display_name=f"federation site {site}")
        tenancy.create_user(session, None, name=name, role=Role.MEMBER, org_id=org.id)
        user = _user(session, site)
        assert user is not None
    return tenancy.principal_of(session, user)
