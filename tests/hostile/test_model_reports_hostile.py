"""Hostile jobs against what a model version says of itself and against batch predictions
(issue 37): `model/schema.json` and `report.json`'s facts and charts, and a batch prediction's
`predictions.csv`, are job-written. A schema over the cap, not JSON, or not a schema leaves the
version registered without one and saying why; charts over their size are left out each alone;
a link or a FIFO is refused naming it, fast, with none of its target's bytes; a prediction job
whose `predictions.csv` is a link to the control plane delivers nothing.

One real server over HTTP (local executor, bubblewrap sandbox) for the module; the jobs are
tenant B's, a member of an organization of its own (CONTRIBUTING.md, "What a job wrote").
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aicc.api.state import AppState
from aicc.services.common import utcnow
from aicc.services.models import model_reports
from aicc.store.tables.models import JobOutputRow
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http

SMALL = {"cpu": 0.5, "memory": "256MiB"}
LINK = "is a symbolic link: a job's outputs may hold only regular files and folders"
FACTS = {"rows": 120, "target": "y", "task": "regression", "metric": "r2", "score": 0.5}
HOME = '"${AICC_OUTPUT_DIR%/runs/*}"'  # $AICC_HOME, where admin.token lies


@dataclass
class Site:
    home: Path
    state: AppState
    b: httpx.Client
    job: str  # B's job that left every probe, one folder each

    @property
    def token(self) -> str:
        return (self.home / "admin.token").read_text().strip()

    def run_b(self, command: str) -> str:
        job = submit(self.b, {"command": command, "resources": SMALL})
        done = wait_state(self.b, job["id"], {"succeeded", "failed", "cancelled"}, timeout=180)
        assert done["state"] == "succeeded", done
        return str(job["id"])

    def register(self, path: str) -> httpx.Response:
        body = {"job_id": self.job, "path": path}
        return self.b.post("/api/v1/models/probe/versions", json=body, timeout=30)


def _writer() -> str:
    """One job, a folder per probe."""
    big = model_reports.MAX_SCHEMA_BYTES + 1
    # 100,000 points of a chart, written by the job itself (a spec holds 64 KiB)
    report = (
        f"import json; n = 100_000; facts = {FACTS!r}; "
        "json.dump({'facts': facts, 'charts': {'residuals': {'actual': [0.5] * n, "
        "'predicted': [0.5] * n}, 'importance': [{'feature': 'x', 'importance': 0.9}]}}, "
        "open('huge/report.json', 'w'))"
    )
    metrics = '{"r2": 0.5}'
    steps = [
        'cd "$AICC_OUTPUT_DIR"',
        "mkdir -p huge/model notjson/model link/model fifo/model",
        f'head -c {big} /dev/zero | tr "\\0" " " > huge/model/schema.json',
        f"python3 -c {shlex.quote(report)}",
        "printf 'not json \\377' > notjson/model/schema.json",
        f"ln -s {HOME}/admin.token link/model/schema.json",
        "mkfifo fifo/model/schema.json",
        *(f"echo '{metrics}' > {d}/metrics.json" for d in ("huge", "notjson", "link", "fifo")),
    ]
    return " && ".join(steps)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("hostile-reports") / "home"
    with over_http(home, None, limits={"grace_s": 1.0}) as (url, token, state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        org = admin.post("/api/v1/orgs", json={"name": "tenant-b"}).json()
        user = admin.post(
            "/api/v1/users", json={"name": "b-user", "role": "member", "org_id": org["id"]}
        ).json()
        secret = admin.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]}).json()
        b = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {secret['secret']}"}, timeout=60
        )
        try:
            site = Site(home, state, b, "")
            site.job = site.run_b(_writer())
            yield site
        finally:
            admin.close()
            b.close()


def no_leak(site: Site, answer: httpx.Response) -> None:
    assert site.token.encode() not in answer.content


def test_a_schema_over_the_cap_or_not_json_leaves_the_version_without_one(site: Site) -> None:
    huge = site.register("huge")
    assert huge.status_code == 201, huge.text
    version = huge.json()
    assert version["input_schema"] is None
    notes = " | ".join(version["notes"])
    assert "model/schema.json: left out, outputs/huge/model/schema.json has" in notes
    assert f"more than the {model_reports.MAX_SCHEMA_BYTES}" in notes
    assert "chart residuals: left out, residuals.actual" in notes  # 100,000 points
    assert version["facts"]["rows"] == 120  # what was well-formed is kept
    assert version["charts"]["importance"] == [{"feature": "x", "importance": 0.9}]
    assert version["charts"]["residuals"] is None
    assert "model/schema.json" in [f["path"] for f in version["files"]]  # its file stays

    bad = site.register("notjson")
    assert bad.status_code == 201, bad.text
    assert bad.json()["input_schema"] is None
    (note,) = bad.json()["notes"]
    assert note.startswith("model/schema.json: left out, it is not JSON")
    shown = site.b.get("/api/v1/models/probe/versions/2").json()
    assert shown["notes"] == [note]


def test_a_linked_or_fifo_schema_is_refused_naming_it(site: Site) -> None:
    started = time.monotonic()
    linked = site.register("link")
    assert linked.status_code == 422, linked.text
    assert linked.json()["detail"] == f"outputs/link/model/schema.json {LINK}"
    no_leak(site, linked)
    fifo = site.register("fifo")
    assert fifo.status_code == 422 and "outputs/fifo/model/schema.json is a FIFO" in fifo.text
    assert time.monotonic() - started < 20  # the FIFO held nothing


def _delivered(site: Site, job_id: str, target_id: str) -> str:
    """Promise the job's outputs as a batch prediction does, and wait for the delivery loop."""
    with site.state.db.session() as session:
        lineage = {"job_id": job_id, "model": "probe@1", "datasets": ["x@1"]}
        session.add(
            JobOutputRow(
                job_id=job_id,
                kind="predictions",
                target_id=target_id,
                lineage=lineage,
                created_at=utcnow(),
            )
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with site.state.db.reader() as session:
            out = session.get(JobOutputRow, job_id)
            assert out is not None
            if out.state != "pending":
                return f"{out.state}: {out.result}"
        time.sleep(0.2)
    raise AssertionError("the delivery loop never took the job's outputs")


def test_predictions_that_are_a_link_or_missing_deliver_nothing(site: Site) -> None:
    made = site.b.post("/api/v1/datasets", json={"name": "preds"})
    assert made.status_code == 201, made.text
    target = made.json()["id"]
    linked = site.run_b(f'ln -s {HOME}/admin.token "$AICC_OUTPUT_DIR/predictions.csv"')
    result = _delivered(site, linked, target)
    assert result == f"failed: outputs/predictions.csv {LINK}"
    assert _delivered(site, site.job, target) == "failed: the job wrote no predictions.csv; " + (
        "nothing was made"
    )
    assert site.b.get("/api/v1/datasets/preds/versions").json()["items"] == []
