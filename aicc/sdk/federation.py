"""`client.federation`: the sites of this server's federation (operators)."""

from __future__ import annotations

from aicc.sdk.transport import Json, Resource, api_path


class Federation(Resource):
    def sites(self) -> Json:
        """The peers, each with its last advert, its age and `state` (`up` or `lost`)."""
        return self._t.pages(api_path("federation", "sites"), {})

    def settlements(self, site: str | None = None, state: str | None = None) -> Json:
        """What this site owes its peers, one row per job attempt that ran at one."""
        return self._t.pages(api_path("federation", "settlements"), {"site": site, "state": state})

    def settle(self, settlement_id: int) -> Json:
        path = api_path("federation", "settlements", str(settlement_id), "settle")
        return self._t.call("POST", path)
