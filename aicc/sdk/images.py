"""`client.images`: a project's images in the center registry, and `push`/`pull` of an OCI
image layout (or an OCI archive) that speak the OCI distribution API themselves, so neither
the CLI nor a notebook needs podman.

The registry sends a client without a token to AICC's token endpoint (`401` and
`WWW-Authenticate: Bearer realm=...`); this client answers that dance with the AICC token it
already holds (HTTP Basic, the token as password, as podman and skopeo do).
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aicc.sdk.transport import Json, Resource, api_path
from aicc.services.images.views import Image, ImageStorage, RegistryReference
from aicc.services.jobs.views import Job

if TYPE_CHECKING:
    import httpx

Progress = Callable[[int, int], None]  # bytes done, bytes in all
CHUNK = 1024 * 1024
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
MAX_MANIFEST = 4 * 1024 * 1024
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """The registry refused or did not answer as the OCI distribution API says."""


class _Registry:
    """A session with one registry for one repository: the token dance, then its calls."""

    def __init__(self, url: str, repository: str, aicc_token: str | None, actions: str) -> None:
        self.url, self.repository, self.actions = url.rstrip("/"), repository, actions
        self.basic = (
            "Basic " + base64.b64encode(f"aicc:{aicc_token}".encode()).decode()
            if aicc_token
            else None
        )
        import httpx  # the HTTP stack loads on first use (`aicc --help` stays light)

        self.http = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
        self.bearer: str | None = None

    def close(self) -> None:
        self.http.close()

    def _login(self, challenge: str) -> None:
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() != "bearer":
            raise RegistryError(f"registry asks for {scheme or 'nothing'}, not a bearer token")
        fields = dict(CHALLENGE.findall(rest))
        params = {
            "service": fields.get("service", ""),
            "scope": f"repository:{self.repository}:{self.actions}",
        }
        headers = {"Authorization": self.basic} if self.basic else {}
        answer = self.http.get(fields.get("realm", ""), params=params, headers=headers)
        if answer.status_code != 200:
            raise RegistryError(f"token endpoint: {answer.status_code} {answer.text[:200]}")
        self.bearer = answer.json()["token"]

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, after a token when the registry asks for one; a second 401 or a 403 is
        the caller's refusal."""
        url = path if path.startswith("http") else self.url + path
        for attempt in (0, 1):
            headers = dict(kwargs.pop("headers", {}) or {})
            if self.bearer:
                headers["Authorization"] = f"Bearer {self.bearer}"
            answer = self.http.request(method, url, headers=headers, **kwargs)
            if answer.status_code != 401 or attempt:
                break
            self._login(answer.headers.get("WWW-Authenticate", ""))
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
        if answer.status_code in (401, 403):
            raise RegistryError(
                f"{self.repository}: the registry refused {method} ({answer.status_code}): "
                "not yours, not shared with you, or it does not exist"
            )
        return answer


@contextmanager
def _layout(source: Path) -> Iterator[Path]:
    """An OCI image layout directory, unpacked first when `source` is an OCI archive."""
    if source.is_dir():
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="aicc-oci-") as tmp, tarfile.open(source) as tar:
        tar.extractall(tmp, filter="data")
        yield Path(tmp)


def _blob_path(layout: Path, digest: str) -> Path:
    if not DIGEST.match(digest):
        raise RegistryError(f"not a sha256 digest: {digest[:80]!r}")
    return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")


def _read_manifest(layout: Path, tag: str) -> tuple[str, dict[str, Any], bytes]:
    index = json.loads((layout / "index.json").read_text())
    manifests = index.get("manifests") or []
    if not manifests:
        raise RegistryError(f"{layout}: index.json lists no manifest")
    chosen = next(
        (
            m
            for m in manifests
            if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag
        ),
        manifests[0],
    )
    raw = _blob_path(layout, chosen["digest"]).read_bytes()
    return chosen.get("mediaType", ""), json.loads(raw), raw


