"""The moving parts of a chaos run: the servers killed and restarted (`Cluster`), the clients
that submit through the kills (`Submitter`) and the prober that times the API's availability."""

from __future__ import annotations

import contextlib
import itertools
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from aicc.store.db import database_url
from aicc.testing import engines, startup
from aicc.testing.chaos_report import Plan, Report
from aicc.testing.servers import ServerProcess, close_all, free_port

NODE = "chaos-node"  # every server names the local node alike: they stand for one machine
NODE_LOSS_S = 30.0  # about how long losing a node and bringing it back takes here
# Appends who ran, then maybe sleeps, says it is done and exits with the chosen code.
COMMAND = (
    'echo "$AICC_JOB_ID $AICC_ATTEMPT $AICC_REPLICA" >> "$AICC_OUTPUT_DIR/ran"; '
    "sleep {sleep}; echo done-{key}; exit {code}"
)


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
                if startup.get(server.url + "/healthz", timeout=2).json().get("leader"):
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
