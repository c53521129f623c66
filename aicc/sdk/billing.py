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
        answer = self._t.pages(api_path("price-plans"), {"org": org})
        return [PricePlanVersion.model_validate(p) for p in answer["items"]]

    def create(self, doc: Mapping[str, Any]) -> PricePlanVersion:
        answer = self._t.call("POST", api_path("price-plans"), json=dict(doc))
        return PricePlanVersion.model_validate(answer)

    def effective(self, org: str | None = None, at: str | None = None) -> EffectivePricePlan:
        """The plan in force for an organization at a time (default: yours, now)."""
        path = api_path("price-plans", "effective")
        answer = self._t.call("GET", path, params={"org": org, "at": at})
        return EffectivePricePlan.model_validate(answer)


class Vouchers(Resource):
    def list(self, org: str | None = None) -> builtins.list[Voucher]:
        answer = self._t.pages(api_path("vouchers"), {"org": org})
        return [Voucher.model_validate(v) for v in answer["items"]]

    def create(self, body: Mapping[str, Any]) -> Voucher:
        answer = self._t.call("POST", api_path("vouchers"), json=dict(body))
        return Voucher.model_validate(answer)


class Subsidies(Resource):
    def list(self) -> builtins.list[Subsidy]:
        answer = self._t.pages(api_path("subsidies"))
        return [Subsidy.model_validate(s) for s in answer["items"]]

    def create(self, body: Mapping[str, Any]) -> Subsidy:
        answer = self._t.call("POST", api_path("subsidies"), json=dict(body))
        return Subsidy.model_validate(answer)


class Budgets(Resource):
    def list(self) -> builtins.list[Budget]:
        return [Budget.model_validate(b) for b in self._t.pages(api_path("budgets"))["items"]]

    def set(
        self, body: Mapping[str, Any], *, project: str | None = None, org: str | None = None
    ) -> Budget:
        """A project's (`project` id) or an organization's (`org` id) monthly budget."""
        where = (
            api_path("projects", project, "budget")
            if project
            else api_path("orgs", str(org), "budget")
        )
        return Budget.model_validate(self._t.call("PUT", where, json=dict(body)))

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
        return UsageRecords.model_validate(self._t.call("GET", api_path("usage"), params=params))

    def __call__(self, *args: Any, **kwargs: Any) -> UsageRecords:
        """`client.usage(...)`, the spelling before resources: same as `get`."""
        return self.get(*args, **kwargs)


class Bills(Resource):
    def get(
        self, month: str | None = None, *, org: str | None = None, project: str | None = None
    ) -> Bill:
        """An organization's invoice of a month: issued, or the draft as of now."""
        params = {"month": month, "org": org, "project": project}
        return Bill.model_validate(self._t.call("GET", api_path("bills"), params=params))

    def csv(
        self, month: str | None = None, *, org: str | None = None, project: str | None = None
    ) -> str:
        params = {"month": month, "org": org, "project": project}
        return self._t.request("GET", api_path("bills", "export"), params=params).text

    def issue(self, org: str, month: str) -> Bill:
        body = {"org_id": org, "month": month}
        return Bill.model_validate(self._t.call("POST", api_path("bills", "issue"), json=body))

    def adjust(self, body: Mapping[str, Any]) -> Adjustment:
        answer = self._t.call("POST", api_path("bills", "adjustments"), json=dict(body))
        return Adjustment.model_validate(answer)


class Invoices(Resource):
    def list(self, org: str | None = None) -> builtins.list[IssuedInvoice]:
        answer = self._t.pages(api_path("invoices"), {"org": org})
        return [IssuedInvoice.model_validate(i) for i in answer["items"]]
