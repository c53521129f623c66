"""A GA4GH TES task whose executor names an image of the center registry runs in that image
(issue 60): the task's job gets the image as its `image:`, resolved at create, and the runner
AICC writes runs inside it (busybox's shell and tools), with the task's inline input and its
output at `/data/...` (podman shows the image's root 0555 to its root user, who has no
capabilities: the runner, its owner, makes it writable first); another tenant naming the image
is refused with TES's 400."""

from __future__ import annotations

import gzip
import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicc.testing import registry
from aicc.testing.images import cleaned, podman_or_skip, rootfs_tar
from aicc.testing.polling import wait
from aicc.testing.registry import Center, oci_layout

pytestmark = pytest.mark.skipif(not registry.installed(), reason=registry.INSTALL_HINT)
TES = "/ga4gh/tes/v1"


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    podman_or_skip()
    with registry.center(tmp_path / "home", sandbox="bwrap") as c:
        yield c


LIBDEMO = b"alpha's libdemo 1.0\n"


def ended(http: httpx.Client, task_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = http.get(f"{TES}/tasks/{task_id}").json()["state"]
        if state in ("COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"):
            answer: dict[str, Any] = http.get(
                f"{TES}/tasks/{task_id}", params={"view": "FULL"}
            ).json()
            return answer
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} stayed {state}")


def test_a_task_runs_in_its_tenants_image(center: Center, tmp_path: Path) -> None:
    a, b = center.tenants("alpha", "beta")
    oci_layout(tmp_path / "img", rootfs_tar({"usr/lib/libdemo.txt": LIBDEMO}))
    pushed = center.sdk(a).images.push("tools:1", tmp_path / "img").reference
    wait("the push booked", lambda: any(i.name == "tools" for i in center.sdk(a).images.list()))
    podman = podman_or_skip().podman
    task = {
        "name": "in an image",
        "inputs": [{"path": "/data/in.txt", "content": "from the task\n"}],
        "outputs": [{"path": "/data/out.txt", "url": "aicc://outputs/out.txt"}],
        "executors": [
            {
                "image": "tools:1",
                "command": ["sh", "-c", "cat /data/in.txt /usr/lib/libdemo.txt > /data/out.txt"],
            }
        ],
        "resources": {"cpu_cores": 1, "ram_gb": 0.25},
    }
    jobs: list[str] = []
    with (
        cleaned(podman, [pushed], jobs),
        httpx.Client(base_url=center.url, headers=a.headers, timeout=30) as http_a,
        httpx.Client(base_url=center.url, headers=b.headers, timeout=30) as http_b,
    ):
        made = http_a.post(f"{TES}/tasks", json=task)
        assert made.status_code == 200, made.text
        jobs.append(made.json()["id"])
        done = ended(http_a, made.json()["id"])
        job = http_a.get(f"/api/v1/jobs/{made.json()['id']}").json()
        assert job["spec"]["image"] == pushed
        assert done["state"] == "COMPLETE", done["logs"][0]["system_logs"]
        archive = http_a.get(f"/api/v1/jobs/{job['id']}/outputs").content
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
            out = tar.extractfile("out.txt")
            assert out is not None
            assert out.read() == b"from the task\nalpha's libdemo 1.0\n"

        theirs = {**task, "executors": [{**task["executors"][0], "image": "alpha/default/tools:1"}]}
        refused = http_b.post(f"{TES}/tasks", json=theirs)
        assert refused.status_code == 400 and refused.json()["msg"].startswith("executors.image")
