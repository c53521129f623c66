"""The center registry end to end, on a real `docker-registry` whose token server is a real
AICC server: tenant A pushes an image (the SDK speaks the registry's API), `GET /images` shows
it with its size; tenant B can neither pull it nor see it until A shares it; deleting removes it
from the registry; two tenants pushing the same base layer are each charged it while the
registry keeps it once; and podman and skopeo, with an AICC token as password, push and pull
as any registry client would."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete

from aicc.sdk.client import Client
from aicc.sdk.images import RegistryError
from aicc.services.images import images
from aicc.services.tenancy import tenancy
from aicc.store.tables.images import ImageBlobRow, ImageRepositoryRow, ImageTagRow
from aicc.store.tables.tenancy import UserRow
from aicc.testing import registry
from aicc.testing.polling import wait
from aicc.testing.registry import Center, layer_tar, oci_layout

pytestmark = pytest.mark.skipif(not registry.installed(), reason=registry.INSTALL_HINT)


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    with registry.center(tmp_path / "home") as c:
        yield c


def booked(api: Client, name: str, tag: str) -> dict:
    """The image once the registry's notification of its push has been booked."""

    def probe() -> dict | None:
        found = [i for i in api.images.list() if i.name == name]
        if found and tag in [t.tag for t in found[0].tags]:
            return found[0].model_dump(mode="json")
        return None

    return wait(f"{name}:{tag} booked", probe)


