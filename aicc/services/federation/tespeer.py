"""The client a site uses to send jobs to a federation peer of kind `tes`: any GA4GH TES 1.1
server, called with the `py-tes` client (`tes.HTTPClient`) and the peer's bearer token.

Only the federation loop calls it, never a request handler. Its errors read as the AICC peers'
client's do, so the loop treats both alike: a 4xx is `PeerRefused` (the task itself is wrong
there, the job fails with the peer's detail), anything else (no answer, a 5xx) is `PeerDown`
(try again next pass). `py-tes` is imported on first use, so a site without TES peers needs it not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aicc.config import FederationPeer, FederationSettings
from aicc.core import tes_peer
from aicc.services.federation.peers import PeerDown, PeerRefused


def tes_peers(fed: FederationSettings) -> dict[str, FederationPeer]:
    return {p.site: p for p in fed.peers if p.kind == "tes"}


@dataclass
class TesPeers:
    fed: FederationSettings

    def _client(self, site: str) -> Any:
        import tes

        peer = tes_peers(self.fed).get(site)
        if peer is None:
            raise PeerRefused(404, f"site {site} is not a tes peer among federation.peers")
        token = peer.token.get_secret_value() if peer.token is not None else None
        return tes.HTTPClient(
            peer.url.rstrip("/"), timeout=max(1, int(self.fed.request_timeout_s)), token=token
        )

    def _call(self, site: str, what: str, *args: Any, **kwargs: Any) -> Any:
        import requests

        client = self._client(site)
        try:
            return getattr(client, what)(*args, **kwargs)
        except requests.HTTPError as err:
            answer = err.response
            if answer is not None and 400 <= answer.status_code < 500:
                try:
                    detail = str(answer.json().get("detail") or answer.json().get("message"))
                except (ValueError, AttributeError):
                    detail = answer.text[:200]
                raise PeerRefused(answer.status_code, detail) from None
            raise PeerDown(f"site {site}: {str(err)[:200]}") from None
        except requests.RequestException as err:
            raise PeerDown(f"site {site}: {str(err)[:200]}") from None

    def submit(self, site: str, task: dict[str, Any]) -> str:
        """Create the task; its id at the peer."""
        import tes
        from tes.utils import unmarshal

        return str(self._call(site, "create_task", unmarshal(task, tes.Task)))

    def task(self, site: str, task_id: str) -> dict[str, Any]:
        """The task in the FULL view (its executors' logs), as a plain document."""
        found = self._call(site, "get_task", task_id, view="FULL")
        answer: dict[str, Any] = json.loads(found.as_json())  # times as ISO 8601 text
        return answer

    def cancel(self, site: str, task_id: str) -> None:
        self._call(site, "cancel_task", task_id)


def accelerators(fed: FederationSettings, site: str) -> list[str]:
    peer = tes_peers(fed).get(site)
    return list(peer.accelerators) if peer else []


def refusal(fed: FederationSettings, site: str, spec: Any) -> str | None:
    """Why `spec` cannot go to the tes peer `site` (None: it can)."""
    try:
        tes_peer.refuse_unexpressible(spec, accelerators=accelerators(fed, site))
    except tes_peer.NotExpressible as err:
        return f"a TES peer cannot run it: {err}"
    return None
