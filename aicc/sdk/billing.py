"""The books (docs/billing.md): `client.price_plans`, `client.vouchers`, `client.subsidies`,
`client.budgets`, `client.usage`, `client.bills` and `client.invoices`, parsed into the billing
context's read models (`aicc.services.billing.views`): `client.bills.get()` is a `Bill`, a
listing a list of its items. Money comes back as the API sends it: decimal strings with their
currency."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from aicc.sdk.transport import Json, Resource, api_path
from aicc.services.billing.views import (
    Adjustment,
    Bill,
    Budget,
    EffectivePricePlan,
    IssuedInvoice,
    PricePlanVersion,
    Subsidy,
    UsageRecords,
    Voucher,
)


class PricePlans(Resource):
    def list(self, org: str | None = None) -> builtins.list[PricePlanVersion]:
        return self._items(PricePlanVersion, api_path("price-plans"), {"org": org})

    def create(self, doc: Mapping[str, Any]) -> PricePlanVersion:
        return self._one(PricePlanVersion, "POST", api_path("price-plans"), json=dict(doc))

    def effective(self, org: str | None = None, at: str | None = None) -> EffectivePricePlan:
        """The plan in force for an organization at a time (default: yours, now)."""
        path = api_path("price-plans", "effective")
        return self._one(EffectivePricePlan, "GET", path, params={"org": org, "at": at})


class Vouchers(Resource):
    def list(self, org: str | None = None) -> builtins.list[Voucher]:
        return self._items(Voucher, api_path("vouchers"), {"org": org})

    def create(self, body: Mapping[str, Any]) -> Voucher:
        return self._one(Voucher, "POST", api_path("vouchers"), json=dict(body))


class Subsidies(Resource):
    def list(self) -> builtins.list[Subsidy]:
        return self._items(Subsidy, api_path("subsidies"))

    def create(self, body: Mapping[str, Any]) -> Subsidy:
        return self._one(Subsidy, "POST", api_path("subsidies"), json=dict(body))


class Budgets(Resource):
    def list(self) -> builtins.list[Budget]:
        return self._items(Budget, api_path("budgets"))

    def set(
        self, body: Mapping[str, Any], *, project: str | None = None, org: str | None = None
    ) -> Budget:
        """A project's (`project` id) or an organization's (`org` id) monthly budget."""
        where = (
            api_path("projects", project, "budget")
            if project
            else api_path("orgs", str(org), "budget")
        )
        return self._one(Budget, "PUT", where, json=dict(body))

    def delete(self, budget_id: str) -> Json:
        return self._t.call("DELETE", api_path("budgets", budget_id))


class Usage(Resource):
    def get(
        self,
        *,
        job: str | None = None,
        project: str | None = None,
        org: str | None = None,
        month: str | None = None,
    ) -> UsageRecords:
        """What the meter recorded, oldest first (one page: the route's `limit` bounds it)."""
        params = {"job": job, "project": project, "org": org, "month": month}
        return self._one(UsageRecords, "GET", api_path("usage"), params=params)

    def __call__(self, *args: Any, **kwargs: Any) -> UsageRecords:
        """`client.usage(...)`, the spelling before resources: same as `get`."""
        return self.get(*args, **kwargs)


class Bills(Resource):
    def get(
        self, month: str | None = None, *, org: str | None = None, project: str | None = None
    ) -> Bill:
        """An organization's invoice of a month: issued, or the draft as of now."""
        params = {"month": month, "org": org, "project": project}
        return self._one(Bill, "GET", api_path("bills"), params=params)

    def csv(
        self, month: str | None = None, *, org: str | None = None, project: str | None = None
    ) -> str:
        params = {"month": month, "org": org, "project": project}
        return self._t.request("GET", api_path("bills", "export"), params=params).text

    def issue(self, org: str, month: str) -> Bill:
        body = {"org_id": org, "month": month}
        return self._one(Bill, "POST", api_path("bills", "issue"), json=body)

    def adjust(self, body: Mapping[str, Any]) -> Adjustment:
        return self._one(Adjustment, "POST", api_path("bills", "adjustments"), json=dict(body))


class Invoices(Resource):
    def list(self, org: str | None = None) -> builtins.list[IssuedInvoice]:
        return self._items(IssuedInvoice, api_path("invoices"), {"org": org})