def test_push_list_share_pull_and_delete(
    center: Center, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    a, b = center.tenants("alpha", "beta")
    layer = layer_tar({"etc/demo.txt": b"alpha's library 1.0\n"})
    oci_layout(tmp_path / "img", layer)
    api_a, api_b = center.sdk(a), center.sdk(b)
    seen: list[tuple[int, int]] = []
    ref = api_a.images.push("demo:1", tmp_path / "img", progress=lambda d, t: seen.append((d, t)))
    assert ref.reference == f"{center.registry.host}/alpha/default/demo:1"
    assert seen and seen[-1][0] == seen[-1][1]

    image = booked(api_a, "demo", "1")
    blobs = list((tmp_path / "img" / "blobs" / "sha256").iterdir())
    config_and_layer = sum(f.stat().st_size for f in blobs) - max(
        f.stat().st_size for f in blobs if f.read_bytes().startswith(b'{"schemaVersion"')
    )
    assert image["size_bytes"] == config_and_layer > len(layer) - 1
    assert image["visibility"] == "private"
    assert image["repository"] == "alpha/default/demo"

    # B: refused by the registry, and the image is not there for B's API
    with pytest.raises(RegistryError, match="refused"):
        api_b.images.pull("alpha/default/demo:1", tmp_path / "b-out")
    http = httpx.Client(timeout=60, base_url=center.url)
    request.addfinalizer(http.close)
    hidden = http.get("/api/v1/images/demo", params={"project": a.project_id}, headers=b.headers)
    assert hidden.status_code == 404
    assert api_a.images.get("demo").tags[0].tag == "1"

    # `org` shares with A's organization only; `public` with everybody
    assert api_a.images.share("demo", "org").visibility == "org"
    with pytest.raises(RegistryError, match="refused"):
        api_b.images.pull("alpha/default/demo:1", tmp_path / "b-out")
    api_a.images.share("demo", "public")
    api_b.images.pull("alpha/default/demo:1", tmp_path / "b-out")
    got = {p.name: p.read_bytes() for p in (tmp_path / "b-out" / "blobs" / "sha256").iterdir()}
    assert layer in got.values()
    # B cannot delete or re-tag A's image
    with pytest.raises(RegistryError, match="refused"):
        api_b.images.push("alpha/default/demo:2", tmp_path / "img")

    # deleting a tag, then the image: gone from the registry too
    api_a.images.push("demo:2", tmp_path / "img")
    booked(api_a, "demo", "2")
    shared_manifest = http.delete("/api/v1/images/demo", params={"tag": "1"}, headers=a.headers)
    assert shared_manifest.status_code == 409 and "with 2" in shared_manifest.text
    oci_layout(tmp_path / "img3", layer_tar({"etc/demo.txt": b"alpha's library 3.0\n"}))
    api_a.images.push("demo:3", tmp_path / "img3")
    booked(api_a, "demo", "3")
    api_a.images.delete("demo", tag="3")
    assert [t.tag for t in api_a.images.get("demo").tags] == ["1", "2"]
    with pytest.raises(RegistryError):
        api_a.images.pull("demo:3", tmp_path / "a-out")
    api_a.images.delete("demo")
    assert api_a.images.list() == []
    with pytest.raises(RegistryError):
        api_a.images.pull("demo:1", tmp_path / "a-out")
    gone = http.get("/api/v1/images/demo", headers=a.headers)
    assert gone.status_code == 404
    admin = {"Authorization": f"Bearer {center.token}"}
    logged = http.get("/api/v1/audit", params={"limit": 100}, headers=admin).json()["items"]
    actions = [e["action"] for e in logged if e["org_id"] == a.org_id]
    assert actions.count("image.share") == 2 and actions.count("image.delete") == 2


def test_a_shared_base_layer_is_stored_once_and_charged_to_each(
    center: Center, tmp_path: Path
) -> None:
    a, b = center.tenants("alpha", "beta")
    base = layer_tar({"usr/lib/base.bin": os.urandom(256 * 1024)})
    oci_layout(tmp_path / "a", base, layer_tar({"a.txt": b"a"}))
    oci_layout(tmp_path / "b", base, layer_tar({"b.txt": b"b"}))
    api_a, api_b = center.sdk(a), center.sdk(b)
    api_a.images.push("app:1", tmp_path / "a")
    api_b.images.push("app:1", tmp_path / "b")
    size_a = booked(api_a, "app", "1")["size_bytes"]
    size_b = booked(api_b, "app", "1")["size_bytes"]
    assert api_a.images.storage().bytes == size_a > len(base)
    assert api_b.images.storage().bytes == size_b > len(base)

    blobs = center.registry.storage / "docker" / "registry" / "v2" / "blobs"
    stored = sum(f.stat().st_size for f in blobs.rglob("data"))
    assert stored < size_a + size_b - len(base) + 8192  # manifests; the base once
    import hashlib

    base_digest = hashlib.sha256(base).hexdigest()
    assert len([p for p in blobs.rglob("data") if p.parent.name == base_digest]) == 1


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(
    not (shutil.which("skopeo") and shutil.which("podman")), reason="needs skopeo and podman"
)
def test_podman_and_skopeo_with_an_aicc_token(center: Center, tmp_path: Path) -> None:
    a, b = center.tenants("alpha", "beta")
    secret_a = a.headers["Authorization"].removeprefix("Bearer ")
    secret_b = b.headers["Authorization"].removeprefix("Bearer ")
    oci_layout(tmp_path / "img", layer_tar({"hello.txt": b"hello from skopeo\n"}))
    target = f"docker://{center.registry.host}/alpha/default/tool:1"
    pushed = _run(
        "skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", f"aicc:{secret_a}",
        f"oci:{tmp_path / 'img'}", target,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    booked(center.sdk(a), "tool", "1")
    refused = _run("skopeo", "inspect", "--tls-verify=false", "--creds", f"aicc:{secret_b}", target)
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower() or "denied" in refused.stderr.lower()

    # a job's pull credential, as podman's and skopeo's password: this image, pull only
    with center.state.db.reader() as session:
        user = session.get(UserRow, a.user_id)
        assert user is not None
        credential = images.pull_credential(
            session,
            tenancy.principal_of(session, user),
            "tool:1",
            registry=center.state.settings.registry,
            home=center.state.settings.home,
        )
    inspected = _run(
        "skopeo", "inspect", "--tls-verify=false", "--creds", f"aicc:{credential}", target
    )
    assert inspected.returncode == 0, inspected.stderr
    again = _run(
        "skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", f"aicc:{credential}",
        f"oci:{tmp_path / 'img'}", target.replace("tool:1", "tool:2"),
    )  # fmt: skip
    assert again.returncode != 0  # a pull credential never pushes

    runroot = Path(tempfile.mkdtemp(prefix="aicc-pd-", dir="/tmp"))  # podman: under 50 chars
    storage = ["--root", str(tmp_path / "podman"), "--runroot", str(runroot)]
    reference = target.removeprefix("docker://")
    pulled = _run(
        "podman", *storage, "--storage-driver", "vfs", "pull", "--tls-verify=false",
        "--creds", f"podman-user:{secret_a}", reference,
    )  # fmt: skip
    try:
        assert pulled.returncode == 0, pulled.stderr
        listed = _run(
            "podman",
            *storage,
            "--storage-driver",
            "vfs",
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        )
        assert reference in listed.stdout
    finally:
        _run("podman", *storage, "--storage-driver", "vfs", "rmi", "--all", "--force")
        shutil.rmtree(tmp_path / "podman", ignore_errors=True)
        shutil.rmtree(runroot, ignore_errors=True)


def test_resync_rebuilds_the_books_from_the_registry(center: Center, tmp_path: Path) -> None:
    a, b = center.tenants("alpha", "beta")
    oci_layout(tmp_path / "img", layer_tar({"x.txt": b"x"}))
    api_a = center.sdk(a)
    api_a.images.push("lost:1", tmp_path / "img")
    before = booked(api_a, "lost", "1")
    with center.state.db.session() as session:  # as if the notification had never come
        for table in (ImageBlobRow, ImageTagRow, ImageRepositoryRow):
            session.execute(delete(table))
    assert api_a.images.list() == []
    with httpx.Client(timeout=60, base_url=center.url) as http:
        refused = http.post("/api/v1/registry/resync", headers=b.headers)
        assert refused.status_code == 403
        admin = {"Authorization": f"Bearer {center.token}"}
        done = http.post("/api/v1/registry/resync", headers=admin)
    assert done.status_code == 200, done.text
    assert done.json() == {"repositories": 1, "tags": 1}
    after = api_a.images.get("lost")
    assert (
        after.size_bytes == before["size_bytes"]
        and after.tags[0].digest == (before["tags"][0]["digest"])
    )
