"""After a chaos run has drained: every promise of aicc/testing/chaos.py checked against the API
and the database, and recorded in the run's `Report`."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aicc.services.jobs import waiting
from aicc.store.db import make_engine
from aicc.store.tables.billing import UsageRow
from aicc.store.tables.jobs import JobRow, LeaseRow, ReplicaRow
from aicc.store.tables.nodes import NodeRow
from aicc.testing.chaos_cluster import Cluster, Submitter
from aicc.testing.chaos_report import Report
from aicc.testing.datasets import push
from aicc.testing.engines import NodeLoss

TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.05) -> float | None:
    """Seconds until `check()` held, or None past `timeout`: a fault's timing, not a failure."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return time.monotonic() - began
        time.sleep(every)
    return None


def unfinished(engine: Engine, ids: set[str]) -> int:
    """How many of the jobs `ids` have not ended, counted in the database: the drain asks it
    five times a second, and listing every job through the API as often took the servers' CPU
    from the jobs it waits for (a job the database does not hold counts as not ended)."""
    with engine.connect() as conn:
        done = conn.execute(
            select(func.count())
            .select_from(JobRow)
            .where(JobRow.id.in_(ids), JobRow.state.in_(TERMINAL))
        ).scalar_one()
    return len(ids) - int(done)


def drain(left: Callable[[], int], quiet_s: float, every: float = 0.2) -> None:
    """Wait until `left()` is 0, as long as it keeps falling: give up after `quiet_s` with no
    job ended, or after ten times that in all."""
    began = fell = time.monotonic()
    fewest = left()
    while fewest and time.monotonic() - fell < quiet_s and time.monotonic() - began < 10 * quiet_s:
        time.sleep(every)
        now = left()
        if now < fewest:
            fewest, fell = now, time.monotonic()


def list_jobs(api: httpx.Client) -> list[dict[str, Any]]:
    """Every job, newest first, page by page."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/api/v1/jobs", params=params).json()
        found += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


def check(cluster: Cluster, submitter: Submitter, report: Report) -> None:
    """After the drain: every promise of the module's docstring, recorded in `report`."""
    plan = cluster.plan
    with cluster.client() as api:
        accepted = submitter.accepted
        report.accepted = len(accepted)
        ids = set(accepted.values())

        engine = make_engine(cluster.db_url())
        try:
            drain(lambda: unfinished(engine, ids), plan.drain_s)
        finally:
            engine.dispose()
        report.node_hits = on_lost_nodes(cluster.db_url(), ids, report.node_losses)
        jobs = list_jobs(api)
        report.jobs_created = len(jobs)
        by_id = {j["id"]: j for j in jobs}
        names = Counter(j["name"] for j in jobs)
        report.duplicates = sorted(n for n, c in names.items() if c > 1)
        for key, job_id in sorted(accepted.items()):
            job = by_id.get(job_id)
            if job is None:
                report.lost.append(key)
            elif job["state"] not in TERMINAL:
                report.stuck.append(f"{key} {job_id} {job['state']}: {job['message']}")
            else:
                check_job(api, cluster, report, key, job, submitter.expected[key])
        verified = api.get("/api/v1/audit/verify").json()
        report.audit_intact, report.audit_reason = verified["intact"], verified.get("reason")
    check_usage(cluster.db_url(), ids, report, plan.drain_s)
    if plan.corrupt_blob:
        report.blob_check = read_damaged_blob(cluster)
    check_database(cluster.db_url(), report)


def check_job(
    api: httpx.Client, cluster: Cluster, report: Report, key: str, job: dict[str, Any], code: int
) -> None:
    """One accepted job that ended: its true state, its logs, and one run per attempt."""
    job_id = job["id"]
    want = ("succeeded", 0) if code == 0 else ("failed", code)
    hit = job_id in report.supervisors_killed or job_id in report.node_hits
    report.retried += job["attempt"] > 0
    # lost with its supervisor or node on both attempts: failing so is its true state
    lost_twice = hit and (job["state"], job["reason"]) in (
        ("failed", "supervisor_lost"),
        ("failed", "node_lost"),
    )
    report.lost_twice += lost_twice
    # A job that lived while the disk was full may have lost its own output (a failed
    # echo) or its launch: what became of it is counted, not judged, below.
    full = while_full(job, report.disk_fills)
    if full:
        report.disk_outcomes[f"{job['state']}/{job['reason']}"] += 1
    lenient = lost_twice or full
    if (job["state"], job["exit_code"]) != want and not lenient:
        report.wrong_state.append(
            f"{key} {job_id} {job['state']}/{job['exit_code']} ({job['message']})"
        )
    logs = api.get(f"/api/v1/jobs/{job_id}/logs")
    if f"done-{key}" not in logs.text and not lenient:
        report.missing_logs.append(
            f"{key} {job_id} {job['state']}/{job['reason']} attempt {job['attempt']}: "
            f"{logs.status_code} {logs.text[-200:]!r}"
        )
    marker = cluster.runs / job_id / "outputs" / "ran"
    lines = marker.read_text().splitlines() if marker.exists() else []
    # One line per attempt that got to run its command, the last attempt's among them;
    # a second attempt only for a job whose supervisor was killed or whose node was lost
    # (an attempt that died before its command started leaves no line).
    last = f"{job_id} {job['attempt']} 0"
    allowed = {f"{job_id} {a} 0" for a in range(job["attempt"] + 1)}
    once = len(lines) == len(set(lines)) and set(lines) <= allowed
    if (
        not once
        or (last not in lines and not lenient)
        or len(job["replicas"]) != 1
        or (job["attempt"] and not hit)
    ):
        report.ran_twice.append(f"{key} {job_id} ran {lines} replicas {job['replicas']}")


