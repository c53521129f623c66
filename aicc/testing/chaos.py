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
import itertools
import os
import random
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aicc.executors.local import runtime
from aicc.services.jobs import waiting
from aicc.store.db import database_url, make_engine
from aicc.store.tables import JobRow, LeaseRow, NodeRow, ReplicaRow, UsageRow
from aicc.testing import engines
from aicc.testing.datasets import push
from aicc.testing.engines import NodeLoss
from aicc.testing.postgres import PostgresServer
from aicc.testing.servers import ServerProcess, close_all, free_port

TERMINAL = {"succeeded", "failed", "cancelled"}
NODE = "chaos-node"  # every server names the local node alike: they stand for one machine
NODE_LOSS_S = 30.0  # about how long losing a node and bringing it back takes here
AVAILABILITY_WINDOW_S = 5.0  # the least span after a leader's kill whose calls are counted
# Appends who ran, then maybe sleeps, says it is done and exits with the chosen code.
COMMAND = (
    'echo "$AICC_JOB_ID $AICC_ATTEMPT $AICC_REPLICA" >> "$AICC_OUTPUT_DIR/ran"; '
    "sleep {sleep}; echo done-{key}; exit {code}"
)


@dataclass
class Plan:
    """What to submit and what to break."""

    clients: int = 4
    jobs: int = 200
    kills: int = 50
    servers: int = 1
    db: str | None = None  # a PostgreSQL URL; None: SQLite in the home (one server only)
    gap_s: tuple[float, float] = (0.5, 3.0)  # between a server answering again and the next kill
    long_share: float = 0.25  # jobs that sleep a few seconds, so kills find them running
    long_s: tuple[float, float] = (1.0, 4.0)
    fail_share: float = 0.1  # jobs that exit 3: their true state is failed
    rate: float | None = None  # submits/s over all clients; None: spread over the kills
    steady: bool = False  # submit at `rate` until the last kill (not `jobs` in all)
    idempotency_keys: bool = True  # False shows what retries without them do: duplicates
    target: str = "any"  # which server dies: any | leader
    separate_hosts: bool = False  # each server in its own UTS namespace: another host to the lease
    lease_ttl_s: float | None = None  # None: the server's default
    supervisor_kills: int = 0  # kill -9 a running replica's supervisor: it must retry, not hang
    postgres_restarts: int = 0  # restart PostgreSQL at once (`-m immediate`) mid-run
    postgres: PostgresServer | None = None  # the server `db` is on, for postgres_restarts
    disk_fills: int = 0  # fill the run directories' file system (a tmpfs: needs root) a while
    runs_mib: int = 256  # that file system's size
    corrupt_blob: bool = False  # after the run: flip a bit of a data set's stored pack
    executor: str = "local"  # local | slurm | ray (engines.py starts the engine)
    node_losses: int = 0  # on slurm or ray: lose a node (a slurmd, the Ray head), bring it back
    # after the faults, how long the jobs may go without one more ending before those left are
    # stuck (a loaded machine drains slowly, a stuck job never; at most 10 times this in all)
    drain_s: float = 240.0
    seed: int = 21


@dataclass
class Kill:
    server: int
    was_leader: bool
    at: float  # wall clock (time.time) of the SIGKILL
    back_s: float = 0.0  # until the restarted server answered
    leader_after_s: float | None = None  # until some survivor (or the restarted one) led
    resumed_after_s: float | None = None  # until a replica was bound after the kill
    probes: int = 0  # API calls to the survivors while scheduling was down
    probes_ok: int = 0


