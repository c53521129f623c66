"""The quota page: guaranteed, max, used and borrowed for every organization and project the
signed-in person may read (operators: the whole center; everyone else: their own organization
and projects), per accelerator model, PFLOPS, CPU and memory, with a bar chart of one resource;
and, per project, how much its finished jobs were slowed down by waiting (`services.jobs.
slowdown`, the table `aicc queue slowdown` prints).

`services.quotas.standings` decides what is visible and what counts as borrowing. Its form
sets a quota with the service `PUT /api/v1/orgs/{id}/quota` and `aicc org quota` call, read as
the CLI reads it (`core.units.quota_amounts`): operators an organization's, an organization's
admins its projects'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from aicc.api.deps import SessionDep
from aicc.core.tenancy import Principal, can_manage
from aicc.core.units import STORAGE_QUOTA_KEY, quota_amounts, quota_text
from aicc.portal.auth import Me
from aicc.portal.forms import FieldError, Posted, Rejected, parse, service_call, text_input
from aicc.portal.forms import Form as PageForm
from aicc.portal.i18n import Translator
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute, is_htmx, language_of, render
from aicc.services.common import Forbidden, NotFound, utcnow
from aicc.services.jobs import leased, quotas, slowdown
from aicc.services.leases import leases, sla
from aicc.services.tenancy import tenancy
from aicc.services.tenancy.views import Org, Project

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

PLAIN = ("pflops", "cpu_milli", "memory_mib", STORAGE_QUOTA_KEY)


def shown(key: str, value: float) -> float:
    """A stored amount in the unit people read: devices, cores, GiB, PFLOPS; data set storage
    is stored in GiB already."""
    if key == "memory_mib":
        return value / 1024
    if key in ("pflops", STORAGE_QUOTA_KEY):
        return value
    return value / 1000  # an accelerator model in milli, or cpu_milli


UNITS = {
    "pflops": "quotas.unit.pflops",
    "cpu_milli": "quotas.unit.cores",
    "memory_mib": "quotas.unit.gib",
    STORAGE_QUOTA_KEY: "quotas.unit.gib",
}


def unit_key(key: str) -> str:
    """The message key of the unit `shown` uses for `key` (an accelerator model: devices)."""
    return UNITS.get(key, "quotas.unit.devices")


def resource_label(t: Translator, key: str) -> str:
    return t(f"quotas.key.{key}") if key in PLAIN else key


def helpers(t: Translator) -> dict[str, Any]:
    """What the quota macros (`_quota.html`) need from the page's context."""
    return {"shown": shown, "unit_key": unit_key, "label": lambda k: resource_label(t, k)}


def own_standing(session: Session, who: Principal) -> quotas.Standing | None:
    """The dashboard's card: the person's organization as /quotas shows it. None for an
    operator, whose organization is no tenant's (the quota page shows them every one)."""
    if who.is_admin or who.org_id is None:
        return None
    return next(
        (s for s in quotas.standings(session, who) if s.kind == "org" and s.id == who.org_id),
        None,
    )


@dataclass(frozen=True)
class QuotaPage:
    standings: list[quotas.Standing]
    keys: list[str]  # every resource that appears, models first
    key: str | None  # the one the chart shows

    @property
    def empty(self) -> bool:
        """Nobody to show (a tenant without quota or use is still listed, to set one)."""
        return not self.standings


def quota_page(standings: list[quotas.Standing], key: str | None) -> QuotaPage:
    keys = sorted({k for s in standings for k in s.keys}, key=quotas.key_order)
    if key not in keys:
        key = "pflops" if "pflops" in keys else (keys[0] if keys else None)
    return QuotaPage(standings, keys, key)


def chart(page: QuotaPage, t: Translator) -> dict[str, Any]:
    """Grouped bars, one group per tenant: guaranteed, max, used, borrowed of `page.key`."""
    key = page.key or ""
    tenants = [s for s in page.standings if key in s.keys]

    def values(pick: str) -> list[float | None]:
        out: list[float | None] = []
        for s in tenants:
            amounts: dict[str, float] = getattr(s, pick)
            if pick in ("guaranteed", "max") and key not in amounts:
                out.append(None)  # not set: no bar (for max: no limit)
            else:
                out.append(round(shown(key, amounts.get(key, 0.0)), 3))
        return out

    return {
        "type": "bars",
        "categories": [
            s.name if s.kind == "org" else f"{_org_name(page, s.org_id)} / {s.name}"
            for s in tenants
        ],
        "series": [
            {"name": t(f"quotas.col.{pick}"), "values": values(pick)}
            for pick in ("guaranteed", "max", "used", "borrowed")
        ],
        "unit": t(unit_key(key)),
    }


def _org_name(page: QuotaPage, org_id: str) -> str:
    return next((s.name for s in page.standings if s.kind == "org" and s.id == org_id), "")