def check_database(url: str, report: Report) -> None:
    """What the database says after the drain: the controller's takeovers, and whether the
    counts a submit's limits read agree with the jobs."""
    engine = make_engine(url)
    with engine.connect() as conn:
        epoch = conn.execute(select(LeaseRow.epoch).where(LeaseRow.name == "controller")).scalar()
    with Session(engine) as session:  # what a submit's limits read, against the jobs
        drift = waiting.drift(session).items()
        report.miscounted = [f"{owner}: kept {kept}, waiting {n}" for owner, (kept, n) in drift]
    engine.dispose()
    report.takeovers = (epoch or 1) - 1


def on_lost_nodes(url: str, ids: set[str], losses: list[NodeLoss]) -> set[str]:
    """The jobs of `ids` with a replica on a node while it was lost: bound before the node was
    back and not ended before it died. Such a job may run twice (its lost attempt retried)."""
    if not losses:
        return set()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            columns = (ReplicaRow.job_id, NodeRow.name, ReplicaRow.bound_at, ReplicaRow.ended_at)
            rows = list(
                conn.execute(
                    select(*columns)
                    .join(NodeRow, NodeRow.id == ReplicaRow.node_id)
                    .where(ReplicaRow.job_id.in_(ids))
                )
            )
    finally:
        engine.dispose()
    hit = set()
    for job_id, node, bound, ended in rows:
        for loss in losses:
            if loss.node not in (None, node):
                continue
            alive_then = ended is None or ended.timestamp() >= loss.at
            if bound.timestamp() <= loss.back_at and alive_then:
                hit.add(job_id)
    return hit


def while_full(job: dict[str, Any], fills: list[tuple[float, float]]) -> bool:
    """Whether the job lived (from its submit to its end) while the disk was full."""
    born = datetime.fromisoformat(job["created_at"]).timestamp()
    ended = datetime.fromisoformat(job["ended_at"]).timestamp() if job["ended_at"] else time.time()
    return any(born <= to and ended >= since for since, to in fills)


def read_damaged_blob(cluster: Cluster) -> str:
    """Push a data set, flip one bit of its stored pack, read it back: "STATUS detail"."""
    rows = b"chaos rows, checked on every read\n" * 200
    with cluster.client() as api:
        push(api, "chaos-blob", {"rows.txt": rows})
        manifest = api.get("/api/v1/datasets/chaos-blob/versions/1/manifest").json()
        chunk = manifest["files"][0]["chunks"][0][0]
        packs = [p for p in (cluster.home / "data").rglob("*") if p.is_file()]
        (stored,) = [p for p in packs if rows[:64] in p.read_bytes()]
        damaged = bytearray(stored.read_bytes())
        damaged[damaged.find(b"rows")] ^= 0x20
        stored.write_bytes(bytes(damaged))
        answer = api.get(f"/api/v1/datasets/chaos-blob/chunks/{chunk}")
        if answer.is_success:
            same = answer.content == rows
            return f"{answer.status_code} served {'the right' if same else 'WRONG'} bytes"
        return f"{answer.status_code} {answer.json().get('detail')}"


def check_usage(url: str, ids: set[str], report: Report, timeout: float) -> None:
    """Per ended replica of the jobs `ids`: billed once (`usage_problems`), in `report`."""
    found = usage_problems(url, ids, timeout)
    report.double_billed += found.double_billed
    report.unmetered += found.unmetered


@dataclass
class Usage:
    """What the usage records of some jobs say against their replicas' runs."""

    billed: dict[str, timedelta] = field(default_factory=dict)  # replica id -> billed, when right
    double_billed: list[str] = field(default_factory=list)
    unmetered: list[str] = field(default_factory=list)


def usage_problems(url: str, ids: set[str], timeout: float) -> Usage:
    """Per ended replica: its usage records cover its run once (sum of durations = run time),
    one record per clock hour. Waits up to `timeout` for the books loop to meter what ended
    last."""
    found = Usage()
    engine = make_engine(url)
    try:

        def replicas() -> list[ReplicaRow]:
            with engine.connect() as conn:
                rows = conn.execute(select(ReplicaRow).where(ReplicaRow.job_id.in_(ids)))
                return list(rows)  # type: ignore[arg-type]

        def metered() -> bool:
            return all(
                r.started_at is None or (r.ended_at is not None and r.metered_to == r.ended_at)
                for r in replicas()
            )

        wait_until(metered, timeout, every=0.2)
        with engine.connect() as conn:
            usage = list(
                conn.execute(
                    select(UsageRow.replica_id, UsageRow.start, UsageRow.duration_us).where(
                        UsageRow.job_id.in_(ids), UsageRow.kind == "compute"
                    )
                )
            )
        by_replica: dict[str, list[Any]] = {}
        for row in usage:
            by_replica.setdefault(row.replica_id, []).append(row)
        for rep in replicas():
            if rep.started_at is None:
                continue
            records = by_replica.get(rep.id, [])
            if rep.ended_at is None or rep.metered_to != rep.ended_at:
                found.unmetered.append(f"{rep.job_id} replica {rep.id} metered to {rep.metered_to}")
                continue
            hours = Counter(r.start.replace(minute=0, second=0, microsecond=0) for r in records)
            billed = timedelta(microseconds=sum(r.duration_us for r in records))
            ran = rep.ended_at - rep.started_at
            if any(c > 1 for c in hours.values()) or billed > ran + timedelta(milliseconds=1):
                found.double_billed.append(f"{rep.job_id}: billed {billed} for a run of {ran}")
            elif billed < ran - timedelta(milliseconds=1):
                found.unmetered.append(f"{rep.job_id}: billed {billed} for a run of {ran}")
            else:
                found.billed[rep.id] = billed
    finally:
        engine.dispose()
    return found