@dataclass
class Report:
    plan: Plan
    kills: list[Kill] = field(default_factory=list)
    accepted: int = 0
    rejected: dict[str, str] = field(default_factory=dict)  # key: the 4xx that refused it
    retries: int = 0  # submits sent again after a connection error or 5xx
    replayed: int = 0  # retries answered 200: the first send was committed, its answer lost
    server_errors: int = 0  # 5xx answers seen by clients, but 503
    unavailable: int = 0  # 503s: the server said it could not answer now (its database away)
    jobs_created: int = 0
    duplicates: list[str] = field(default_factory=list)  # keys with more than one job
    key_conflicts: list[str] = field(default_factory=list)  # a retry answered another job
    lost: list[str] = field(default_factory=list)  # accepted, then gone
    wrong_state: list[str] = field(default_factory=list)
    missing_logs: list[str] = field(default_factory=list)
    ran_twice: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    double_billed: list[str] = field(default_factory=list)
    unmetered: list[str] = field(default_factory=list)
    miscounted: list[str] = field(default_factory=list)  # waiting counts that are not the jobs
    supervisors_killed: list[str] = field(default_factory=list)  # their jobs' ids
    postgres_restarts: int = 0
    disk_fills: list[tuple[float, float]] = field(default_factory=list)  # (from, to) wall clock
    disk_outcomes: Counter[str] = field(default_factory=Counter)  # jobs that ran while full
    blob_check: str | None = None  # what reading a damaged data set answered
    lost_twice: int = 0  # jobs failed as supervisor_lost or node_lost: hit on both attempts
    node_losses: list[NodeLoss] = field(default_factory=list)
    node_hits: set[str] = field(default_factory=set)  # jobs that lived on a node when it died
    retried: int = 0  # jobs that ended on a second attempt (their first lost)
    takeovers: int = 0  # times the lease changed hands (more than the leader kills: flapping)
    audit_intact: bool | None = None
    audit_reason: str | None = None
    elapsed_s: float = 0.0

    @property
    def violations(self) -> dict[str, int]:
        """Each broken promise and how often; empty when the run kept them all."""
        found = {
            "lost": len(self.lost),
            "duplicates": len(self.duplicates) + len(self.key_conflicts),
            "wrong_state": len(self.wrong_state),
            "missing_logs": len(self.missing_logs),
            "ran_twice": len(self.ran_twice),
            "stuck": len(self.stuck),
            "double_billed": len(self.double_billed),
            "unmetered": len(self.unmetered),
            "miscounted": len(self.miscounted),
            "audit_broken": int(self.audit_intact is False),
            "damaged_blob_served": int(
                self.blob_check is not None and not self.blob_check.startswith("500 ")
            ),
        }
        return {name: count for name, count in found.items() if count}

    def details(self) -> dict[str, list[str]]:
        """What broke, job by job (the first 10 of each kind)."""
        kinds = ["lost", "duplicates", "key_conflicts", "wrong_state", "missing_logs"]
        kinds += ["ran_twice", "stuck", "double_billed", "unmetered", "miscounted"]
        return {k: getattr(self, k)[:10] for k in kinds if getattr(self, k)}

    def failover(self) -> dict[str, float] | None:
        """min/median/max seconds from killing the leader to a replica bound again."""
        times = [k.resumed_after_s for k in self.kills if k.was_leader and k.resumed_after_s]
        if not times:
            return None
        return {"min_s": min(times), "median_s": statistics.median(times), "max_s": max(times)}

    def availability(self) -> float | None:
        """Share of API calls the surviving servers answered while the leader was down."""
        probes = sum(k.probes for k in self.kills)
        return sum(k.probes_ok for k in self.kills) / probes if probes else None

    def summary(self) -> dict[str, Any]:
        losses = self.node_losses
        return {
            "executor": self.plan.executor,
            "database": "postgresql" if self.plan.db else "sqlite",
            "servers": self.plan.servers,
            "separate_hosts": self.plan.separate_hosts,
            "clients": self.plan.clients,
            "kills": len(self.kills),
            "leader_kills": sum(k.was_leader for k in self.kills),
            "jobs_accepted": self.accepted,
            "jobs_created": self.jobs_created,
            "rejected": len(self.rejected),
            "retries": self.retries,
            "replayed": self.replayed,
            "server_errors": self.server_errors,
            "unavailable_503": self.unavailable,
            "losses": len(self.lost),
            "duplicates": len(self.duplicates) + len(self.key_conflicts),
            "ran_twice": len(self.ran_twice),
            "double_billed": len(self.double_billed),
            "stuck": len(self.stuck),
            "wrong_state": len(self.wrong_state),
            "missing_logs": len(self.missing_logs),
            "unmetered": len(self.unmetered),
            "supervisors_killed": len(self.supervisors_killed),
            "postgres_restarts": self.postgres_restarts,
            "node_losses": len(losses),
            "jobs_on_lost_nodes": len(self.node_hits),
            "jobs_retried": self.retried,
            "engine_saw_node_down_s_median": (
                statistics.median(d for n in losses if (d := n.down_after_s) is not None)
                if any(n.down_after_s is not None for n in losses)
                else None
            ),
            "node_back_s_median": statistics.median(n.back_s for n in losses) if losses else None,
            "failed_lost_twice": self.lost_twice,
            "disk_fills": len(self.disk_fills),
            "ran_while_disk_full": dict(self.disk_outcomes),
            "damaged_blob_read": self.blob_check,
            "lease_takeovers": self.takeovers,
            "audit_intact": self.audit_intact,
            "restart_s_median": (
                statistics.median(k.back_s for k in self.kills) if self.kills else None
            ),
            "failover": self.failover(),
            "availability_during_failover": self.availability(),
            "elapsed_s": round(self.elapsed_s, 1),
            "violations": self.violations,
        }


