"""A tenant's own image from the center registry runs its job, end to end: tenant A pushes an
image (the SDK speaks the registry's API), submits a job that names it by its short name, and
the node pulls it with the pull-only credential the control plane gives the launch; tenant B
naming it is refused at submit until A shares it, and then B's job runs in it too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aicc.testing import registry
from aicc.testing.images import cleaned, podman_or_skip, rootfs_tar
from aicc.testing.jobs import run_job
from aicc.testing.polling import wait
from aicc.testing.registry import Center, oci_layout

pytestmark = pytest.mark.skipif(not registry.installed(), reason=registry.INSTALL_HINT)

SMALL = {"cpu": 0.5, "memory": "128MiB"}
READ = "cat /usr/lib/libdemo.txt"


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    podman_or_skip()
    with registry.center(tmp_path / "home", sandbox="bwrap") as c:
        yield c


def test_a_pushed_image_runs_its_tenants_job_and_another_only_once_shared(
    center: Center, tmp_path: Path
) -> None:
    a, b = center.tenants("alpha", "beta")
    oci_layout(tmp_path / "img", rootfs_tar({"usr/lib/libdemo.txt": b"alpha's libdemo 1.0\n"}))
    api_a = center.sdk(a)
    pushed = api_a.images.push("libs:1", tmp_path / "img").reference
    wait("the push booked", lambda: any(i.name == "libs" for i in api_a.images.list()))
    podman = podman_or_skip().podman
    jobs: list[str] = []
    with (
        cleaned(podman, [pushed], jobs),
        httpx.Client(base_url=center.url, headers=a.headers, timeout=30) as http_a,
        httpx.Client(base_url=center.url, headers=b.headers, timeout=30) as http_b,
    ):
        spec = {"command": ["/bin/sh", "-c", READ], "resources": SMALL}
        job, out = run_job(http_a, {**spec, "image": "libs:1"})
        jobs.append(job["id"])
        assert job["spec"]["image"] == pushed  # resolved at submit: what the nodes pull
        assert (job["state"], out) == ("succeeded", "alpha's libdemo 1.0\n"), job["message"]

        refused = http_b.post("/api/v1/jobs", json={**spec, "image": "alpha/default/libs:1"})
        assert refused.status_code == 422
        assert "not in the center registry, or not yours to pull" in refused.text

        api_a.images.share("libs", "public")
        job, out = run_job(http_b, {**spec, "image": "alpha/default/libs:1"})
        jobs.append(job["id"])
        assert (job["state"], out) == ("succeeded", "alpha's libdemo 1.0\n"), job["message"]

        other = http_a.post("/api/v1/jobs", json={**spec, "image": "evil.example:5000/x:1"})
        assert other.status_code == 422 and "registry.external" not in other.text
        assert "jobs run images of the center registry" in other.text
