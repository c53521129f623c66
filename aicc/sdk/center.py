"""`client.accelerators`, `client.audit`, `client.estimates`: what the center offers, what
happened in it, and what a job would take and cost. Each answer comes back as the read model the
server built it from: the catalog's `Accelerator` (`services.nodes.views`), the audit log's page
and its verification (`services.tenancy.views`), the estimator's `Estimate` (`aicc.estimate`),
the monthly report and the power cap (`services.reports.views`, `services.center.views`)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from aicc.estimate import Estimate
from aicc.sdk.transport import Json, Resource, api_path, given
from aicc.services.center.views import DemandEvents, PowerCapEvent, PowerStatus
from aicc.services.nodes.views import Accelerator
from aicc.services.reports.views import MonthlyReport
from aicc.services.tenancy.views import AuditEntries, AuditVerification


class Accelerators(Resource):
    def list(self) -> builtins.list[Accelerator]:
        """Every model of the catalog (one page: the route answers them all)."""
        return self._each(Accelerator, "GET", api_path("accelerators"))


class Audit(Resource):
    def list(
        self, limit: int = 50, action: str | None = None, *, cursor: str | None = None
    ) -> AuditEntries:
        """The newest `limit` entries (older than `cursor`, an entry's id): one page, whose
        `next_cursor` reads on."""
        params = {"limit": limit, "action": action, "cursor": cursor}
        return self._one(AuditEntries, "GET", api_path("audit"), params=params)

    def verify(self) -> AuditVerification:
        """The hash chain walked: `intact`, `verified`, `pending`, `broken_at`, `reason`, and
        the head (`last_seq`, `last_hash`)."""
        return self._one(AuditVerification, "GET", api_path("audit", "verify"))


class Estimates(Resource):
    def create(
        self,
        scenario: Mapping[str, Any],
        *,
        accelerators: list[str] | None = None,
        count: int | None = None,
        sort: str = "time",
        project: str | None = None,
    ) -> Estimate:
        """Priced options for a scenario (docs/estimate.md), ranked by `time` or `cost`."""
        body = given(
            scenario=dict(scenario),
            accelerator=accelerators or None,
            count=count,
            sort=sort,
            project=project,
        )
        return self._one(Estimate, "POST", api_path("estimate"), json=body)


class Reports(Resource):
    """The center's monthly report (center admins): JSON, CSV text, PDF bytes."""

    def monthly(self, month: str | None = None) -> MonthlyReport:
        return self._one(
            MonthlyReport, "GET", api_path("reports", "monthly"), params={"month": month}
        )

    def monthly_csv(self, month: str | None = None) -> str:
        path = api_path("reports", "monthly.csv")
        return self._t.request("GET", path, params={"month": month}).text

    def monthly_pdf(self, month: str | None = None, lang: str = "en") -> bytes:
        path = api_path("reports", "monthly.pdf")
        return self._t.request("GET", path, params={"month": month, "lang": lang}).content


class PowerCap(Resource):
    """The site's power cap (center admins; docs/green.md)."""

    def show(self) -> PowerStatus:
        """The estimated facility power, the cap in force and the events."""
        return self._one(PowerStatus, "GET", api_path("center", "power-cap"))

    def set(
        self,
        cap: str | float,
        *,
        start: str | None = None,
        end: str | None = None,
        duration: str | int | None = None,
        note: str | None = None,
    ) -> PowerCapEvent:
        """A cap (`120kW`, or a number of kW) from `start` (default now) until `end` or for
        `duration` (`2h`)."""
        body = given(cap_kw=cap, start=start, end=end, duration_s=duration, note=note)
        path = api_path("center", "power-cap", "events")
        return self._one(PowerCapEvent, "POST", path, json=body)

    def openadr(self) -> DemandEvents:
        """The OpenADR events the VEN received, its answers and the shed it reported."""
        return self._one(DemandEvents, "GET", api_path("center", "power-cap", "openadr"))

    def clear(self, event_id: str) -> Json:
        """Remove one event: its cap no longer holds."""
        return self._t.call("DELETE", api_path("center", "power-cap", "events", event_id))