def job_spec(key: str, rng: random.Random, plan: Plan) -> tuple[dict[str, Any], int]:
    """A small job named by its key, and the exit code it will end with."""
    sleep = rng.uniform(*plan.long_s) if rng.random() < plan.long_share else 0
    code = 3 if rng.random() < plan.fail_share else 0
    spec = {
        "name": key,
        "command": COMMAND.format(sleep=f"{sleep:.2f}", key=key, code=code),
        "resources": {"cpu": "100m", "memory": "64MiB"},
        "max_retries": 1,  # a replica lost with its supervisor runs again, once
    }
    return spec, code


class Cluster:
    """`aicc serve` processes on one home and one database, killed and restarted on demand, and
    the engine they place work on (`engine`, already started)."""

    def __init__(self, base: Path, plan: Plan, engine: engines.Engine | None = None) -> None:
        if plan.servers > 1 and not plan.db:
            raise ValueError("several servers need PostgreSQL (Plan.db)")
        if plan.executor != "local" and (plan.supervisor_kills or plan.disk_fills):
            raise ValueError("supervisor kills and disk fills are the local executor's faults")
        if plan.executor == "local" and plan.node_losses:
            raise ValueError("node losses need an engine: Plan.executor slurm or ray")
        self.plan = plan
        self.engine = engine or engines.Local()
        self.home = base / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "loop_interval_s": 0.2,
            "limits": {"grace_s": 2.0},
            "node_name": NODE,
            **self.engine.settings(),
        }
        if plan.lease_ttl_s is not None:
            config["lease_ttl_s"] = plan.lease_ttl_s
        if plan.node_losses:  # lost on purpose: cordoned at the third, the one Ray node is gone
            config["limits"]["node_failures_to_cordon"] = 0
        (self.home / "config.yaml").write_text(yaml.safe_dump(config))
        self.servers = [
            ServerProcess(self.home, free_port(), db=plan.db) for _ in range(plan.servers)
        ]
        self.runs = self.home / self.engine.runs
        self.mounted = False
        if plan.disk_fills:
            self.runs.mkdir()
            size = f"size={plan.runs_mib}m"
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(self.runs)], check=True
            )
            self.mounted = True
        self.lock = threading.Lock()  # who is down, for the clients and probes
        self.down: set[int] = set()

    def start(self, index: int) -> float:
        """Start (or restart) a server; returns how long until it answered."""
        server = self.servers[index]
        began = time.monotonic()
        if self.plan.separate_hosts:
            server.wrap = [
                "unshare",
                "--uts",
                "sh",
                "-c",
                f'hostname chaos-{index} && exec "$@"',
                "sh",
            ]
            # (another host's holder name: survivors wait the lease out, as across machines)
        server.start(timeout=120)
        with self.lock:
            self.down.discard(index)
        return time.monotonic() - began

    def kill(self, index: int) -> float:
        with self.lock:
            self.down.add(index)
        at = time.time()
        self.servers[index].kill9()
        return at

    def leader(self) -> int | None:
        for index, server in enumerate(self.servers):
            if index in self.down:
                continue
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if httpx.get(server.url + "/healthz", timeout=2).json().get("leader"):
                    return index
        return None

    def client(self, index: int = 0) -> httpx.Client:
        return self.servers[index].client()

    def db_url(self) -> str:
        return database_url(self.plan.db, self.home)

    def close(self) -> None:
        """Every server stopped and its replicas killed, the tmpfs unmounted: each even when
        one before it raised."""
        try:
            close_all(self.servers)
        finally:
            if self.mounted:
                subprocess.run(["umount", "--lazy", str(self.runs)], check=False)


