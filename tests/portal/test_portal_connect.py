"""Your tools (`/connect`) and S3 keys (`/s3-keys`) as a tenant's member uses them, on one
server over a real socket: the member makes an S3 key on its page (the secret shown once), then
copies each snippet of `/connect` and runs it as shown, with the real clients (the AICC CLI and
SDK, `openai`, `boto3`, `mlflow`, `py-tes`) and only the environment variables the page names.
Another tenant's key is a 404 to delete; both languages render every interface."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aicc import Client
from aicc.testing.servers import over_http
from aicc.testing.tenants import Tenant, make_tenant

SNIPPETS = ("cli-bash", "cli-python", "openai-python", "s3-python", "mlflow-python", "tes-python")


@dataclass
class Site:
    url: str
    admin: httpx.Client
    member: Tenant
    token: str
    other: Tenant
    home: Path


def signed_in(url: str, token: str) -> httpx.Client:
    browser = httpx.Client(base_url=url, timeout=30)
    browser.get("/sign-in")
    form = {"csrf": browser.cookies.get("aicc_csrf") or "", "token": token}
    assert browser.post("/sign-in", data=form).status_code == 303
    return browser


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("connect")
    with over_http(tmp / "home", loops=False) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        member, other = make_tenant(admin, "tools-alpha"), make_tenant(admin, "tools-beta")
        secret = member.headers["Authorization"].removeprefix("Bearer ")
        source = tmp / "corpus"
        source.mkdir()
        (source / "train.csv").write_text("a,b\n1,2\n")
        with Client(server=url, token=secret) as sdk:
            sdk.datasets.push("corpus", source)
        try:
            yield Site(url, admin, member, secret, other, tmp)
        finally:
            admin.close()


def test_the_snippets_run_as_the_page_shows_them(site: Site) -> None:
    browser = signed_in(site.url, site.token)
    made = browser.post(
        "/s3-keys", data={"csrf": csrf_of(browser.get("/s3-keys").text), "name": "laptop"}
    )
    assert made.status_code == 200 and "S3 key laptop created" in made.text
    secret = re.search(r'id="new-s3-key-secret"[^>]*value="([^"]+)"', made.text)
    key_id = re.search(r"AWS_ACCESS_KEY_ID=(AKAICC\w+)", made.text)
    assert secret and key_id, "the new key's id and secret are shown once"
    assert "laptop" in browser.get("/s3-keys").text
    assert secret.group(1) not in browser.get("/s3-keys").text  # never again
    api_key = site.admin.post(
        "/api/v1/keys", json={"name": "tools"}, headers=site.member.headers
    ).json()["secret"]

    page = browser.get("/connect", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    found = dict(re.findall(r'data-snippet="([\w-]+)"><code>(.*?)</code>', page.text, re.S))
    assert sorted(found) == sorted(SNIPPETS)
    # what earlier tests of this worker left in its environment (an MLflow experiment, AWS
    # keys) must not reach the snippets: only what the page names
    inherited = ("MLFLOW_", "AWS_", "OPENAI_", "AICC_SERVER", "AICC_TOKEN", "AICC_API_KEY")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(inherited)},
        "AICC_HOME": str(site.home / "client"),
        "AICC_TOKEN": site.token,
        "AICC_API_KEY": api_key,
        "AWS_ACCESS_KEY_ID": key_id.group(1),
        "AWS_SECRET_ACCESS_KEY": secret.group(1),
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_TRACKING_TOKEN": site.token,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    out = {}
    for name, code in found.items():
        code = html.unescape(code)
        argv = ["bash", "-ec", code] if name.endswith("bash") else [sys.executable, "-c", code]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (name, code, done.stderr[-2000:])
        out[name] = done.stdout
    assert out["s3-python"] == "corpus/latest/train.csv 8\n"  # its own data set, through S3
    run_id = out["mlflow-python"].splitlines()[-1]  # after MLflow's own "View run" lines
    assert re.fullmatch(r"[0-9a-f]{32}", run_id)
    assert out["tes-python"].startswith("AICC")
    assert out["openai-python"].startswith("[]\n[]\n[]")  # no model, file or batch yet
    runs = site.admin.post(
        "/mlflow/api/2.0/mlflow/runs/search",
        json={"experiment_ids": ["0"]},
        headers=site.member.headers,
    ).json()["runs"]
    assert [r["info"]["run_id"] for r in runs] == [run_id]  # a run of the member's project

    chosen = {"csrf": csrf_of(page.text), "language": "zh-CN", "next": "/connect"}
    assert browser.post("/language", data=chosen).status_code == 303
    zh = browser.get("/connect")
    assert "工具接入" in zh.text and "通过 S3 访问数据集" in zh.text and "GA4GH" in zh.text


def test_an_s3_key_is_its_owners_to_delete(site: Site) -> None:
    made = site.admin.post("/api/v1/s3-keys", json={"name": "x"}, headers=site.other.headers)
    theirs = made.json()["id"]
    browser = signed_in(site.url, site.token)
    form = {"csrf": csrf_of(browser.get("/s3-keys").text)}
    assert browser.post(f"/s3-keys/{theirs}/delete", data=form).status_code == 404
    mine = site.admin.post("/api/v1/s3-keys", json={"name": "y"}, headers=site.member.headers)
    gone = browser.post(f"/s3-keys/{mine.json()['id']}/delete", data=form)
    assert gone.status_code == 303
    note = browser.get(gone.headers["location"]).text  # in the language the person chose
    assert 'role="status"' in note and mine.json()["id"] in note
    listed = site.admin.get("/api/v1/s3-keys", headers=site.other.headers).json()["items"]
    assert [k["id"] for k in listed] == [theirs]
    writer = browser.post("/s3-keys", data={**form, "name": "pipeline", "writable": "1"})
    assert writer.status_code == 200
    keys = site.admin.get("/api/v1/s3-keys", headers=site.member.headers).json()["items"]
    assert {k["name"]: k["writable"] for k in keys}["pipeline"] is True
    empty = browser.post("/s3-keys", data={**form, "name": " "})
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.text
    assert browser.post(f"/s3-keys/{theirs}/delete", data={}).status_code == 400  # no CSRF token
