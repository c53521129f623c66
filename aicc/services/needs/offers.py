"""Offers (供需对接 without a contest): a provider answers a need with what it already runs, its
published template or its deployment, at a price for the poster alone. The poster accepts,
declines or, later, ends an offer; the provider withdraws an open one or ends an accepted one.

What acceptance gives the poster's organization:
- a template: a grant (services/models/grants.py) to run it at the offer's price, whatever its
  visibility; each run is charged to the poster and credited to the provider as any paid
  template run is;
- a deployment: a key of the provider's project that calls that deployment alone, its secret in
  the acceptance's answer only; the key's requests of a month are on both invoices (billing's
  extra lines): `need_offer`, the price per 1,000 on the poster's, `need_offer_credit` the same
  amount back on the provider's.

An offer is its provider's and the poster's: anyone else lists none and reads none (a 404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.pricing import MAX_MONEY, PricePlan, to_money
from aicc.core.tenancy import Principal, can_read, can_write
from aicc.services.billing import extra_lines
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, new_id, utc
from aicc.services.models import grants, template_uses, templates
from aicc.services.needs import needs, notices
from aicc.services.needs.views import Offer
from aicc.services.serving import api_keys, deployments, gateway
from aicc.services.tenancy import audit, directory
from aicc.services.tenancy.views import Project
from aicc.store.tables.needs import NeedOfferRow, NeedRow

KINDS = {"template": "run", "deployment": "1k_requests"}  # kind -> its price's unit
MAX_MESSAGE = 4_000


@dataclass(frozen=True)
class Ask:
    """What a provider offers: `ref` is its template (NAME, NAME@N, ORG/PROJECT/NAME@N) or its
    deployment's name in `project`."""

    kind: str
    ref: str
    price: Decimal
    message: str = ""
    project: str | None = None


def make(session: Session, who: Principal, need_ref: str, ask: Ask, *, now: datetime) -> Offer:
    """A provider's offer on an open need; its own template or deployment, another tenant's
    poster's. The poster's project hears of it (`need.offer`)."""
    need = needs._find(session, who, need_ref)
    if need.state != "open":
        raise Conflict(
            "need {name} is {state}: it takes no offers", name=need.name, state=need.state
        )
    if need.org_id == who.org_id:
        raise Conflict("an organization cannot make an offer on its own need")
    if ask.kind not in KINDS:
        raise Invalid("kind: template or deployment")
    price = to_money(ask.price)
    if not 0 <= price <= MAX_MONEY:
        raise Invalid("price: 0 to {max} {currency}", max=MAX_MONEY, currency=need.currency)
    message = ask.message.strip()
    if len(message) > MAX_MESSAGE:
        raise Invalid("message: at most {max} characters", max=MAX_MESSAGE)
    project, target_id, target = _offered(session, who, ask)
    if not can_write(who, org_id=project.org_id, project_id=project.id):
        raise Forbidden("only members of {project} may offer what it runs", project=project.name)
    again = select(NeedOfferRow.id).where(
        NeedOfferRow.need_id == need.id,
        NeedOfferRow.target_id == target_id,
        NeedOfferRow.state.in_(("open", "accepted")),
    )
    if session.scalar(again) is not None:
        raise Conflict("{target} is offered on need {name} already", target=target, name=need.name)
    row = NeedOfferRow(
        id=new_id("nof"),
        need_id=need.id,
        org_id=project.org_id,
        project_id=project.id,
        kind=ask.kind,
        target_id=target_id,
        target=target,
        price=str(price),
        unit=KINDS[ask.kind],
        currency=need.currency,
        message=message,
        state="open",
        key_id=None,
        created_by=who.user_id,
        created_at=now,
        decided_at=None,
        ended_at=None,
    )
    session.add(row)
    session.flush()
    detail = {"kind": row.kind, "target": row.target, "price": row.price}
    audit.record(session, who, "need.offer", "need", need.id, org_id=row.org_id, detail=detail)
    notices.offered(session, need, row)
    return view(session, row)


