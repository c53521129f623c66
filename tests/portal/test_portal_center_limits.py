"""The portal submits under the center's settings, as the API does (issue 35: its submits were
built from the defaults): a page's job beyond the center's `limits.max_replicas_per_job` is
refused with the API's message, and a center whose `egress` is `internet` gives the jobs of the
YAML editor and of the marketplace's wizard egress internet."""

from __future__ import annotations

import re
from pathlib import Path

from portal_support import csrf_of, make_person, signed_in

from aicc.testing import templates
from aicc.testing.datasets import push
from aicc.testing.servers import in_process

TEMPLATE = "credit-risk"
SPEC = "command: echo hi\nresources: {cpu: 100m, memory: 64MiB}\nmax_runtime: 5m\n"


def test_portal_submits_meet_the_centers_bound_and_egress(tmp_path: Path) -> None:
    limits = {"max_replicas_per_job": 2}
    with in_process(tmp_path / "home", limits=limits, egress="internet") as (api, _state):
        alice = make_person(api, "acme", "alice")
        page = signed_in(api, alice)
        csrf = csrf_of(page, "/submit/yaml")

        gang = {"csrf": csrf, "spec": SPEC + "replicas: 3\n", "action": "submit", "key": "k1"}
        refused = page.post("/submit/yaml", data=gang, follow_redirects=False)
        assert refused.status_code == 422, refused.text
        assert "this center runs at most 2 replicas per job (asked 3)" in refused.text
        assert api.get("/api/v1/jobs", headers=alice.headers).json()["items"] == []

        form = {"csrf": csrf, "spec": SPEC, "action": "submit", "key": "k2"}
        sent = page.post("/submit/yaml", data=form, follow_redirects=False)
        assert sent.status_code == 303, sent.text
        job_id = sent.headers["location"].removeprefix("/jobs/")
        job = api.get(f"/api/v1/jobs/{job_id}", headers=alice.headers).json()
        assert job["spec"]["egress"] == "internet", job["spec"]

        loans = templates.example(TEMPLATE, tmp_path / "loans")
        files = {p.relative_to(loans).as_posix(): p.read_bytes() for p in loans.rglob("*.csv")}
        push(api, "loans", files, alice.headers)
        step1 = page.get("/marketplace/train").text
        ref = next(r for r in re.findall(r"data=([^&\"]+)", step1) if "loans%40" in r)
        data = ref.replace("%2F", "/").replace("%40", "@")
        step3 = page.get("/marketplace/train", params={"data": data, "template": TEMPLATE}).text
        key = re.findall(r'name="key" value="([^"]+)"', step3)[0]
        train = {"csrf": csrf_of(page, "/marketplace"), "data": data, "template": TEMPLATE}
        run = page.post(
            "/marketplace/train", data={**train, "model": "m", "key": key}, follow_redirects=False
        )
        assert run.status_code == 303, run.text
        run_id = run.headers["location"].rsplit("/", 1)[1]
        trained = api.get(f"/api/v1/jobs/{run_id}", headers=alice.headers).json()
        assert trained["spec"]["egress"] == "internet", trained["spec"]
        for ended in (job_id, run_id):
            api.post(f"/api/v1/jobs/{ended}/cancel", headers=alice.headers)
