"""A real center registry for tests and benchmarks: Debian's `docker-registry` (CNCF
Distribution 2.8) configured by AICC's own `embedded.write_config`, beside a real server that
is its token server and receives its notifications.

    with center(tmp_path) as c:   # c.url, c.token, c.state, c.registry.url
        ...

Every process started here is stopped in a `finally`, also when its start fails half-way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from aicc.config import RegistrySettings
from aicc.registry_process import Supervised
from aicc.sdk.client import Client
from aicc.server import ServerState
from aicc.services.images import embedded
from aicc.testing import startup
from aicc.testing.servers import free_port, over_http
from aicc.testing.tenants import Tenant, make_tenant

BINARY = Path("/usr/bin/docker-registry")
INSTALL_HINT = "apt install docker-registry (Debian's CNCF Distribution)"


def installed() -> bool:
    return BINARY.exists() or shutil.which("docker-registry") is not None


@dataclass
class RegistryProcess:
    url: str
    host: str  # host:port, as image references name it
    storage: Path
    log: Path
    process: subprocess.Popen[bytes]


def _answers(url: str) -> bool:
    try:  # without a token the API root answers 401: the registry is up
        return startup.get(f"{url}/v2/", timeout=2.0).status_code in (200, 401)
    except httpx.HTTPError:
        return False


@contextmanager
def running(
    home: Path, settings: RegistrySettings, *, aicc_url: str, port: int
) -> Iterator[RegistryProcess]:
    """`docker-registry serve` with the config AICC writes for the server at `aicc_url`."""
    where = embedded.write_config(home, settings, aicc_url=aicc_url, listen=f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}"
    supervised = Supervised(BINARY, where)
    process = supervised.spawn()
    try:
        startup.wait_started(
            "docker-registry",
            lambda: _answers(url),
            exited=process.poll,
            progress=startup.progress_of(process.pid, where.log),
        )
        yield RegistryProcess(url, f"127.0.0.1:{port}", where.storage, where.log, process)
    finally:
        supervised.stop()


@dataclass
class Center:
    """A server and its registry."""

    url: str
    token: str
    state: ServerState
    registry: RegistryProcess

    def tenants(self, *names: str) -> list[Tenant]:
        """New tenants, an organization each with a member and its token, made by the admin."""
        # 30 s, as every other test client: httpx's 5 s default failed CI on a loaded machine
        with httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        ) as h:
            return [make_tenant(h, name) for name in names]

    def sdk(self, who: Tenant) -> Client:
        """The SDK as `who`."""
        return Client(self.url, who.token)


@contextmanager
def center(home: Path, **settings: Any) -> Iterator[Center]:
    """A real server (over HTTP, in this process) and a real registry that asks it for tokens."""
    settings.setdefault("sandbox", "auto")  # no job runs here: bwrap where it is, else none
    port = free_port()
    registry = {"embedded": False, "url": f"http://127.0.0.1:{port}"}
    with over_http(home, registry=registry, **settings) as (url, token, state):  # noqa: SIM117
        # the registry's config needs the server's address and settings: one after the other
        with running(home, state.settings.registry, aicc_url=url, port=port) as process:
            yield Center(url, token, state, process)


# --- small OCI images, written by hand (no podman, no network) -------------------------------

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def _blob(layout: Path, data: bytes, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer: a tar of `files` (path: content), regular files, mode 0644."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _finish(layout: Path, layers: list[dict[str, Any]]) -> str:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        # one entry per layer, as every builder writes: buildah refuses a base without them
        "history": [{"created_by": "aicc.testing.registry"} for _ in layers],
    }
    config_blob = _blob(
        layout, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config_blob,
        "layers": layers,
    }
    entry = _blob(layout, json.dumps(manifest).encode(), MANIFEST_TYPE)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return str(entry["digest"])


def oci_layout(layout: Path, *layers: bytes) -> str:
    """An OCI image layout of these uncompressed layer tars (`layer_tar`) and a config; the
    manifest's digest. skopeo, podman (through the registry) and the SDK read it."""
    return _finish(layout, [_blob(layout, layer, LAYER_TYPE) for layer in layers])


def random_layout(layout: Path, total_bytes: int, layers: int = 4) -> str:
    """An image of `layers` layers, each one file of random bytes, `total_bytes` in all,
    written to disk in pieces (for transfer benchmarks: nothing compresses)."""
    blobs_dir = layout / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    found = []
    for n in range(layers):
        size = total_bytes // layers
        part = blobs_dir / f"layer{n}.partial"
        hasher = hashlib.sha256()
        with part.open("wb") as out:
            header = tarfile.TarInfo(f"data{n}.bin")
            header.size, header.mode, header.mtime = size, 0o644, 0
            head = header.tobuf(format=tarfile.PAX_FORMAT)
            out.write(head)
            hasher.update(head)
            left = size
            while left:
                piece = os.urandom(min(left, 8 << 20))
                out.write(piece)
                hasher.update(piece)
                left -= len(piece)
            tail = b"\0" * ((512 - size % 512) % 512 + 1024)
            out.write(tail)
            hasher.update(tail)
        digest = hasher.hexdigest()
        written = part.stat().st_size
        part.rename(blobs_dir / digest)
        found.append({"mediaType": LAYER_TYPE, "digest": f"sha256:{digest}", "size": written})
    return _finish(layout, found)
