"""The signed HTTP client a site uses to call its peers' APIs.

Every call is signed (`signing.sign`) and times out after `federation.request_timeout_s`; a peer
that does not answer raises `PeerDown`, which callers treat as "try again next pass" (a site is
only declared lost by the age of its last advert, never by one failed call).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aicc.config import FederationSettings
from aicc.services.common import utcnow
from aicc.services.federation import signing


class PeerDown(RuntimeError):
    """The peer did not answer, or answered with a server error."""


class PeerRefused(RuntimeError):
    """The peer answered with a 4xx: the request itself is wrong there (status, detail)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status


@dataclass
class Peers:
    fed: FederationSettings
    key: Ed25519PrivateKey

    def url(self, site: str) -> str:
        for peer in self.fed.peers:
            if peer.site == site:
                return peer.url.rstrip("/")
        raise PeerRefused(404, f"site {site} is not among federation.peers")

    def call(
        self,
        site: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One signed request; the answer when it is 2xx."""
        assert self.fed.site is not None
        content = b"" if body is None else json.dumps(body).encode()
        signed = signing.sign(self.key, self.fed.site, method, path, content, utcnow(), to=site)
        sent = {**signed, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/json"
        try:
            answer = httpx.request(
                method,
                self.url(site) + path,
                content=content,
                headers=sent,
                timeout=self.fed.request_timeout_s,
            )
        except httpx.HTTPError as err:
            raise PeerDown(f"site {site}: {err}") from None
        if answer.status_code >= 500:
            raise PeerDown(f"site {site}: {answer.status_code} {answer.text[:200]}")
        if answer.status_code >= 400:
            try:
                detail = str(answer.json().get("detail"))
            except ValueError:
                detail = answer.text[:200]
            raise PeerRefused(answer.status_code, detail)
        return answer

    def push_advert(self, site: str, advert: dict[str, Any]) -> None:
        self.call(site, "POST", "/api/v1/federation/adverts", advert)

    def submit(self, site: str, spec: dict[str, Any], key: str) -> dict[str, Any]:
        answer = self.call(site, "POST", "/api/v1/jobs", spec, {"Idempotency-Key": key})
        job: dict[str, Any] = answer.json()
        return job

    def job(self, site: str, job_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call(site, "GET", f"/api/v1/jobs/{job_id}").json()
        return found

    def logs(self, site: str, job_id: str, stream: str) -> str:
        return self.call(site, "GET", f"/api/v1/jobs/{job_id}/logs?stream={stream}").text

    def outputs(self, site: str, job_id: str) -> bytes:
        return self.call(site, "GET", f"/api/v1/jobs/{job_id}/outputs").content

    def cancel(self, site: str, job_id: str) -> None:
        self.call(site, "POST", f"/api/v1/jobs/{job_id}/cancel")