def _offered(session: Session, who: Principal, ask: Ask) -> tuple[Project, str, str]:
    """The offered thing's project, id and name as the poster reads it; the caller's, else 404."""
    if ask.kind == "template":
        template = templates.get(ask.ref, session, who, project=ask.project)
        if template.project_id is None:
            raise Invalid(
                "ref: {ref} is a built-in template, free to every tenant; offer one you published",
                ref=ask.ref,
            )
        project = directory.project(session, template.project_id)
        assert project is not None
        return project, template.id, template.ref
    found = deployments.get(session, who, ask.ref, project=ask.project)
    project = directory.project(session, found.project_id)
    assert project is not None
    return project, found.id, f"{found.project}/{found.name}"


def _find(
    session: Session, who: Principal, need_ref: str, offer_id: str
) -> tuple[NeedOfferRow, NeedRow]:
    """An offer on the need that the caller speaks for (its provider or the poster), else 404."""
    need = needs._find(session, who, need_ref)
    row = session.get(NeedOfferRow, offer_id)
    if row is None or row.need_id != need.id or not _party(who, need, row):
        raise NotFound(
            "offer {offer_id} not found on need {name}", offer_id=offer_id, name=need.name
        )
    return row, need


def _party(who: Principal, need: NeedRow, row: NeedOfferRow) -> bool:
    return needs.posts(who, need) or can_read(who, org_id=row.org_id, project_id=row.project_id)


def listing(session: Session, who: Principal, need_ref: str) -> list[Offer]:
    """The need's offers the caller may see, newest first: all of them for the poster, the
    caller's organization's own for a provider, none for anyone else."""
    need = needs._find(session, who, need_ref)
    query = (
        select(NeedOfferRow)
        .where(NeedOfferRow.need_id == need.id)
        .order_by(NeedOfferRow.created_at.desc(), NeedOfferRow.id.desc())
    )
    return [view(session, row) for row in session.scalars(query) if _party(who, need, row)]


def accept(
    session: Session,
    who: Principal,
    need_ref: str,
    offer_id: str,
    *,
    now: datetime,
    default_plan: PricePlan,
) -> Offer:
    """The poster takes an open offer: a grant of the template, or a key to the deployment
    (its secret in this answer alone). The provider's project hears of it. The key's service
    tier is the one the poster's price plan gives (`default_plan`: the `pricing` setting),
    as the poster's organization pays for its requests."""
    row, need = _find(session, who, need_ref, offer_id)
    needs.poster_only(who, need, Forbidden("only the need's poster may accept its offers"))
    _open(row)
    secret = None
    if row.kind == "template":
        grants.grant(
            session,
            template_id=row.target_id,
            org_id=need.org_id,
            price=Decimal(row.price),
            currency=row.currency,
            reference=row.id,
            now=now,
        )
    else:
        name = row.target.rpartition("/")[2]
        tier = api_keys.plan_tier(session, need.org_id, default_plan)
        key = api_keys.issue(
            session,
            who,
            row.org_id,
            row.project_id,
            f"offer-{row.id[4:].lower()}",
            [name],
            tier=tier,
        )
        row.key_id, secret = key.id, key.secret
    row.state, row.decided_at = "accepted", now
    audit.record(session, who, "need.offer_accept", "need", need.id, org_id=need.org_id)
    notices.offer_accepted(session, need, row)
    return view(session, row).model_copy(update={"secret": secret})


def decline(
    session: Session, who: Principal, need_ref: str, offer_id: str, *, now: datetime
) -> Offer:
    row, need = _find(session, who, need_ref, offer_id)
    needs.poster_only(who, need, Forbidden("only the need's poster may decline its offers"))
    _open(row)
    row.state, row.decided_at = "declined", now
    audit.record(session, who, "need.offer_decline", "need", need.id, org_id=need.org_id)
    return view(session, row)


def withdraw(
    session: Session, who: Principal, need_ref: str, offer_id: str, *, now: datetime
) -> Offer:
    """The provider takes back an offer not decided yet."""
    row, need = _find(session, who, need_ref, offer_id)
    if not can_write(who, org_id=row.org_id, project_id=row.project_id):
        raise Forbidden("only the offer's provider may withdraw it")
    _open(row)
    row.state, row.decided_at = "withdrawn", now
    audit.record(session, who, "need.offer_withdraw", "need", need.id, org_id=row.org_id)
    return view(session, row)


