"""`client.federation`: the sites of this server's federation (operators), parsed into the
federation context's read models (`aicc.services.federation.views`)."""

from __future__ import annotations

from aicc.sdk.transport import Resource, api_path
from aicc.services.federation.views import Settlement, Site


class Federation(Resource):
    def sites(self) -> list[Site]:
        """The peers, each with its last advert, its age and `state` (`up` or `lost`)."""
        return self._items(Site, api_path("federation", "sites"), {})

    def settlements(self, site: str | None = None, state: str | None = None) -> list[Settlement]:
        """What this site owes its peers, one row per job attempt that ran at one."""
        path = api_path("federation", "settlements")
        return self._items(Settlement, path, {"site": site, "state": state})

    def settle(self, settlement_id: int) -> Settlement:
        path = api_path("federation", "settlements", str(settlement_id), "settle")
        return self._one(Settlement, "POST", path)
