"""The images page in a real browser (Debian's Chromium driven by Playwright) against a real
server and its real registry: a person pushes an image and runs a job in it, then sees the
repository, its tag and size and the job on the page, shares it with the form, in English and
in Chinese; another tenant's page shows none of it. Screenshots go to
tests/artifacts/portal/images-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from portal_support import make_person, wait_job
from test_portal_browser import Watch, _ensure_assets, axe_check, chromium, open_page, shot
from test_portal_browser import sign_in as sign_in_page

from aicc.sdk.client import Client
from aicc.testing import registry
from aicc.testing.images import cleaned, podman_or_skip, rootfs_tar
from aicc.testing.polling import wait
from aicc.testing.registry import Center, oci_layout

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not registry.installed(), reason=registry.INSTALL_HINT),
]
__all__ = ["chromium"]


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    podman_or_skip()
    _ensure_assets()
    with registry.center(tmp_path / "home", sandbox="bwrap") as c:
        yield c


def test_a_person_sees_their_images_and_the_jobs_in_them_and_shares_one(
    center: Center, tmp_path: Path, chromium: Any
) -> None:
    from playwright.sync_api import expect

    with httpx.Client(
        base_url=center.url, headers={"Authorization": f"Bearer {center.token}"}, timeout=30
    ) as h:
        ann, ben = make_person(h, "imgorg-a", "ann"), make_person(h, "imgorg-b", "ben")
    oci_layout(tmp_path / "img", rootfs_tar({"usr/lib/libdemo.txt": b"ann's libdemo\n"}))
    api = Client(center.url, ann.token)
    pushed = api.images.push("trainer:2.1", tmp_path / "img").reference
    wait("the push booked", lambda: any(i.name == "trainer" for i in api.images.list()))
    podman = podman_or_skip().podman
    jobs: list[str] = []
    with cleaned(podman, [pushed], jobs), httpx.Client(timeout=60, base_url=center.url) as http:
        answer = http.post(
            "/api/v1/jobs",
            json={
                "name": "in-my-image",
                "command": ["cat", "/usr/lib/libdemo.txt"],
                "image": "trainer:2.1",
                "resources": {"cpu": 0.5, "memory": "128MiB"},
            },
            headers=ann.headers,
        )
        assert answer.status_code == 201, answer.text
        jobs.append(answer.json()["id"])
        assert wait_job(http, ann, jobs[0], {"succeeded", "failed"}, 120)["state"] == "succeeded"

        watch = Watch()
        page = open_page(chromium, watch)
        sign_in_page(page, center.url, ann)
        page.goto(center.url + "/images")
        expect(page.get_by_role("heading", name="imgorg-a/default/trainer")).to_be_visible()
        expect(page.get_by_role("rowheader", name="2.1")).to_be_visible()
        expect(page.get_by_role("link", name="in-my-image")).to_be_visible()
        expect(page.get_by_text(f"podman pull {pushed}")).to_be_visible()
        axe_check(page, "the images page")
        shot(page, "images-en")
        page.get_by_label("Who may pull it").select_option("public")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("trainer is now Public")
        assert api.images.get("trainer").visibility == "public"

        page.get_by_role("button", name="中文").click()  # the whole page, in Chinese
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.get_by_role("heading", name="镜像", exact=True)).to_be_visible()
        expect(page.get_by_text("在这些镜像中运行过的作业")).to_be_visible()
        expect(page.get_by_text("公开：所有租户").first).to_be_visible()
        shot(page, "images-zh")

        other = open_page(chromium, watch)
        sign_in_page(other, center.url, ben)
        other.goto(center.url + "/images")
        expect(other.get_by_text("This project has no images yet")).to_be_visible()
        assert "trainer" not in other.content()
        assert watch.problems == []
