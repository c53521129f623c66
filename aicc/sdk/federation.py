"""`client.federation`: the sites of this server's federation (operators)."""

from __future__ import annotations

from aicc.sdk.transport import Json, Resource, api_path


class Federation(Resource):
    def sites(self) -> Json:
        """The peers, each with its last advert, its age and `state` (`up` or `lost`)."""
        return self._t.pages(api_path("federation", "sites"), {})
