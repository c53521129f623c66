"""The portal's forms where people expect to act (issue 58): an operator sets a price plan
version on the price list and an organization's quota, an organization admin a project's quota
and a budget on /bills; each through the API's service (the API then answers the same), with
its audit entry, refused for a member, and with bad input a translated message beside the field
(never a 500)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from portal_support import (
    PASSWORD,
    Person,
    csrf_of,
    operator,
    post_form,
    shown,
    signed_in,
    unique,
)

from aicc.api.state import AppState


def _org_admin(api: TestClient) -> Person:
    """A new organization whose one user is its admin, with a password and a token."""
    org = f"money-{unique()}"
    org_id = api.post("/api/v1/orgs", json={"name": org}).json()["id"]
    body = {"name": f"{org}-admin", "role": "org_admin", "org_id": org_id, "password": PASSWORD}
    made = api.post("/api/v1/users", json=body).json()
    token = api.post("/api/v1/tokens", json={"name": "t", "user_id": made["id"]}).json()
    return Person(made["name"], made["id"], org_id, made["default_project_id"], token["secret"])


def _audited(api: TestClient, action: str, target: str) -> bool:
    answer = api.get("/api/v1/audit", params={"action": action, "limit": 200})
    assert answer.status_code == 200, answer.text
    return any(e["object_id"] == target for e in answer.json()["items"])


def test_an_operator_sets_a_price_plan_from_the_price_list(api: TestClient, alice: Person) -> None:
    client = operator(api)
    page = client.get("/center/prices")
    assert page.status_code == 200 and 'action="/center/prices/plans"' in page.text
    assert (
        'id="plan-name" name="name" type="text"\n         value="center"' in page.text
    )  # in force
    form = {
        "org_id": alice.org_id,
        "name": "acme-deal",
        "currency": "CNY",
        "effective_from": "2030-01-01T00:00:00+08:00",
        "accelerator_hour": "H100=28, A100-80GB=12.5",
        "pflops_hour": "9.5",
        "discount": "0.1",
        "api_tier": "1",
    }
    bad = post_form(
        client, "/center/prices/plans", "/center/prices", **{**form, "pflops_hour": "x"}
    )
    assert bad.status_code == 422 and 'id="plan-pflops_hour-error"' in bad.text
    assert "Enter an amount such as 12 or 9.50." in shown(bad)
    odd = post_form(
        client, "/center/prices/plans", "/center/prices", **{**form, "accelerator_hour": "H10O=3"}
    )
    assert odd.status_code == 422 and 'id="plan-accelerator_hour-error"' in odd.text
    tier = post_form(client, "/center/prices/plans", "/center/prices", **{**form, "api_tier": "4"})
    assert tier.status_code == 422 and 'id="plan-api_tier-error"' in tier.text
    half = post_form(
        client,
        "/center/prices/plans",
        "/center/prices",
        **{**form, "effective_from": "2030-01-01T00:30:00+08:00"},
    )
    assert half.status_code == 422 and "whole hour" in half.text
    made = post_form(client, "/center/prices/plans", "/center/prices", **form)
    assert made.status_code == 303, made.text
    assert "Price plan acme-deal is saved." in shown(client.get(made.headers["location"]))
    plan = next(
        p for p in api.get(f"/api/v1/price-plans?org={alice.org_id}").json()["items"]
        if p["name"] == "acme-deal"
    )  # fmt: skip
    assert plan["accelerator_hour"] == {"H100-SXM": "28", "A100-80GB": "12.5"}
    assert plan["discount"] == "0.1" and _audited(api, "price_plan.create", plan["id"])
    assert plan["api_tier"] == 1 and "API key tier" in shown(client.get("/center/prices"))
    again = post_form(client, "/center/prices/plans", "/center/prices", **form)
    assert again.status_code == 422 and 'id="plan-effective_from-error"' in again.text
    member = signed_in(api, alice)
    assert member.post("/center/prices/plans", data=form).status_code in (400, 403)
    assert member.get("/center/prices").status_code == 403
    client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
    chinese = post_form(
        client, "/center/prices/plans", "/center/prices", **{**form, "discount": "y"}
    )
    assert chinese.status_code == 422 and "请输入金额" in shown(chinese)
    assert "API 密钥服务等级" in shown(chinese)


def test_an_org_admin_sets_a_budget_on_the_bills_page(api: TestClient, alice: Person) -> None:
    admin = _org_admin(api)
    client = signed_in(api, admin)
    page = client.get("/bills")
    assert page.status_code == 200 and 'action="/bills/budgets"' in page.text
    assert f'value="project:{admin.project_id}"' in page.text
    form = {"scope": f"project:{admin.project_id}", "limit": "800", "currency": "CNY"}
    bad = post_form(client, "/bills/budgets", "/bills", **form, thresholds="half")
    assert bad.status_code == 422 and "Write shares of the limit" in shown(bad)
    zero = post_form(client, "/bills/budgets", "/bills", **form, thresholds="0%")
    assert zero.status_code == 422 and "share of the limit above 0" in shown(zero)
    made = post_form(client, "/bills/budgets", "/bills", **form, thresholds="50%, 90%")
    assert made.status_code == 303, made.text
    text = shown(client.get(made.headers["location"]))
    assert "The budget is saved." in text and "800.00" in text and "90%" in text
    budget = next(
        b for b in api.get("/api/v1/budgets").json()["items"] if b["project_id"] == admin.project_id
    )
    assert budget["limit"] == "800.00" and budget["thresholds"] == [0.5, 0.9]
    assert _audited(api, "budget.set", budget["id"])
    # another tenant's project: the 404 page; a member sees no form and may not post one
    other = post_form(
        client, "/bills/budgets", "/bills", **{**form, "scope": f"project:{alice.project_id}"}
    )
    assert other.status_code == 404
    member = signed_in(api, alice)
    assert 'action="/bills/budgets"' not in member.get("/bills").text
    refused = post_form(
        member, "/bills/budgets", "/bills", **{**form, "scope": f"project:{alice.project_id}"}
    )
    assert refused.status_code == 403 and "Your role does not allow this." in shown(refused)


def test_quotas_are_set_from_the_quota_page(
    site: tuple[TestClient, AppState], alice: Person
) -> None:
    api, _ = site
    admin = _org_admin(api)
    ops = operator(api)
    assert f'href="/quotas/org/{admin.org_id}/edit"' in ops.get("/quotas").text
    path = f"/quotas/org/{admin.org_id}/edit"
    bad = post_form(ops, path, path, guaranteed="A100-80GB=two", max="")
    assert bad.status_code == 422 and 'id="quota-guaranteed-error"' in bad.text
    unknown = post_form(ops, path, path, guaranteed="Z999=1", max="")
    assert unknown.status_code == 422 and "Z999" in shown(unknown)
    made = post_form(
        ops, path, path, guaranteed="A100-80GB=2 cpu=16", max="A100-80GB=4, storage=50GiB"
    )
    assert made.status_code == 303, made.text
    org = api.get(f"/api/v1/orgs/{admin.org_id}").json()
    assert org["quota"]["guaranteed"] == {"A100-80GB": 2000.0, "cpu_milli": 16000.0}
    assert org["quota"]["max"] == {"A100-80GB": 4000.0, "storage_gib": 50.0}
    assert _audited(api, "quota.set", admin.org_id)
    again = ops.get(path).text
    assert 'value="A100-80GB=2 cpu=16"' in again and "storage=50GiB" in again
    # data set storage in GiB, worded, on the quota page (not "storage_gib", not devices)
    listed = shown(ops.get("/quotas?key=storage_gib"))
    label = "(?:Data set storage|数据集存储)"  # (the operator reads Chinese since the first test)
    row = re.search(rf"<td>{label} <span[^>]*>GiB</span></td>(.*?)</tr>", listed, re.S)
    assert row and ">50<" in row.group(1).replace(" ", ""), listed
    # the organization's admin: its own organization's quota is the operators', its project's
    # its own; a member may do neither; another tenant's is a 404
    boss = signed_in(api, admin)
    assert (
        post_form(boss, path, f"/quotas/project/{admin.project_id}/edit", max="").status_code == 403
    )
    project = f"/quotas/project/{admin.project_id}/edit"
    assert f'href="{project}"' in boss.get("/quotas").text
    too_much = post_form(boss, project, project, guaranteed="A100-80GB=3", max="")
    assert too_much.status_code == 422 and "more than the organization has left" in shown(too_much)
    done = post_form(boss, project, project, guaranteed="A100-80GB=1", max="A100-80GB=2")
    assert done.status_code == 303 and "is saved" in shown(boss.get(done.headers["location"]))
    assert boss.get(f"/quotas/project/{alice.project_id}/edit").status_code == 404
    member = signed_in(api, alice)
    mine = f"/quotas/project/{alice.project_id}/edit"
    assert f'href="{mine}"' not in member.get("/quotas").text
    assert member.get(mine).status_code == 403 and boss.get(path).status_code == 403
    refused = member.post(mine, data={"csrf": csrf_of(member), "max": "cpu=1"})
    assert refused.status_code == 403
    boss.post("/language", data={"csrf": csrf_of(boss), "language": "zh-CN"})
    chinese = post_form(boss, project, project, guaranteed="cpu", max="")
    assert chinese.status_code == 422 and "请写 键=值" in shown(chinese)