class Submitter:
    """Client threads: each submits its share of keys to the servers in turn, retrying a
    connection error or a 5xx on the next server with the same Idempotency-Key."""

    def __init__(self, cluster: Cluster, report: Report) -> None:
        self.cluster = cluster
        self.report = report
        self.plan = cluster.plan
        self.accepted: dict[str, str] = {}  # key -> job id
        self.expected: dict[str, int] = {}  # key -> exit code
        self.lock = threading.Lock()
        self.stop = threading.Event()  # give up, even on a job being retried
        self.finish = threading.Event()  # take no new key
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.plan.clients):
            thread = threading.Thread(target=self.run, args=(n,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def done(self) -> bool:
        return not any(t.is_alive() for t in self.threads)

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def keys(self, n: int) -> Iterator[str]:
        """Client n's keys: its share of `plan.jobs`, or, when `plan.steady`, until `finish`."""
        for i in itertools.count():
            if self.finish.is_set() or (
                not self.plan.steady and i * self.plan.clients + n >= self.plan.jobs
            ):
                return
            yield f"chaos-{i:05d}-{n}"

    def run(self, n: int) -> None:
        rng = random.Random(self.plan.seed * 1000 + n)
        servers = self.cluster.servers
        clients = [s.client() for s in servers]
        # By default the submits span the faults (a restart takes ~4 s here, a node's loss
        # and return ~30 s): most kills then meet clients mid-submit, some of them between a
        # commit and its answer, and nodes die under running jobs.
        gap = sum(self.plan.gap_s) / 2
        span = self.plan.kills * (gap + 4.0) + self.plan.node_losses * (gap + NODE_LOSS_S)
        rate = self.plan.rate or self.plan.jobs / max(1.0, span)
        every = self.plan.clients / rate
        turn, next_at = n, time.monotonic()
        try:
            for key in self.keys(n):
                if every:
                    next_at += every
                    time.sleep(max(0.0, next_at - time.monotonic()))
                spec, code = job_spec(key, rng, self.plan)
                while not self.stop.is_set():
                    index = turn % len(servers)
                    turn += 1
                    try:
                        answer = clients[index].post(
                            "/api/v1/jobs",
                            json=spec,
                            headers={"Idempotency-Key": key} if self.plan.idempotency_keys else {},
                        )
                    except httpx.HTTPError:
                        self.note_retry(0)
                        time.sleep(0.05)
                        continue
                    if answer.status_code >= 500 or answer.status_code == 429:
                        self.note_retry(answer.status_code)
                        time.sleep(0.05)
                        continue
                    self.settle(key, code, answer)
                    break
        finally:
            for client in clients:
                client.close()

    def note_retry(self, status: int) -> None:
        """A send to try again: `status` 0 for no answer at all."""
        with self.lock:
            self.report.retries += 1
            self.report.server_errors += int(status >= 500 and status != 503)
            self.report.unavailable += int(status == 503)

    def settle(self, key: str, code: int, answer: httpx.Response) -> None:
        with self.lock:
            if not answer.is_success:
                self.report.rejected[key] = f"{answer.status_code} {answer.text[:200]}"
                return
            job_id = answer.json()["id"]
            self.report.replayed += int(answer.status_code == 200)
            if self.accepted.setdefault(key, job_id) != job_id:
                self.report.key_conflicts.append(key)
            self.expected[key] = code


class Prober:
    """Reads the job list from every live server every 50 ms: the API's availability."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.samples: list[tuple[float, int, bool]] = []  # (wall time, server, answered)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        clients = [s.client() for s in self.cluster.servers]
        while not self.stop.wait(0.05):
            for index, client in enumerate(clients):
                if index in self.cluster.down:
                    continue
                at = time.time()
                try:
                    ok = client.get("/api/v1/jobs", params={"limit": 1}, timeout=2).is_success
                except httpx.HTTPError:
                    ok = index in self.cluster.down  # a kill raced this call: not counted
                    if ok:
                        continue
                self.samples.append((at, index, ok))
        for client in clients:
            client.close()


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


def unfinished(engine: Engine, ids: set[str]) -> int:
    """How many of the jobs `ids` have not ended, counted in the database: the drain asks it
    every half second, and listing every job through the API as often took the servers' CPU
    from the jobs it waits for (a job the database does not hold counts as not ended)."""
    with engine.connect() as conn:
        done = conn.execute(
            select(func.count())
            .select_from(JobRow)
            .where(JobRow.id.in_(ids), JobRow.state.in_(TERMINAL))
        ).scalar_one()
    return len(ids) - int(done)


def drain(left: Callable[[], int], quiet_s: float, every: float = 0.5) -> None:
    """Wait until `left()` is 0, as long as it keeps falling: give up after `quiet_s` with no
    job ended, or after ten times that in all."""
    began = fell = time.monotonic()
    fewest = left()
    while fewest and time.monotonic() - fell < quiet_s and time.monotonic() - began < 10 * quiet_s:
        time.sleep(every)
        now = left()
        if now < fewest:
            fewest, fell = now, time.monotonic()


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.05) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return time.monotonic() - began
        time.sleep(every)
    return None


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

        wait_until(metered, timeout, every=0.5)
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
