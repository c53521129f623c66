"""A build is a job: the probes of a hostile tenant's image builds (real server, registry,
podman and bubblewrap). Tenant B tries to build tenant A's private image into its own by hiding
a FROM from the server's check (a parser directive, a byte-order mark, a transport), to read or
plant what A's builds cache, and to fetch from the node's network with `ADD <url>`; and the build
tool itself, handed a Containerfile no check has seen, finds none of the node's images or files.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from test_image_build import build, center

from aicc.executors import container as containers
from aicc.executors import image_build, netns
from aicc.executors.sandbox import detect
from aicc.testing import registry
from aicc.testing.images import cleaned, make_image, podman_or_skip, rootfs_tar
from aicc.testing.isolation import Listener, listening
from aicc.testing.polling import wait
from aicc.testing.registry import Center, oci_layout

pytestmark = pytest.mark.skipif(not registry.installed(), reason=registry.INSTALL_HINT)

__all__ = ["center"]  # the fixture, used by name (tests/api/test_image_build.py)
SMALL = {"cpu": 0.5, "memory": "256MiB"}
A_SECRET = "tenant-a-build-secret-71e2"


@pytest.fixture
def outside() -> Iterator[Listener]:
    with listening("0.0.0.0") as opened:  # the machine's loopback and its own addresses
        yield opened


def _context(where: Path, containerfile: bytes) -> Path:
    where.mkdir(parents=True)
    (where / "Containerfile").write_bytes(containerfile)
    return where


def test_a_from_hidden_from_the_check_is_refused_before_anything_runs(
    center: Center, tmp_path: Path
) -> None:
    a, b = center.tenants("alpha", "beta")
    oci_layout(tmp_path / "base", rootfs_tar({"etc/secret": A_SECRET.encode()}))
    api_a, api_b = center.sdk(a), center.sdk(b)
    private = api_a.images.push("base:1", tmp_path / "base").reference
    oci_layout(tmp_path / "mine", rootfs_tar({}))
    api_b.images.push("mine:1", tmp_path / "mine")
    hidden = {  # what the probe of 9e3f5a8 built, and its kin
        "escape": f"# escape=`\nFROM mine:1 \\\nFROM containers-storage:{private}\n",
        "bom": f"\ufeffFROM containers-storage:{private}\nFROM mine:1\n",
        "bom-oci": "\ufeffFROM oci:/var/lib/containers/storage\nFROM mine:1\n",
        "transport": f"FROM mine:1\nFROM containers-storage:{private}\n",
        "oci": "FROM oci:/var/lib/containers/storage:x\n",
        "copy-from": "FROM mine:1\nCOPY --from=docker-archive:/tmp/a.tar / /\n",
        "nul": f"FROM mine:1\x00\nFROM containers-storage:{private}\n",
        "lone-cr": f"FROM mine:1\rFROM containers-storage:{private}\n",
        "rlo": "FROM mine:1\n# \u202e\n",
    }
    said = {
        "escape": "parser directive 'escape'",
        "bom": "U+FEFF",
        "bom-oci": "U+FEFF",
        "transport": "transport containers-storage:",
        "oci": "transport oci:",
        "copy-from": "transport docker-archive:",
        "nul": "U+0000",
        "lone-cr": "U+000D",
        "rlo": "U+202E",
    }
    with httpx.Client(base_url=center.url, headers=b.headers, timeout=30) as http_b:
        for name, text in hidden.items():
            sha = api_b.upload_workdir(_context(tmp_path / name, text.encode()))
            spec = {"kind": "build", "build": {"image": "stolen:1"}, "workdir_sha256": sha}
            answer = http_b.post("/api/v1/jobs", json={**spec, "resources": SMALL})
            assert answer.status_code == 422, (name, answer.text)
            assert said[name] in answer.text, (name, answer.text)
            assert A_SECRET not in answer.text
        sha = api_b.upload_workdir(_context(tmp_path / "latin1", b"FROM mine:1\n# caf\xe9\n"))
        spec = {"kind": "build", "build": {"image": "stolen:1"}, "workdir_sha256": sha}
        answer = http_b.post("/api/v1/jobs", json={**spec, "resources": SMALL})
        assert answer.status_code == 422 and "not UTF-8" in answer.text, answer.text
        assert http_b.get("/api/v1/jobs").json()["items"] == []  # nothing was accepted


def test_the_build_tool_finds_none_of_the_nodes_images_or_files(tmp_path: Path) -> None:
    """Whatever buildah's own parse finds (here, a Containerfile no check has read), the build
    in its sandbox reaches only its project's storage: not an image of the node's storage, not
    an OCI layout on the node's disk. The same FROM outside the sandbox finds both."""
    box = podman_or_skip()
    sandbox = detect("bwrap")
    assert sandbox is not None
    secret = make_image(box.podman, tmp_path, "1", {"etc/secret": A_SECRET.encode()})
    oci_layout(tmp_path / "layout", rootfs_tar({"etc/secret": A_SECRET.encode()}))
    storage = tmp_path / "builds" / "project-b"
    for part in ("storage", "libpod", "tmp"):
        (storage / part).mkdir(parents=True)
    containers.runroot(storage).mkdir(parents=True, exist_ok=True)
    froms = {
        "node-storage": f"FROM containers-storage:{secret}\n",
        "node-disk": f"FROM oci:{tmp_path / 'layout'}\n",
        "proc-root": f"FROM oci:/proc/1/root{tmp_path / 'layout'}\n",
    }
    with cleaned(box.podman, [secret], []):
        for name, text in froms.items():
            ctx = _context(tmp_path / "ctx" / name, f"{text}RUN cat /etc/secret\n".encode())
            argv = image_build.build_argv(
                box,
                storage=storage,
                containerfile=ctx / "Containerfile",
                context=ctx,
                target=f"localhost/stolen-{name}:1",
            )
            confine = sandbox.build_argv(
                writable=[storage, containers.runroot(storage)], read_only=[ctx]
            )
            env = {"PATH": containers.SAFE_PATH, "TMPDIR": str(storage / "tmp")}
            inside = subprocess.run(
                [*confine, *argv], capture_output=True, text=True, env=env, timeout=120
            )
            assert inside.returncode != 0, (name, inside.stdout, inside.stderr)
            assert A_SECRET not in inside.stdout + inside.stderr, name
            if name == "proc-root":
                continue
            bare = [*argv[:1], *argv[argv.index("build") :]]  # the node's storage, no sandbox
            bare[bare.index("--file") + 1] = str(ctx / "Containerfile")
            outside = subprocess.run(bare, capture_output=True, text=True, timeout=120)
            assert A_SECRET in outside.stdout + outside.stderr, (name, outside.stderr)
            subprocess.run(
                [box.podman, "rmi", "--force", f"localhost/stolen-{name}:1"], capture_output=True
            )