def end(session: Session, who: Principal, need_ref: str, offer_id: str, *, now: datetime) -> Offer:
    """Either side ends an accepted offer: the grant ends and the key is revoked; what was used
    until now stays billed."""
    row, need = _find(session, who, need_ref, offer_id)
    if not (needs.posts(who, need) or can_write(who, org_id=row.org_id, project_id=row.project_id)):
        raise Forbidden("only the need's poster or the offer's provider may end it")
    if row.state != "accepted":
        raise Conflict(
            "offer {offer_id} is {state}, not accepted", offer_id=row.id, state=row.state
        )
    grants.end(session, row.id, now=now)
    if row.key_id is not None:
        api_keys.end(session, row.key_id, now=now)
    row.state, row.ended_at = "ended", now
    audit.record(session, who, "need.offer_end", "need", need.id, org_id=row.org_id)
    return view(session, row)


def _open(row: NeedOfferRow) -> None:
    if row.state != "open":
        raise Conflict("offer {offer_id} is {state} already", offer_id=row.id, state=row.state)


def view(session: Session, row: NeedOfferRow) -> Offer:
    need = session.get(NeedRow, row.need_id)
    poster = directory.org(session, need.org_id) if need else None
    provider = directory.org(session, row.org_id)
    return Offer(
        id=row.id,
        need=f"{poster.name if poster else '?'}/{need.name if need else row.need_id}",
        org=provider.name if provider else row.org_id,
        kind=row.kind,
        target=row.target,
        price=row.price,
        unit=row.unit,
        currency=row.currency,
        message=row.message,
        state=row.state,
        key_id=row.key_id,
        used=_used(session, row, need.org_id if need else ""),
        created_at=utc(row.created_at),
        decided_at=utc(row.decided_at) if row.decided_at else None,
        ended_at=utc(row.ended_at) if row.ended_at else None,
    )


def _used(session: Session, row: NeedOfferRow, poster_org: str) -> int:
    """The poster's runs of the template since acceptance, or billable calls with the key."""
    if row.decided_at is None or row.state not in ("accepted", "ended"):
        return 0
    if row.key_id is None:
        return template_uses.runs_by(
            session, row.target_id, org_id=poster_org, since=row.decided_at, until=row.ended_at
        )
    return gateway.billable_calls(session, row.key_id)


def invoice_lines(
    session: Session, org_id: str, month: str, zone: str, default: PricePlan
) -> list[extra_lines.Line]:
    """Accepted deployment offers' requests of `month`: charged to the poster at the offer's
    price per 1,000, credited to the provider. Template runs are charged as they are submitted."""
    start, end_ = periods.month_bounds(month, zone)
    query = (
        select(NeedOfferRow, NeedRow)
        .join(NeedRow, NeedRow.id == NeedOfferRow.need_id)
        .where(
            NeedOfferRow.key_id.is_not(None),
            (NeedRow.org_id == org_id) | (NeedOfferRow.org_id == org_id),
        )
        .order_by(NeedOfferRow.created_at)
    )
    found = []
    for offer, need in session.execute(query):
        calls = gateway.billable_calls(session, str(offer.key_id), start=start, end=end_)
        if not calls:
            continue
        per_k = Decimal(offer.price)
        amount = to_money(per_k * calls / 1000)
        poster = need.org_id == org_id
        found.append(
            extra_lines.Line(
                kind="need_offer" if poster else "need_offer_credit",
                item=f"offer {offer.target}",
                unit="1k_requests",
                quantity=Decimal(calls) / 1000,
                unit_price=per_k,
                amount=amount if poster else -amount,
                currency=offer.currency,
                description=f"Offer on need {need.name}: {calls} requests to {offer.target}",
                reference=offer.id,
            )
        )
    return found


extra_lines.register(invoice_lines)
