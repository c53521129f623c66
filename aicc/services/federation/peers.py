"""The signed HTTP client a site uses to call its peers' APIs.

Every call is signed (`signing.sign`) and times out after `federation.request_timeout_s`; a peer
that does not answer raises `PeerDown`, which callers treat as "try again next pass" (a site is
only declared lost by the age of its last advert, never by one failed call).

A peer is another center, and what it sends is as hostile as what a job writes (issue 35): a
job's outputs archive is streamed to a file, never held in memory, and refused past a size
(`AnswerTooLarge`), its encoding the identity (a compressed answer would unpack in memory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aicc.config import FederationSettings
from aicc.services.common import utcnow
from aicc.services.federation import signing


class PeerDown(RuntimeError):
    """The peer did not answer, or answered with a server error."""


class AnswerTooLarge(RuntimeError):
    """The peer's answer is larger than the caller takes; what came is not used."""


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
        content = b"" if body is None else json.dumps(body).encode()
        sent = self._signed(site, method, path, content, headers)
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
        return self._checked(site, answer)

    def _signed(
        self, site: str, method: str, path: str, content: bytes, headers: dict[str, str] | None
    ) -> dict[str, str]:
        assert self.fed.site is not None
        signed = signing.sign(self.key, self.fed.site, method, path, content, utcnow(), to=site)
        return {**signed, **(headers or {})}

    @staticmethod
    def _checked(site: str, answer: httpx.Response) -> httpx.Response:
        """`answer` when it is 2xx, else PeerDown (5xx) or PeerRefused (4xx)."""
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

    def outputs(self, site: str, job_id: str, into: IO[bytes], max_bytes: int) -> int:
        """Write the job's outputs archive into `into` as it arrives; returns its bytes.
        `AnswerTooLarge` when it declares or sends more than `max_bytes` (reading stops there)."""
        path = f"/api/v1/jobs/{job_id}/outputs"
        sent = self._signed(site, "GET", path, b"", {"Accept-Encoding": "identity"})
        try:
            with httpx.stream(
                "GET", self.url(site) + path, headers=sent, timeout=self.fed.request_timeout_s
            ) as answer:
                if answer.status_code >= 400:  # its detail, from the first 64 KiB at most
                    head = b""
                    for block in answer.iter_raw():
                        head += block
                        if len(head) >= 65536:
                            break
                    error = httpx.Response(answer.status_code, content=head[:65536])
                    self._checked(site, error)
                encoding = answer.headers.get("content-encoding", "identity").lower()
                if encoding != "identity":
                    raise PeerDown(f"site {site}: the outputs came {encoding}-encoded, not as is")
                declared = answer.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    raise AnswerTooLarge(
                        f"site {site} offers an outputs archive of {declared} bytes, more than "
                        f"the {max_bytes} this site takes (federation.max_outputs_mib)"
                    )
                got = 0
                for block in answer.iter_raw():
                    got += len(block)
                    if got > max_bytes:
                        raise AnswerTooLarge(
                            f"site {site} sent an outputs archive of more than {max_bytes} "
                            "bytes, more than this site takes (federation.max_outputs_mib)"
                        )
                    into.write(block)
                return got
        except httpx.HTTPError as err:
            raise PeerDown(f"site {site}: {err}") from None

    def cancel(self, site: str, job_id: str) -> None:
        self.call(site, "POST", f"/api/v1/jobs/{job_id}/cancel")
