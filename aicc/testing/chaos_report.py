"""What a chaos run is asked to do (`Plan`) and what it found (`Report`): the plan's knobs, each
server kill's timings, and the broken promises counted for benchmarks/chaos.py and the CI test."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aicc.testing.engines import NodeLoss
from aicc.testing.postgres import PostgresServer


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
