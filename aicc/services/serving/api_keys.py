"""API keys: a project's keys to its deployments through the gateway (`/v1`), each scoped to
all of the project's deployments or a list of them, with an optional rate limit (requests per
minute) and monthly token quota. The secret (`aicc-sk-...`) is shown once, at creation, and
stored as its SHA-256 like user tokens (`services/tenancy/tokens.py`): 256 random bits need no slow
hash. Revoking keeps the row, so the request log still names the key."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.pricing import PricePlan
from aicc.core.tenancy import Principal, can_write
from aicc.services.billing import plans
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, new_id, utcnow
from aicc.services.serving.views import ApiKey
from aicc.services.tenancy import audit, tenancy, tokens
from aicc.store.tables.serving import ApiKeyRow, DeploymentRow

PREFIX = "aicc-sk-"
TIERS = (1, 2, 3)  # a key's service tier, 1 highest
DEFAULT_TIER = 2  # without a tier from its organization's price plan
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def digest(secret: str) -> str:
    return tokens.digest(secret)


def create(
    session: Session,
    who: Principal,
    *,
    project: str | None,
    name: str,
    deployments: list[str] | None = None,
    rpm: int | None = None,
    tokens_per_month: int | None = None,
    tier: int | None = None,
    default_plan: PricePlan,
) -> ApiKey:
    """A new key, with its `secret`: returned here and never again.

    Its service tier (gateway/tiers.py, 1 served first when replicas are busy) is `tier`, else
    the `api_tier` of the organization's price plan in force (`default_plan`: the `pricing`
    setting under the stored versions), else 2. The plan's tier is also the best a member may
    give a key (2 without one): a better one is the center's to give, its admins only. The tier
    is the key's from then on; a later plan changes the keys made after it."""
    if not NAME.match(name):
        raise Invalid(
            "name: letters, digits, '.', '-' and '_', at most 64, not starting with . - _"
        )
    if rpm is not None and rpm <= 0:
        raise Invalid("rpm: must be a positive number of requests per minute")
    if tokens_per_month is not None and tokens_per_month <= 0:
        raise Invalid("tokens_per_month: must be a positive number of tokens")
    if tier is not None and tier not in TIERS:
        raise Invalid("tier: 1 (served first), 2 or 3")
    prj = tenancy.resolve_project(session, who, project)
    if not can_write(who, org_id=prj.org_id, project_id=prj.id):
        raise Forbidden("viewers cannot create API keys")
    best = plan_tier(session, prj.org_id, default_plan)
    if tier is None:
        tier = best
    elif tier < best and not who.is_admin:
        if best == DEFAULT_TIER:
            raise Forbidden("only the center's admins give a key tier 1")
        raise Forbidden(
            "tier: your organization's price plan gives tier {best} at best; "
            "only the center's admins give a better one",
            best=best,
        )
    if _active(session, prj.id, name) is not None:
        raise Conflict(
            "an API key named {name!r} already exists in project {project}; remove it first",
            name=name,
            project=prj.name,
        )
    scope = None
    if deployments:
        scope = sorted(set(deployments))
        known = set(
            session.scalars(
                select(DeploymentRow.name).where(
                    DeploymentRow.project_id == prj.id, DeploymentRow.name.in_(scope)
                )
            )
        )
        missing = [d for d in scope if d not in known]
        if missing:
            raise Invalid(
                "deployments: no deployment {name!r} in project {project}",
                name=missing[0],
                project=prj.name,
            )
    return issue(
        session,
        who,
        prj.org_id,
        prj.id,
        name,
        scope,
        rpm=rpm,
        tokens_per_month=tokens_per_month,
        tier=tier,
    )


def plan_tier(session: Session, org_id: str, default_plan: PricePlan) -> int:
    """The service tier the organization's price plan in force gives its new keys (2 without
    one): every key is made with it unless a center admin gives a better one (`create`)."""
    return plans.api_tier(session, org_id=org_id, at=utcnow(), default=default_plan) or DEFAULT_TIER


def issue(
    session: Session,
    who: Principal,
    org_id: str,
    project_id: str,
    name: str,
    deployments: list[str] | None,
    *,
    rpm: int | None = None,
    tokens_per_month: int | None = None,
    tier: int = 2,
) -> ApiKey:
    """A key of the project, with its secret, for a caller already authorized: a member
    (`create`), or a need's poster accepting a provider's offer of a deployment
    (services/needs/offers.py)."""
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        id=new_id("key"),
        org_id=org_id,
        project_id=project_id,
        name=name,
        secret_hash=digest(secret),
        deployments=deployments,
        rpm=rpm,
        tokens_per_month=tokens_per_month,
        tier=tier,
        created_by=who.user_id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(session, who, "api_key.create", "api_key", row.id, org_id=org_id)
    return _view(row).model_copy(update={"secret": secret})


def end(session: Session, key_id: str, *, now: datetime) -> None:
    """Revoke a key its holder may not manage (an offer's, when the offer ends)."""
    row = session.get(ApiKeyRow, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now


def list_keys(
    session: Session, who: Principal, *, project: str | None, revoked: bool = False
) -> list[ApiKey]:
    """The project's keys, oldest first; revoked ones only when asked."""
    prj = tenancy.resolve_project(session, who, project)
    query = select(ApiKeyRow).where(ApiKeyRow.project_id == prj.id)
    if not revoked:
        query = query.where(ApiKeyRow.revoked_at.is_(None))
    return [_view(row) for row in session.scalars(query.order_by(ApiKeyRow.created_at))]


def revoke(session: Session, who: Principal, *, project: str | None, ref: str) -> ApiKey:
    """Revoke a key by id or by name (its active key); the gateway refuses it within
    `gateway.key_cache_s` seconds (at once on the server that revoked it)."""
    prj = tenancy.resolve_project(session, who, project)
    row = session.get(ApiKeyRow, ref) if ref.startswith("key_") else _active(session, prj.id, ref)
    if row is None or row.project_id != prj.id:
        raise NotFound("API key {ref!r} not found in project {project}", ref=ref, project=prj.name)
    if not can_write(who, org_id=prj.org_id, project_id=prj.id):
        raise Forbidden("viewers cannot remove API keys")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, who, "api_key.revoke", "api_key", row.id, org_id=prj.org_id)
    return _view(row)


def _active(session: Session, project_id: str, name: str) -> ApiKeyRow | None:
    return session.scalar(
        select(ApiKeyRow).where(
            ApiKeyRow.project_id == project_id,
            ApiKeyRow.name == name,
            ApiKeyRow.revoked_at.is_(None),
        )
    )


def _view(row: ApiKeyRow) -> ApiKey:
    """The key as its project reads it (no secret: that is shown once, by `create`)."""
    return ApiKey.model_validate(row, from_attributes=True)
