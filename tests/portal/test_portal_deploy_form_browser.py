"""Deploying from a model's page in a real browser (Debian's Chromium driven by Playwright)
against a real `aicc serve` process: a person with a registered model version clicks Deploy,
fills the form, lands on the new deployment's page, changes it with the Edit form, and sees a
refused form in Chinese. Screenshots go to tests/artifacts/portal/deploy-form-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from portal_support import TERMINAL, make_person, submit, wait_job
from test_portal_browser import (
    Watch,
    axe_check,
    chromium,
    narrow_tour,
    open_page,
    portal_server,
    shot,
    sign_in,
)

pytestmark = pytest.mark.slow
__all__ = ["chromium"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client]]:
    with portal_server(
        tmp_path_factory, "portal-deploy-form", {"loop_interval_s": 0.2, "limits": {"grace_s": 1.0}}
    ) as (server, api):
        yield server.url, api


def test_a_person_deploys_a_model_from_its_page(
    served: tuple[str, httpx.Client], chromium: Any
) -> None:
    from playwright.sync_api import expect

    url, api = served
    dana = make_person(api, "clinic", "dana")
    job = submit(api, dana, command='echo weights > "$AICC_OUTPUT_DIR/w.bin"')
    assert wait_job(api, dana, job["id"], TERMINAL)["state"] == "succeeded"
    body = {"job_id": job["id"], "project": dana.project_id}
    made = api.post("/api/v1/models/triage/versions", json=body, headers=dana.headers)
    assert made.status_code == 201, made.text

    watch = Watch(expected_422s={"/deploy"})
    page = open_page(chromium, watch)
    sign_in(page, url, dana)
    page.goto(url + "/models?scope=project")
    page.get_by_role("link", name="triage", exact=True).click()
    shot(page, "deploy-form-model")
    page.get_by_role("link", name="Deploy triage@1").click()
    expect(page.get_by_role("heading", name="Deploy a model")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("triage")
    page.get_by_label("Maximum").fill("2")
    page.get_by_label("CPU").fill("0.1")
    page.get_by_label("Memory").fill("128MiB")
    shot(page, "deploy-form")
    axe_check(page, "/deploy")
    page.get_by_role("button", name="Deploy").click()

    expect(page).to_have_url(f"{url}/deployments/triage?project={dana.project_id}&done=create")
    expect(page.get_by_role("heading", name="triage")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("Created")
    expect(page.locator("dl.facts").first).to_contain_text("triage@1")
    shot(page, "deploy-form-landed")

    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Change triage")).to_be_visible()
    page.get_by_label("CPU").fill("0.2")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved")
    shown = api.get(
        "/api/v1/deployments/triage", params={"project": dana.project_id}, headers=dana.headers
    ).json()
    assert shown["revision"] == 2 and shown["resources"]["cpu"] == "0.2"

    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.goto(url + "/deployments")
    page.get_by_role("link", name="新建部署").click()
    page.get_by_label("名称").fill("triage")
    page.get_by_label("模型版本").select_option(index=1)
    page.get_by_label("CPU 核数").fill("0.1")
    page.get_by_label("内存").fill("128MiB")
    page.get_by_role("button", name="部署").click()
    expect(page.locator(".field-error")).to_contain_text("该名称已被使用。")
    shot(page, "deploy-form-refused-zh")
    axe_check(page, "/deploy refused, in Chinese")
    api.post(
        "/api/v1/deployments/triage/stop",
        params={"project": dana.project_id},
        headers=dana.headers,
    )
    pages = {
        "/deploy": "deploy-form-narrow-zh",
        f"/deployments/triage/edit?project={dana.project_id}": "deploy-form-edit-narrow-zh",
    }
    narrow_tour(chromium, watch, page, url, pages).close()
    assert not watch.problems, watch.problems
