"""`client.accelerators`, `client.audit`, `client.estimates`: what the center offers, what
happened in it, and what a job would take and cost."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aicc.sdk.transport import Json, Resource, api_path, given


class Accelerators(Resource):
    def list(self) -> Json:
        return self._t.call("GET", api_path("accelerators"))


class Audit(Resource):
    def list(self, limit: int = 50, action: str | None = None) -> Json:
        """The newest `limit` entries (one page: the route keeps no cursor)."""
        return self._t.call("GET", api_path("audit"), params={"limit": limit, "action": action})

    def verify(self) -> Json:
        """The hash chain walked: `intact`, `verified`, `pending`, `broken_at`, `reason`, and
        the head (`last_seq`, `last_hash`)."""
        return self._t.call("GET", api_path("audit", "verify"))


class Estimates(Resource):
    def create(
        self,
        scenario: Mapping[str, Any],
        *,
        accelerators: list[str] | None = None,
        count: int | None = None,
        sort: str = "time",
        project: str | None = None,
    ) -> Json:
        """Priced options for a scenario (docs/estimate.md), ranked by `time` or `cost`."""
        body = given(
            scenario=dict(scenario),
            accelerator=accelerators or None,
            count=count,
            sort=sort,
            project=project,
        )
        return self._t.call("POST", api_path("estimate"), json=body)


class Reports(Resource):
    """The center's monthly report (center admins): JSON, CSV text, PDF bytes."""

    def monthly(self, month: str | None = None) -> Json:
        return self._t.call("GET", api_path("reports", "monthly"), params={"month": month})

    def monthly_csv(self, month: str | None = None) -> str:
        path = api_path("reports", "monthly.csv")
        return self._t.request("GET", path, params={"month": month}).text

    def monthly_pdf(self, month: str | None = None, lang: str = "en") -> bytes:
        path = api_path("reports", "monthly.pdf")
        return self._t.request("GET", path, params={"month": month, "lang": lang}).content
