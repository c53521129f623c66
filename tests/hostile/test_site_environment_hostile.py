"""A site environment (the operator's software for jobs on the node's own system) is hostile
ground: a tenant's job that names it (the `aicc.io/environment` label) finds its tool first on
PATH and its variables, but cannot write, remove, rename or chmod anything there (read-only binds
in the bubblewrap sandbox), and the files are the same afterwards; a job that names none, or a
name the operator did not configure, sees neither the directory nor its PATH; a TES task on a
generic base gets the one `generic_base_environment` names, and its own label cannot be set.
One real server (local executor, bwrap) for the module.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

LABEL = "aicc.io/environment"
TOOL = b"#!/bin/sh\necho site tool\n"
WHEEL = b"not really a wheel, but the operator's bytes"

PROBE = """
import json, os, shutil, subprocess, sys
site = sys.argv[1]
out = {"path": os.environ["PATH"].split(":")[0], "mark": os.environ.get("SITE_MARK"),
       "seen": os.path.isdir(site), "tool": shutil.which("tool")}
if out["tool"]:
    out["ran"] = subprocess.run(["tool"], capture_output=True, text=True).stdout
def attempt(name, call):
    try:
        call()
        out[name] = "done"
    except OSError as err:
        out[name] = err.errno
wheel = site + "/wheels/w.whl"
attempt("create", lambda: open(site + "/wheels/new.whl", "wb").write(b"x"))
attempt("append", lambda: open(wheel, "ab").write(b"x"))
attempt("truncate", lambda: os.truncate(wheel, 0))
attempt("remove", lambda: os.remove(site + "/bin/tool"))
attempt("rename", lambda: os.rename(wheel, site + "/wheels/moved.whl"))
attempt("chmod", lambda: os.chmod(site + "/bin/tool", 0o777))
attempt("mkdir", lambda: os.mkdir(site + "/bin/more"))
print("RESULT " + json.dumps(out))
"""


@dataclass
class Site:
    api: httpx.Client
    headers: dict[str, str]
    root: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("siteenv")
    root = tmp / "site"
    (root / "bin").mkdir(parents=True)
    (root / "wheels").mkdir()
    (root / "bin" / "tool").write_bytes(TOOL)
    (root / "bin" / "tool").chmod(0o755)
    (root / "wheels" / "w.whl").write_bytes(WHEEL)
    tools = {"paths": [str(root)], "path": [f"{root}/bin"], "env": {"SITE_MARK": "tools"}}
    with (
        over_http(
            tmp / "home", site_environments={"tools": tools}, generic_base_environment="tools"
        ) as (url, token, _state),
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api,
    ):
        tenant = make_tenant(api, "siteenv")
        yield Site(api, tenant.headers, root)


def _probe(site: Site, labels: dict[str, str]) -> dict[str, object]:
    spec = {
        "command": [sys.executable, "-c", PROBE, str(site.root)],
        "labels": labels,
        "resources": {"cpu": 0.5},
    }
    job = submit(site.api, spec, **site.headers)
    done = wait_state(site.api, job["id"], {"succeeded", "failed"}, timeout=60)
    log = site.api.get(f"/api/v1/jobs/{job['id']}/logs").text
    assert done["state"] == "succeeded", (done, log)
    line = next(line for line in log.splitlines() if line.startswith("RESULT "))
    result: dict[str, object] = json.loads(line.removeprefix("RESULT "))
    return result


def test_a_job_uses_the_site_environment_and_cannot_change_it(site: Site) -> None:
    result = _probe(site, {LABEL: "tools"})
    assert result["path"] == f"{site.root}/bin" and result["mark"] == "tools"
    assert result["tool"] == f"{site.root}/bin/tool" and result["ran"] == "site tool\n"
    erofs = 30
    for name in ("create", "append", "truncate", "remove", "rename", "chmod", "mkdir"):
        assert result[name] == erofs, (name, result)
    assert (site.root / "bin" / "tool").read_bytes() == TOOL
    assert (site.root / "wheels" / "w.whl").read_bytes() == WHEEL
    assert sorted(p.name for p in site.root.rglob("*")) == ["bin", "tool", "w.whl", "wheels"]


@pytest.mark.parametrize("labels", [{}, {LABEL: "elsewhere"}])
def test_a_job_without_a_configured_name_sees_nothing_of_it(
    site: Site, labels: dict[str, str]
) -> None:
    result = _probe(site, labels)
    assert not result["seen"] and result["tool"] is None and result["mark"] is None
    assert result["path"] != f"{site.root}/bin"


def test_a_tes_task_on_a_generic_base_gets_the_generic_base_environment(site: Site) -> None:
    task = {
        "executors": [{"image": "python:3.12", "command": ["tool"]}],
        "tags": {LABEL: "elsewhere"},  # a tag is the task's, never the job's label
    }
    made = site.api.post("/ga4gh/tes/v1/tasks", json=task, headers=site.headers)
    assert made.status_code == 200, made.text
    task_id = made.json()["id"]
    done = wait_state(site.api, task_id, {"succeeded", "failed"}, timeout=60)
    assert done["state"] == "succeeded", done
    assert done["spec"]["labels"][LABEL] == "tools", done["spec"]
    full = site.api.get(f"/ga4gh/tes/v1/tasks/{task_id}?view=FULL", headers=site.headers).json()
    assert full["logs"][0]["logs"][0]["stdout"] == "site tool\n", full