def test_builds_share_no_cache_across_projects_and_fetch_nothing_from_the_node(
    center: Center, tmp_path: Path, outside: Listener
) -> None:
    a, b = center.tenants("alpha", "beta")
    api_a, api_b = center.sdk(a), center.sdk(b)
    for who, api in (("a", api_a), ("b", api_b)):
        oci_layout(tmp_path / f"base-{who}", rootfs_tar({}))
        api.images.push("base:1", tmp_path / f"base-{who}")
    wait("the pushes booked", lambda: bool(api_a.images.list() and api_b.images.list()))
    cache = "RUN --mount=type=cache,id=shared,target=/c"
    plant = f'FROM base:1\n{cache} sh -c "echo B-PLANTED-{{n}} > /c/planted"\n'
    look = f'FROM base:1\n{cache} sh -c "cat /c/planted 2>/dev/null || echo NOTHING-PLANTED"\n'
    port = urlsplit(center.url).port
    node = [x for x in netns.node_addresses() if x != "127.0.0.1" and ":" not in x]
    fetches = [f"http://127.0.0.1:{port}/openapi.json", f"http://127.0.0.1:{outside.port}/x"]
    fetches += [f"http://{x}:{outside.port}/x" for x in node]
    podman = podman_or_skip().podman
    with (
        cleaned(podman, [], []),
        httpx.Client(base_url=center.url, headers=a.headers, timeout=30) as http_a,
        httpx.Client(base_url=center.url, headers=b.headers, timeout=30) as http_b,
    ):
        job, log = build(api_b, http_b, "plant:1", _context(tmp_path / "p1", plant.encode()))
        assert job["state"] == "succeeded", log
        job, log = build(api_a, http_a, "look:1", _context(tmp_path / "l1", look.encode()))
        assert job["state"] == "succeeded", log
        assert "NOTHING-PLANTED" in log and "B-PLANTED" not in log, log
        # B's own next build sees what B cached: the cache works, within its project
        job, log = build(api_b, http_b, "look:1", _context(tmp_path / "l2", look.encode()))
        assert job["state"] == "succeeded", log
        assert "B-PLANTED" in log, log

        for n, url in enumerate(fetches):
            text = f"FROM base:1\nADD {url} /srv/fetched-{n}\n"
            job, log = build(
                api_b, http_b, f"fetch:{n}", _context(tmp_path / f"f{n}", text.encode())
            )
            assert job["state"] == "failed", (url, log)
            assert "openapi" not in log.lower() or "/openapi.json" in log  # no body, the URL only
        assert outside.accepted == 0
