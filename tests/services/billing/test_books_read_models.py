"""The books hand out read models, not rows: what a caller read cannot change the books by
assignment, and it stays readable after the transaction that read it has ended."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from aicc.api.state import AppState
from aicc.core.tenancy import Principal, Role
from aicc.services.billing import credits, plans
from aicc.services.billing.views import PricePlanVersion, Voucher


def test_plans_and_vouchers_are_frozen_read_models(server: tuple[TestClient, AppState]) -> None:
    api, state = server
    org = api.post("/api/v1/orgs", json={"name": "acme"}).json()
    me = api.get("/api/v1/me").json()
    admin = Principal(me["user"]["id"], "admin", me["org"]["id"], Role.ADMIN)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    with state.db.session() as session:
        made = plans.create(
            session,
            admin,
            plans.PlanIn(name="list", effective_from=when, accelerator_hour={"A100": Decimal(12)}),
        )
        voucher = credits.create_voucher(
            session,
            admin,
            credits.VoucherIn(org_id=org["id"], name="v", amount=Decimal(100)),
            zone="UTC",
        )
    with state.db.reader() as session:
        (listed,) = plans.visible(session, admin)
        (shown,) = credits.vouchers(session, admin)
    assert isinstance(made, PricePlanVersion) and listed == made
    assert listed.accelerator_hour == {"A100-80GB": Decimal("12")}
    assert isinstance(voucher, Voucher) and shown == voucher and shown.remaining == "100.00"
    with pytest.raises(ValidationError):
        listed.discount = Decimal("0.5")  # type: ignore[misc]
    with state.db.reader() as session:
        assert plans.visible(session, admin)[0].discount == Decimal(0)
