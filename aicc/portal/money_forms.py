"""The forms that set money: a new price plan version (operators, on the price list) and a
budget (an organization's admins and operators, on /bills).

Each posts with its CSRF token and calls the service the API and the CLI call
(`plans.create` as `POST /api/v1/price-plans` and `aicc admin price-plan set`,
`budgets.set_budget` as `PUT /api/v1/orgs/{id}/budget` and `.../projects/{id}/budget`), which
decides who may and writes the audit entry; what people type (prices as `H100-SXM=28`, shares
as `80%`) is read here into the API's own request models, and every refusal is shown beside its
field in the reader's language, never a 500.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from aicc.portal.billing import prices_page, render_bills
from aicc.portal.forms import FieldError, Posted, Rejected, checked, service_call, text_input
from aicc.portal.forms import Form as PageForm
from aicc.portal.page import OperatorPostingPage, PostingPage
from aicc.portal.rendering import PortalRoute
from aicc.services.billing import budgets, plans
from aicc.services.jobs import metering

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
M = TypeVar("M", bound=BaseModel)

PRICE_INPUTS = plans.PRICE_KEYS  # pflops_hour ... request: one decimal input each


def _decimal(form: PageForm, name: str, text: str) -> Decimal | None:
    """A price as typed ("28", "9.50"); empty: not given. Not a number: the field's error."""
    if not text:
        return None
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        form.errors[name] = FieldError("money.error.number")
        return None
    if not value.is_finite():
        form.errors[name] = FieldError("money.error.number")
        return None
    return value


# --- price plans (operators) ---


class PlanForm(Posted):
    """The price list's form for a new price plan version."""

    org_id: str = text_input(60)
    name: str = text_input(100)
    currency: str = text_input(10, "CNY")
    effective_from: str = text_input(40)
    accelerator_hour: str = text_input(2000)
    pflops_hour: str = text_input(30)
    cpu_core_hour: str = text_input(30)
    memory_gib_hour: str = text_input(30)
    storage_gib_day: str = text_input(30)
    input_mtok: str = text_input(30)
    output_mtok: str = text_input(30)
    request: str = text_input(30)
    discount: str = text_input(30)
    api_tier: str = text_input(1)  # "": none (keys get tier 2), else 1..3


def _prices_by_model(form: PageForm, text: str) -> dict[str, Decimal]:
    """`H100-SXM=28, A100-80GB=12` -> per device-hour by model (the catalog checks the names)."""
    out: dict[str, Decimal] = {}
    for pair in (p.strip() for p in text.replace("\n", ",").replace(";", ",").split(",")):
        if not pair:
            continue
        model, sep, price = (part.strip() for part in pair.partition("="))
        value = _decimal(form, "accelerator_hour", price) if sep and model else None
        if value is None:
            form.errors["accelerator_hour"] = FieldError("money.error.pairs")
            return {}
        out[model] = value
    return out


def _start(form: PageForm, text: str, zone: str) -> datetime | str:
    """When the version starts: ISO 8601, in the site's time zone when none is written."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return text  # pydantic refuses it on the field, with its words
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(zone))


@router.post("/center/prices/plans")
def plan_create(page: OperatorPostingPage, posted: Annotated[PlanForm, Form()]) -> Response:
    values = {k: v.strip() for k, v in posted.typed().items()}
    form = PageForm("plan", values)
    data: dict[str, Any] = {
        "org_id": values["org_id"] or None,
        "name": values["name"] or "plan",
        "currency": values["currency"] or "CNY",
        "effective_from": _start(form, values["effective_from"], page.state.settings.site.timezone)
        if values["effective_from"]
        else None,
        "accelerator_hour": _prices_by_model(form, values["accelerator_hour"]),
        "discount": _decimal(form, "discount", values["discount"]) or Decimal(0),
        "api_tier": values["api_tier"] or None,  # the model refuses anything but 1..3
    }
    for key in PRICE_INPUTS:
        data[key] = _decimal(form, key, values[key])
    try:
        if form.errors:
            raise Rejected(form)
        body = checked(form, plans.PlanIn, data)
        with service_call(page.session, form, name_field="effective_from", missing_is_404=True):
            made = plans.create(page.session, page.me.who, body)
    except Rejected as refused:
        return prices_page(page, form=form, status=refused.status)
    return RedirectResponse("/center/prices?" + urlencode({"plan": made.name}), status_code=303)


# --- budgets (an organization's admins) ---


class BudgetForm(Posted):
    """The bills page's form for a budget: its organization or one of its projects."""

    scope: str = text_input(80)
    limit: str = text_input(30)
    currency: str = text_input(10, "CNY")
    thresholds: str = text_input(200)
    month: str = text_input(7)  # the bills page to go back to
    org: str = text_input(60)


def thresholds_of(form: PageForm, text: str) -> list[float] | None:
    """`50%, 80%, 100%` or `0.5 0.8 1` -> shares of the limit; None: the service's default."""
    words = [w for w in text.replace(",", " ").replace("，", " ").split() if w]
    out = []
    for word in words:
        try:
            out.append(float(word[:-1]) / 100 if word.endswith("%") else float(word))
        except ValueError:
            form.errors["thresholds"] = FieldError("money.error.thresholds")
            return None
    return out or None


@router.post("/bills/budgets")
def budget_set(page: PostingPage, posted: Annotated[BudgetForm, Form()]) -> Response:
    values = {k: v.strip() for k, v in posted.typed().items()}
    form = PageForm("budget", values)
    kind, _, scope_id = values["scope"].partition(":")
    if kind not in ("org", "project") or not scope_id:
        form.errors["scope"] = FieldError("form.error.choice")
    data: dict[str, Any] = {
        "limit": _decimal(form, "limit", values["limit"]),
        "currency": values["currency"] or "CNY",
    }
    shares = thresholds_of(form, values["thresholds"])
    if shares is not None:
        data["thresholds"] = shares
    back = {"month": values["month"] or None, "org": values["org"] or None}
    try:
        if form.errors:
            raise Rejected(form)
        body = checked(form, budgets.BudgetIn, data)
        settings = page.state.settings
        with service_call(page.session, form, name_field="scope", missing_is_404=True):
            budgets.set_budget(
                page.session,
                page.me.who,
                body,
                org_id=scope_id if kind == "org" else None,
                project_id=scope_id if kind == "project" else None,
                running=metering.running_for(page.session, page.me.who),
                zone=settings.site.timezone,
                default=settings.pricing,
            )
    except Rejected as refused:
        return render_bills(page, **back, form=form, status=refused.status)
    query = {k: v for k, v in back.items() if v} | {"saved": "1"}
    return RedirectResponse("/bills?" + urlencode(query), status_code=303)