@router.get("/quotas")
def quota_list(request: Request, session: SessionDep, me: Me, key: str | None = None) -> Response:
    page = quota_page(quotas.standings(session, me.who), key)
    t = Translator(language_of(request, me))
    now, settings = utcnow(), request.app.state.aicc.settings
    listed = leased.shown(session, leases.listing(session, me.who, now=now))  # issue 40
    available = sla.this_month(  # each lease's availability this month (its SLA report)
        session, [lease.id for lease in listed], zone=settings.site.timezone,
        default=settings.pricing, now=now, terms=sla.Terms.of(settings),
    )  # fmt: skip
    return render(
        request,
        "_quota_live.html" if is_htmx(request) else "quotas.html",
        me=me,
        nav="quotas",
        data=page,
        chart=chart(page, t) if page.key else None,
        leases=listed,
        available=available,
        slowdown=slowdown.by_project(session, me.who, now=now),  # as `aicc queue slowdown`
        editable=lambda s: editable(me.who, s),
        saved=request.query_params.get("saved", ""),
        **helpers(t),
    )


# --- the quota form: an operator sets an organization's, an organization admin a project's ---


def editable(who: Principal, standing: quotas.Standing) -> bool:
    """Whether the quota page offers to edit this tenant's quota: an organization's is the
    operators' (they share out the center), a project's its organization's admins'."""
    if standing.kind == "org":
        return who.is_admin
    return can_manage(who, org_id=standing.org_id)


class QuotaForm(Posted):
    """The quota form: the pairs people write (`A100-80GB=4 cpu=64 memory=512GiB`)."""

    kind: str = text_input(10)
    id: str = text_input(60)
    guaranteed: str = text_input(2000)
    max: str = text_input(2000)


def _tenant(page: Page, kind: str, tenant_id: str) -> Org | Project:
    """The organization or project the form is about (another tenant's: the 404 page)."""
    if kind == "org":
        return tenancy.get_org(page.session, page.me.who, tenant_id)
    if kind == "project":
        return tenancy.visible_project(page.session, page.me.who, tenant_id)
    raise NotFound("no such quota: {kind}", kind=kind)


def _quota_form(
    page: Page, tenant: Org | Project, *, form: PageForm | None = None, status: int = 200
) -> Response:
    kind = "org" if isinstance(tenant, Org) else "project"
    if form is None:
        form = PageForm(
            "quota",
            {
                "guaranteed": quota_text(tenant.quota.guaranteed),
                "max": quota_text(tenant.quota.max),
            },
        )
    org_name = ""
    if isinstance(tenant, Project):
        org_name = tenancy.get_org(page.session, page.me.who, tenant.org_id).name
    return page.render(
        "quota_form.html",
        nav="quotas",
        status=status,
        form=form,
        kind=kind,
        tenant=tenant,
        org_name=org_name,
    )


@router.get("/quotas/{kind}/{tenant_id}/edit")
def quota_edit(page: PageDep, kind: str, tenant_id: str) -> Response:
    """The form, to those who may set this quota (the service's refusal otherwise: a form
    nobody could submit is no use); another tenant's is the 404 page."""
    tenant = _tenant(page, kind, tenant_id)
    who = page.me.who
    if isinstance(tenant, Org) and not who.is_admin:
        raise Forbidden("only center admins set an organization's quota")
    if isinstance(tenant, Project) and not can_manage(who, org_id=tenant.org_id):
        raise Forbidden("only organization admins set a project's quota")
    return _quota_form(page, tenant)


def _pairs(form: PageForm, name: str, text: str) -> dict[str, float]:
    try:
        return quota_amounts(text.replace(",", " ").replace("，", " ").split())
    except ValueError as err:
        form.errors[name] = FieldError("quotas.error.pairs", str(err))
        return {}


@router.post("/quotas/{kind}/{tenant_id}/edit")
def quota_save(
    page: PostingPage, kind: str, tenant_id: str, posted: Annotated[QuotaForm, Form()]
) -> Response:
    tenant = _tenant(page, kind, tenant_id)
    values = {k: v.strip() for k, v in posted.typed("guaranteed", "max").items()}
    form = PageForm("quota", values)
    data = {
        "guaranteed": _pairs(form, "guaranteed", values["guaranteed"]),
        "max": _pairs(form, "max", values["max"]),
    }
    try:
        if form.errors:
            raise Rejected(form)
        body = parse(form, quotas.QuotaIn, data, {})
        with service_call(page.session, form, name_field="max", missing_is_404=True):
            if kind == "org":
                quotas.set_org(page.session, page.me.who, tenant.id, body)
            else:
                quotas.set_project(page.session, page.me.who, tenant.id, body)
    except Rejected as refused:
        return _quota_form(page, tenant, form=form, status=refused.status)
    return RedirectResponse("/quotas?" + urlencode({"saved": tenant.name}), status_code=303)
