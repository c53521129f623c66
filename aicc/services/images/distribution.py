"""What AICC asks the registry itself (the OCI distribution API), with tokens it issues to
itself: a manifest's blobs after a push, a repository's tags for a resync, a manifest's
deletion. Whatever the registry answers is bounded and validated before it is believed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx

from aicc.core import images as refs
from aicc.services.common import utcnow
from aicc.services.images import tokens
from aicc.services.images.keys import SigningKey

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MAX_MANIFEST = 4 * 1024 * 1024  # Distribution's own limit on a manifest
MAX_BLOBS = 1000  # layers of one manifest (Docker's overlay limit is 127)
MAX_BLOB_SIZE = 1 << 50
MAX_LIST = 10_000  # tags or repositories read in one resync


class RegistryError(Exception):
    """The registry did not answer as the API says, or not at all."""


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int


@dataclass(frozen=True)
class Manifest:
    digest: str
    blobs: tuple[Blob, ...]  # config and layers (an index: the manifests it lists)

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blobs)


def parse_manifest(digest: str, body: bytes) -> Manifest:
    """The blobs a manifest refers to, each a digest and a size; RegistryError if it is not one."""
    if len(body) > MAX_MANIFEST:
        raise RegistryError("manifest larger than 4 MiB")
    try:
        doc = json.loads(body)
    except ValueError:
        raise RegistryError("manifest is not JSON") from None
    if not isinstance(doc, dict):
        raise RegistryError("manifest is not an object")
    listed: list[Any] = []
    if isinstance(doc.get("config"), dict):
        listed.append(doc["config"])
    for key in ("layers", "manifests"):
        more = doc.get(key) or []
        if not isinstance(more, list):
            raise RegistryError(f"manifest {key} is not a list")
        listed.extend(more)
    if len(listed) > MAX_BLOBS:
        raise RegistryError(f"manifest lists more than {MAX_BLOBS} blobs")
    blobs: dict[str, Blob] = {}
    for item in listed:
        if not isinstance(item, dict):
            raise RegistryError("manifest descriptor is not an object")
        d, size = item.get("digest"), item.get("size")
        if not isinstance(d, str) or not refs.DIGEST.match(d):
            raise RegistryError("manifest descriptor without a sha256 digest")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_BLOB_SIZE:
            raise RegistryError("manifest descriptor size out of range")
        blobs.setdefault(d, Blob(d, size))
    return Manifest(digest, tuple(blobs.values()))


class Registry:
    """A client of one registry for AICC's own calls. Blocking (httpx)."""

    def __init__(self, url: str, key: SigningKey, service: str, timeout_s: float = 30.0) -> None:
        self.url, self.key, self.service = url.rstrip("/"), key, service
        self.http = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def _token(self, access: tokens.Access) -> str:
        issued = tokens.issue(
            self.key, service=self.service, subject="aicc", access=[access], ttl_s=60, now=utcnow()
        )
        return issued.token

    def _call(self, method: str, path: str, access: tokens.Access, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token(access)}", **kwargs.pop("headers", {})}
        try:
            return self.http.request(method, self.url + path, headers=headers, **kwargs)
        except httpx.HTTPError as err:
            raise RegistryError(f"registry {self.url}: {err}") from None

    def manifest(self, repository: str, version: str) -> Manifest | None:
        """The manifest of `repository` at a tag or digest, or None where there is none."""
        try:
            return self._manifest(repository, version)
        except httpx.HTTPError as err:
            raise RegistryError(f"registry {self.url}: {err}") from None

    def _manifest(self, repository: str, version: str) -> Manifest | None:
        access = tokens.Access("repository", repository, ("pull",))
        with self.http.stream(
            "GET",
            f"{self.url}/v2/{repository}/manifests/{version}",
            headers={
                "Authorization": f"Bearer {self._token(access)}",
                "Accept": ", ".join(MANIFEST_TYPES),
            },
        ) as answer:
            if answer.status_code == 404:
                return None
            if answer.status_code != 200:
                raise RegistryError(f"GET manifest {repository}:{version}: {answer.status_code}")
            body = b""
            for part in answer.iter_bytes():
                body += part
                if len(body) > MAX_MANIFEST:
                    raise RegistryError("manifest larger than 4 MiB")
            digest = answer.headers.get("Docker-Content-Digest", "")
        if not refs.DIGEST.match(digest):
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
        return parse_manifest(digest, body)

    def tags(self, repository: str) -> list[str]:
        access = tokens.Access("repository", repository, ("pull",))
        answer = self._call("GET", f"/v2/{repository}/tags/list?n={MAX_LIST}", access)
        if answer.status_code == 404:
            return []
        found = _list(answer, "tags")
        return [t for t in found if refs.TAG.match(t)]

    def catalog(self) -> list[str]:
        access = tokens.Access("registry", "catalog", ("*",))
        names: list[str] = []
        last = ""
        while len(names) < MAX_LIST:  # pages of 100: Distribution refuses n over its maximum
            answer = self._call("GET", "/v2/_catalog", access, params={"n": 100, "last": last})
            page = _list(answer, "repositories")
            names += page
            if not page or "next" not in answer.headers.get("Link", ""):
                break
            last = page[-1]
        good = []
        for name in names:
            try:
                good.append(refs.check_repository(name))
            except refs.BadReference:
                continue
        return good

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete a manifest (and so every tag on it); False where it was gone already."""
        access = tokens.Access("repository", repository, ("delete",))
        answer = self._call("DELETE", f"/v2/{repository}/manifests/{digest}", access)
        if answer.status_code == 404:
            return False
        if answer.status_code not in (200, 202):
            raise RegistryError(
                f"DELETE {repository}@{digest}: {answer.status_code} {answer.text[:200]}"
            )
        return True


def _list(answer: httpx.Response, key: str) -> list[str]:
    if answer.status_code != 200 or len(answer.content) > MAX_MANIFEST:
        raise RegistryError(f"registry listing: {answer.status_code}")
    try:
        doc = answer.json()
    except ValueError:
        raise RegistryError("registry listing is not JSON") from None
    items = doc.get(key) if isinstance(doc, dict) else None
    return [i for i in items or [] if isinstance(i, str)][:MAX_LIST]


_CLIENTS: dict[tuple[str, str, str], Registry] = {}


def client(url: str, key: SigningKey, service: str) -> Registry:
    """One client per registry for the process (its connections are kept)."""
    found = _CLIENTS.get((url, key.kid, service))
    if found is None:
        found = _CLIENTS.setdefault((url, key.kid, service), Registry(url, key, service))
    return found
