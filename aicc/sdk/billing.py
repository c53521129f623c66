"""The books (docs/billing.md): `client.price_plans`, `client.vouchers`, `client.subsidies`,
`client.budgets`, `client.usage`, `client.bills` and `client.invoices`. Money comes back as the
API sends it: decimal strings with their currency."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aicc.sdk.transport import Json, Resource, api_path


class PricePlans(Resource):
    def list(self, org: str | None = None) -> Json:
        return self._t.pages(api_path("price-plans"), {"org": org})

    def create(self, doc: Mapping[str, Any]) -> Json:
        return self._t.call("POST", api_path("price-plans"), json=dict(doc))

    def effective(self, org: str | None = None, at: str | None = None) -> Json:
        """The plan in force for an organization at a time (default: yours, now)."""
        path = api_path("price-plans", "effective")
        return self._t.call("GET", path, params={"org": org, "at": at})


class Vouchers(Resource):
    def list(self, org: str | None = None) -> Json:
        return self._t.pages(api_path("vouchers"), {"org": org})

    def create(self, body: Mapping[str, Any]) -> Json:
        return self._t.call("POST", api_path("vouchers"), json=dict(body))


class Subsidies(Resource):
    def list(self) -> Json:
        return self._t.pages(api_path("subsidies"))

    def create(self, body: Mapping[str, Any]) -> Json:
        return self._t.call("POST", api_path("subsidies"), json=dict(body))


class Budgets(Resource):
    def list(self) -> Json:
        return self._t.pages(api_path("budgets"))

    def set(
        self, body: Mapping[str, Any], *, project: str | None = None, org: str | None = None
    ) -> Json:
        """A project's (`project` id) or an organization's (`org` id) monthly budget."""
        where = (
            api_path("projects", project, "budget")
            if project
            else api_path("orgs", str(org), "budget")
        )
        return self._t.call("PUT", where, json=dict(body))

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
    ) -> Json:
        params = {"job": job, "project": project, "org": org, "month": month}
        return self._t.call("GET", api_path("usage"), params=params)

    def __call__(self, *args: Any, **kwargs: Any) -> Json:
        """`client.usage(...)`, the spelling before resources: same as `get`."""
        return self.get(*args, **kwargs)


class Bills(Resource):
    def get(
        self, month: str | None = None, *, org: str | None = None, project: str | None = None
    ) -> Json:
        """An organization's invoice of a month: issued, or the draft as of now."""
        params = {"month": month, "org": org, "project": project}
        return self._t.call("GET", api_path("bills"), params=params)

    def csv(
        self, month: str | None = None, *, org: str | None = None, project: str | None = None
    ) -> str:
        params = {"month": month, "org": org, "project": project}
        return self._t.request("GET", api_path("bills", "export"), params=params).text

    def issue(self, org: str, month: str) -> Json:
        body = {"org_id": org, "month": month}
        return self._t.call("POST", api_path("bills", "issue"), json=body)

    def adjust(self, body: Mapping[str, Any]) -> Json:
        return self._t.call("POST", api_path("bills", "adjustments"), json=dict(body))


class Invoices(Resource):
    def list(self, org: str | None = None) -> Json:
        return self._t.pages(api_path("invoices"), {"org": org})
