"""What is left of a voucher counts what moved out of it besides invoices (billing/credits.py):
a need's reward held from it, a team's subsidy given on, and what came back; every reader of
the balance (the listing, the estimator's `applicable`, the invoices' `taken`) sees the same."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.core.tenancy import Principal, Role
from aicc.services.billing import credits
from aicc.services.common import Conflict, Invalid


@pytest.fixture
def db_url() -> None:
    """SQLite: the arithmetic is the same on either database (the API test runs both)."""
    return None


def test_moves_take_from_the_balance_and_come_back(server: tuple[TestClient, AppState]) -> None:
    api, state = server
    org = api.post("/api/v1/orgs", json={"name": "city"}).json()
    other = api.post("/api/v1/orgs", json={"name": "team"}).json()
    me = api.get("/api/v1/me").json()
    admin = Principal(me["user"]["id"], "admin", me["org"]["id"], Role.ADMIN)
    now = datetime.now(UTC)
    until = date(now.year + 1, 12, 31)
    with state.db.session() as session:
        body = credits.VoucherIn(org_id=org["id"], name="city", amount=Decimal(1000))
        voucher = credits.create_voucher(session, admin, body, zone="UTC").id

    def remaining() -> tuple[str, Decimal, Decimal]:
        """The balance as the listing, the invoices and the estimator read it."""
        with state.db.reader() as session:
            (listed,) = credits.vouchers(session, admin, org_id=org["id"])
            taken = credits.taken(session, org["id"]).get(voucher, Decimal(0))
            _, usable = credits.applicable(
                session, org_id=org["id"], project_id="prj_x", currency="CNY", zone="UTC", now=now
            )
            offered = sum((v.balance for v in usable), Decimal(0))
            return listed.remaining, taken, offered

    def hold(amount: int, reference: str) -> None:
        with state.db.session() as session:
            credits.hold(
                session,
                admin,
                voucher,
                Decimal(amount),
                reference=reference,
                org_id=org["id"],
                project_id="prj_x",
                currency="CNY",
                until=until,
            )

    hold(300, "ned_a")
    assert remaining() == ("700.00", Decimal("300.00"), Decimal("700.00"))
    with pytest.raises(Invalid, match=re.escape("has 700.00 CNY left, less than 800.00")):
        hold(800, "ned_b")
    with state.db.session() as session:
        credits.release(session, admin, voucher, Decimal(100), reference="ned_a")
    assert remaining()[0] == "800.00"
    with (
        state.db.session() as session,
        pytest.raises(Conflict, match=re.escape("holds 200.00 for ned_a")),
    ):
        credits.release(session, admin, voucher, Decimal(300), reference="ned_a")

    # Given on to another organization: a voucher of its own, while the source has enough.
    with state.db.session() as session:
        given = credits.pass_on(
            session,
            admin,
            voucher,
            Decimal(500),
            reference="tem_a",
            org_id=other["id"],
            name="Training",
            until=until,
            zone="UTC",
        )
    assert given is not None and remaining()[0] == "300.00"
    with state.db.reader() as session:
        (theirs,) = credits.vouchers(session, admin, org_id=other["id"])
    assert (theirs.id, theirs.remaining, theirs.valid_until) == (given, "500.00", until)
    with state.db.session() as session:
        none = credits.pass_on(
            session,
            admin,
            voucher,
            Decimal(400),
            reference="tem_b",
            org_id=other["id"],
            name="Training",
            until=until,
            zone="UTC",
        )
    assert none is None and remaining() == ("300.00", Decimal("700.00"), Decimal("300.00"))
    # A year's use of subsidy caps counts invoices alone.
    with state.db.reader() as session:
        assert credits.taken(session, org["id"], year=now.year) == {}