def _chunks(path: Path, progress: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as f:
        while part := f.read(CHUNK):
            progress(len(part))
            yield part


class Images(Resource):
    def list(self, project: str | None = None) -> builtins.list[Image]:
        return self._items(Image, api_path("images"), {"project": project})

    def get(self, name: str, project: str | None = None) -> Image:
        return self._one(Image, "GET", api_path("images", name), params={"project": project})

    def share(self, name: str, visibility: str, project: str | None = None) -> Image:
        """`private`, `org` (the project's organization pulls it) or `public` (anybody)."""
        path = api_path("images", name)
        return self._one(
            Image, "PATCH", path, params={"project": project}, json={"visibility": visibility}
        )

    def delete(self, name: str, tag: str | None = None, project: str | None = None) -> Json:
        path = api_path("images", name)
        return self._t.call("DELETE", path, params={"project": project, "tag": tag})

    def storage(self, project: str | None = None) -> ImageStorage:
        path = api_path("registry", "storage")
        return self._one(ImageStorage, "GET", path, params={"project": project})

    def build(
        self,
        image: str,
        context: Path,
        *,
        containerfile: str = "Containerfile",
        project: str | None = None,
        resources: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Build `image` (NAME[:TAG] in the project, or ORG/PROJECT/NAME[:TAG]) from the
        Containerfile in `context` as a job (`kind: build`): `context` is uploaded as its
        workdir; the job pushes the image once built. Returns the job (follow it as any)."""
        from aicc.sdk.jobs import Jobs

        spec: dict[str, Any] = {
            "kind": "build",
            "build": {"image": image, "containerfile": containerfile},
        }
        if project is not None:
            spec["project"] = project
        if resources:
            spec["resources"] = resources
        return Jobs(self._t).submit(spec, workdir=Path(context), idempotency_key=idempotency_key)

    def reference(self, image: str, project: str | None = None) -> RegistryReference:
        """Where `image` points: `NAME[:TAG]` is in your project."""
        path = api_path("registry", "references", image)
        return self._one(RegistryReference, "GET", path, params={"project": project})

    def push(
        self,
        image: str,
        source: str | Path,
        *,
        project: str | None = None,
        progress: Progress | None = None,
    ) -> RegistryReference:
        """Push an OCI image layout directory (or an OCI archive of one) as `image`. Blobs the
        registry holds already are not sent again. Blocking; `progress(done, total)` in bytes."""
        ref = self.reference(image, project=project)
        registry = _Registry(ref.registry_url, ref.repository, self._t.token, "pull,push")
        try:
            with _layout(Path(source)) as layout:
                media_type, manifest, raw = _read_manifest(layout, ref.tag)
                blobs = [manifest["config"], *manifest.get("layers", [])]
                total = sum(int(b["size"]) for b in blobs)
                done = 0

                def step(n: int) -> None:
                    nonlocal done
                    done += n
                    if progress:
                        progress(done, total)

                for blob in blobs:
                    self._push_blob(registry, layout, blob["digest"], int(blob["size"]), step)
                answer = registry.request(
                    "PUT",
                    f"/v2/{ref.repository}/manifests/{ref.tag}",
                    content=raw,
                    headers={"Content-Type": manifest.get("mediaType") or media_type},
                )
                if answer.status_code != 201:
                    raise RegistryError(f"manifest: {answer.status_code} {answer.text[:300]}")
        finally:
            registry.close()
        return ref

    @staticmethod
    def _push_blob(
        registry: _Registry, layout: Path, digest: str, size: int, step: Callable[[int], None]
    ) -> None:
        repo = registry.repository
        if registry.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 200:
            step(size)
            return
        started = registry.request("POST", f"/v2/{repo}/blobs/uploads/")
        if started.status_code != 202:
            raise RegistryError(f"upload of {digest}: {started.status_code} {started.text[:200]}")
        import httpx

        location = str(httpx.URL(registry.url).join(started.headers["Location"]))
        joiner = "&" if "?" in location else "?"
        answer = registry.request(
            "PUT",
            f"{location}{joiner}digest={digest}",
            content=_chunks(_blob_path(layout, digest), step),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
        if answer.status_code != 201:
            raise RegistryError(f"upload of {digest}: {answer.status_code} {answer.text[:200]}")

    def pull(
        self,
        image: str,
        dest: str | Path,
        *,
        project: str | None = None,
        progress: Progress | None = None,
    ) -> RegistryReference:
        """Pull `image` into the OCI image layout `dest` (made if missing). Blobs `dest` holds
        already (checked by digest) are not fetched again. Blocking."""
        ref = self.reference(image, project=project)
        layout = Path(dest)
        (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        registry = _Registry(ref.registry_url, ref.repository, self._t.token, "pull")
        try:
            answer = registry.request(
                "GET",
                f"/v2/{ref.repository}/manifests/{ref.tag}",
                headers={"Accept": MANIFEST_TYPES},
            )
            if answer.status_code != 200 or len(answer.content) > MAX_MANIFEST:
                raise RegistryError(f"{ref.reference}: manifest {answer.status_code}")
            raw = answer.content
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            manifest = json.loads(raw)
            blobs = [manifest["config"], *manifest.get("layers", [])]
            total = sum(int(b["size"]) for b in blobs)
            done = 0
            for blob in blobs:
                done = self._pull_blob(registry, layout, blob["digest"], done, total, progress)
            _blob_path(layout, digest).write_bytes(raw)
            media_type = answer.headers.get("Content-Type", "").split(";")[0]
            entry = {
                "mediaType": manifest.get("mediaType") or media_type,
                "digest": digest,
                "size": len(raw),
                "annotations": {"org.opencontainers.image.ref.name": ref.tag},
            }
            index_path = layout / "index.json"
            index = json.loads(index_path.read_text()) if index_path.exists() else {}
            kept = [
                m
                for m in index.get("manifests") or []
                if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") != ref.tag
            ]
            index = {"schemaVersion": 2, "manifests": [*kept, entry]}
            index_path.write_text(json.dumps(index))
            (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        finally:
            registry.close()
        return ref

    @staticmethod
    def _pull_blob(
        registry: _Registry,
        layout: Path,
        digest: str,
        done: int,
        total: int,
        progress: Progress | None,
    ) -> int:
        target = _blob_path(layout, digest)
        if target.exists() and _digest_of(target) == digest:
            done += target.stat().st_size
            if progress:
                progress(done, total)
            return done
        partial = target.with_suffix(".partial")
        url = f"/v2/{registry.repository}/blobs/{digest}"
        if registry.request("HEAD", url).status_code != 200:  # the token first, if needed
            raise RegistryError(f"blob {digest}: not in the registry")
        hasher = hashlib.sha256()
        headers = {"Authorization": f"Bearer {registry.bearer}"} if registry.bearer else {}
        with (
            registry.http.stream("GET", registry.url + url, headers=headers) as answer,
            partial.open("wb") as out,
        ):
            if answer.status_code != 200:
                raise RegistryError(f"blob {digest}: {answer.status_code}")
            for part in answer.iter_bytes(CHUNK):
                hasher.update(part)
                out.write(part)
                done += len(part)
                if progress:
                    progress(done, total)
        if "sha256:" + hasher.hexdigest() != digest:
            partial.unlink()
            raise RegistryError(f"blob {digest}: the bytes do not match their digest")
        shutil.move(partial, target)
        return done


def _digest_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while part := f.read(CHUNK):
            hasher.update(part)
    return "sha256:" + hasher.hexdigest()
