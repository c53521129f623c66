"""A fault harness: clients submit jobs while servers die (`kill -9`), then every promise is
checked. Used by benchmarks/chaos.py (large budgets, figures for BENCHMARKS.md) and by
tests/e2e/test_chaos.py (a small budget in CI).

What is promised, and checked after the run has drained:
- every job a client saw accepted (a 2xx) exists exactly once (retries carry the same
  `Idempotency-Key`, so a retry after a lost answer must not make a second job);
- it ended in its true state (the exit code its command chose) with its logs;
- no replica ran twice: each job's command appends "job attempt replica" to a marker file in its
  outputs, and that file must hold one line per attempt, and a second attempt only for a job
  whose supervisor was killed or whose node was lost (a lost replica is retried:
  `max_retries: 1`);
- no usage recorded twice: per replica, the usage records cover its run time once;
- the waiting counts a submit's limits read are the jobs waiting, per user and per queue;
- nothing stuck: no job left non-terminal, no ended replica left unmetered;
- the audit chain verifies;
- PostgreSQL restarted mid-run (`-m immediate`) changes none of the above;
- a full disk under the run directories (a tmpfs filled to the last byte): the jobs that lived
  then must still end and run once; how they ended is counted, not judged (their own writes
  may have failed);
- a data set's stored pack with one bit flipped is refused with a checksum error, never served;
- on Slurm or Ray (`Plan.executor`, engines.py), nodes lost and brought back mid-run (a slurmd
  and its job steps SIGKILLed, the Ray head with every process on it) change none of the above.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from aicc.executors.local import runtime
from aicc.store.db import make_engine
from aicc.store.tables.jobs import ReplicaRow
from aicc.testing import engines
from aicc.testing.chaos_checks import check, wait_until
from aicc.testing.chaos_cluster import Cluster, Prober, Submitter
from aicc.testing.chaos_report import Kill, Plan, Report

AVAILABILITY_WINDOW_S = 5.0  # the least span after a leader's kill whose calls are counted


def chaos_loop(cluster: Cluster, report: Report, submitter: Submitter, prober: Prober) -> None:
    """The plan's faults in a random order, each at a random moment: `kills` servers killed and
    restarted, `supervisor_kills` supervisors killed, `postgres_restarts` database restarts,
    `node_losses` nodes of the engine lost and brought back."""
    plan = cluster.plan
    rng = random.Random(plan.seed)
    faults = (
        ["server"] * plan.kills
        + ["supervisor"] * plan.supervisor_kills
        + ["postgres"] * plan.postgres_restarts
        + ["disk"] * plan.disk_fills
        + ["node"] * plan.node_losses
    )
    rng.shuffle(faults)
    for fault in faults:
        time.sleep(rng.uniform(*plan.gap_s))
        if fault == "node":
            report.node_losses.append(cluster.engine.lose_node(rng, busy_nodes(cluster)))
        elif fault == "supervisor":
            report.supervisors_killed += kill_supervisors(cluster.home, rng)
        elif fault == "disk":
            report.disk_fills.append(fill_disk(cluster.runs, rng.uniform(2.0, 4.0)))
        elif fault == "postgres":
            assert plan.postgres is not None, "postgres_restarts needs Plan.postgres"
            plan.postgres.restart()
            report.postgres_restarts += 1
        else:
            kill_server(cluster, report, prober, rng)


def busy_nodes(cluster: Cluster, timeout: float = 15.0) -> list[str]:
    """The nodes of replicas running now, waiting up to `timeout` for one: a node lost while
    it runs nothing tests nothing (as a supervisor kill takes a live supervisor)."""
    deadline = time.monotonic() + timeout
    with cluster.client() as api:
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                page = api.get("/api/v1/jobs", params={"state": "running", "limit": 500}).json()
                nodes = [r["node"] for j in page["items"] for r in j["replicas"] if r["node"]]
                if nodes or time.monotonic() > deadline:
                    return nodes
            if time.monotonic() > deadline:
                return []
            time.sleep(0.1)


def fill_disk(root: Path, hold_s: float) -> tuple[float, float]:
    """Fill the file system of `root` to the last byte, keep it full `hold_s`, free it."""
    filler = root / "filler"
    began = time.time()
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):  # big blocks, then the last bytes
            with contextlib.suppress(OSError):  # ENOSPC: full at this size
                while os.write(fd, b"\0" * size):
                    pass
        time.sleep(hold_s)
    finally:
        os.close(fd)
        filler.unlink(missing_ok=True)
    return began, time.time()


def kill_server(cluster: Cluster, report: Report, prober: Prober, rng: random.Random) -> None:
    """Kill one server (the leader when `plan.target` says so) and restart it. Of a leader
    among several, time the failover while it stays dead."""
    plan = cluster.plan
    wait_until(lambda: cluster.leader() is not None, 30)
    lead = cluster.leader()
    if plan.target == "leader" and lead is not None:
        index = lead
    else:
        index = rng.randrange(len(cluster.servers))
    kill = Kill(index, index == lead, cluster.kill(index))
    report.kills.append(kill)
    if len(cluster.servers) > 1 and kill.was_leader:
        kill.leader_after_s = wait_until(lambda: cluster.leader() is not None, 60)
        kill.resumed_after_s = first_bind_after(cluster.db_url(), kill.at, 60)
        # at least a few seconds, so that a quick failover on a busy machine still holds
        # calls to count: the survivor must answer them while the killed server is down
        window_end = kill.at + max(kill.resumed_after_s or 60, AVAILABILITY_WINDOW_S)
        time.sleep(max(0.0, window_end - time.time()))
        seen = [ok for at, _, ok in prober.samples if kill.at <= at <= window_end]
        kill.probes, kill.probes_ok = len(seen), sum(seen)
    kill.back_s = cluster.start(index)
    if kill.was_leader and len(cluster.servers) == 1:
        taken = wait_until(lambda: cluster.leader() is not None, 60)
        kill.leader_after_s = None if taken is None else kill.back_s + taken


def first_bind_after(url: str, at: float, timeout: float) -> float | None:
    """Seconds from `at` (wall clock) to the first replica bound after it, if within timeout."""
    engine = make_engine(url)
    moment = datetime.fromtimestamp(at).astimezone()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                bound = conn.execute(
                    select(ReplicaRow.bound_at)
                    .where(ReplicaRow.bound_at > moment)
                    .order_by(ReplicaRow.bound_at)
                    .limit(1)
                ).scalar()
            if bound is not None:
                return float(bound.timestamp() - at)
            time.sleep(0.05)
        return None
    finally:
        engine.dispose()


def kill_supervisors(home: Path, rng: random.Random, count: int = 1) -> list[str]:
    """SIGKILL the supervisors of `count` running replicas; returns their jobs' ids."""
    running = []
    for status_file in (home / "runs").glob("*/*/*/status.json"):
        data = runtime.read_json(status_file) or {}
        sup, created = data.get("supervisor_pid"), data.get("supervisor_create_time")
        if sup and runtime.process_alive(sup, created):
            running.append((status_file.parts[-4], sup))
    killed = []
    for job_id, pid in rng.sample(running, min(count, len(running))):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(job_id)
    return killed


@contextlib.contextmanager
def cluster_of(base: Path, plan: Plan) -> Iterator[Cluster]:
    """The engine, then the servers on it; all stopped at the end."""
    engine = engines.start(plan.executor)
    try:
        cluster = Cluster(base, plan, engine)
        try:
            for index in range(plan.servers):
                cluster.start(index)
            yield cluster
        finally:
            cluster.close()
    finally:
        engine.close()


def run(base: Path, plan: Plan) -> Report:
    """Submit, kill, drain, check: the whole harness on a fresh home under `base`."""
    report = Report(plan)
    began = time.monotonic()
    if plan.postgres_restarts:
        assert plan.postgres is not None, "postgres_restarts needs Plan.postgres"
        plan.postgres.durable()  # a crash then loses only what was never acknowledged
    with cluster_of(base, plan) as cluster:
        submitter, prober = Submitter(cluster, report), Prober(cluster)
        prober.thread.start()
        submitter.start()
        try:
            chaos_loop(cluster, report, submitter, prober)
            if plan.steady:
                submitter.finish.set()
            submitter.join()
        finally:
            submitter.stop.set()
            prober.stop.set()
        prober.thread.join()
        check(cluster, submitter, report)
    report.elapsed_s = time.monotonic() - began
    return report
