"""Elastic jobs in the store: what a scheduling pass's `Grow` and `Shrink` write, and the
variables that let torchrun's elastic agents find each other (scheduler/elastic.py decides).

Each replica of an elastic job runs one torchrun agent. AICC sets torchrun's own defaults
(`PET_*`, read by `torchrun` for each flag not given), so a job's command is only `torchrun
train.py`: `--nnodes MIN:MAX`, the c10d rendezvous at replica 0 (MASTER_ADDR:MASTER_PORT, which
the executor rewrites where the job's network puts it), replica 0 its host, a job attempt's own
rendezvous id, a close after one second once the minimum has joined, and restarts enough for
every change. A grown replica's agent joins, the running agents see it waiting and restart their
workers with the new world size; a released one is stopped, the others' collectives fail and
they meet again without it. Workers resume from their checkpoint (the script's part, as for
any preemption). TORCH_DISABLE_SHARE_RDZV_TCP_STORE: with the store shared (torch 2.13's
default) an agent joining a running job waits forever for the master address of the next
round; one store per round works.

It grows on executors whose nodes are this machine (`Capabilities.same_host`, the local
executor), where its replicas share the job's network and each agent takes its own loopback
address (torchrun tells agents apart by address and pid, the same in every sandbox's pid
namespace); on Slurm, Ray and Kubernetes an elastic job runs at its minimum, shrinking never.

Only a training job's replicas above its minimum come and go; its outcome is that of replicas
`0..min-1`, as a gang's (reconciling.settle): a released replica's exit never fails it, and the
extras still running when the core has ended are stopped. Every change is an event of the job
(`elastic`, `grown` or `shrunk`), and the replica rows keep when each ran, for its usage.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.jobspec import JobSpec
from aicc.scheduler.snapshot import Grow, Shrink
from aicc.services.common import new_id
from aicc.services.jobs.transitions import hold
from aicc.services.nodes import census as node_census
from aicc.store.tables.jobs import EventRow, JobRow, ReplicaRow

EVENT = "elastic"
MAX_RESTARTS = 1000  # each grow and shrink is one restart of the agents' workers
ACTIVE = ("scheduled", "running")


def torchrun_env(spec: JobSpec, replica: int, job_id: str, attempt: int) -> dict[str, object]:
    """torchrun's flags as its `PET_*` variables, for replica `replica` of an elastic job."""
    elastic = spec.elastic
    if elastic is None:
        return {}
    return {
        "AICC_ELASTIC_MIN": elastic[0],
        "AICC_ELASTIC_MAX": elastic[1],
        "PET_NNODES": f"{elastic[0]}:{elastic[1]}",
        "PET_RDZV_BACKEND": "c10d",
        "PET_RDZV_ID": f"{job_id}-{attempt}",
        "PET_MAX_RESTARTS": MAX_RESTARTS,
        "PET_RDZV_CONF": f"is_host={int(replica == 0)},last_call_timeout=1",
        "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": 1,
    }


def endpoint(env: dict[str, object]) -> None:
    """PET_RDZV_ENDPOINT from MASTER_ADDR and MASTER_PORT as they are now (the binding's, or
    the executor's once it placed the replica in its job's network)."""
    if "PET_RDZV_BACKEND" in env:
        env["PET_RDZV_ENDPOINT"] = f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}"


def could_grow(session: Session, same_host: frozenset[str]) -> bool:
    """Whether a running elastic job has fewer replicas than its maximum, on nodes of an
    executor it can grow on (`same_host`: one whose nodes are this machine, where its replicas
    share the job's network): the scheduling pass then runs with nothing waiting, to grow it."""
    most = JobRow.spec["replicas_max"].as_integer()
    wanting: dict[str, int] = dict(
        session.execute(
            select(JobRow.id, most).where(JobRow.state == "running", most.is_not(None))
        ).all()
    )
    if not wanting or not same_host:
        return False
    held = session.execute(
        select(ReplicaRow.job_id, ReplicaRow.node_id.in_(node_census.ids_on(same_host)))
        .join(JobRow, JobRow.id == ReplicaRow.job_id)
        .where(
            ReplicaRow.node_id.in_(node_census.ids_on()),  # on a node still registered
            ReplicaRow.job_id.in_(wanting),
            ReplicaRow.attempt == JobRow.attempt,
            ReplicaRow.state.in_(ACTIVE),
            ReplicaRow.released_at.is_(None),
        )
    )
    width: dict[str, int] = {}
    elsewhere: set[str] = set()
    for job_id, here in held:
        width[job_id] = width.get(job_id, 0) + 1
        if not here:
            elsewhere.add(job_id)
    return any(
        0 < width.get(job_id, 0) < most and job_id not in elsewhere
        for job_id, most in wanting.items()
    )


def minimum(job: JobRow) -> int | None:
    """An elastic job's minimum, else None: its replicas below it are those whose outcome is
    the job's (a gang's are all); those above come and go, and a released one's exit says
    nothing of the job."""
    spec = job.spec if isinstance(job.spec, dict) else {}
    least, most = spec.get("replicas"), spec.get("replicas_max")
    if isinstance(least, int) and isinstance(most, int) and most > least:
        return least
    return None


def record_grow(
    session: Session, grow: Grow, now: datetime, same_host: frozenset[str] = frozenset()
) -> int:
    """New replicas for a running elastic job, numbered after its last, with replica 0's
    rendezvous; 0 when the job no longer runs (ended meanwhile) or runs on an executor that
    cannot grow it (`could_grow`), else how many."""
    job = session.get(JobRow, grow.job_id)
    if job is not None:
        hold(session, job)
    if job is None or job.state != "running" or job.cancel_requested:
        return 0
    reps = _replicas(session, job)
    first = next((r for r in reps if r.index == 0), None)
    spec = JobSpec.model_validate(job.spec)
    elastic = spec.elastic
    active = [r for r in reps if r.state in ACTIVE and r.released_at is None]
    if first is None or elastic is None or len(active) + len(grow.placements) > elastic[1]:
        return 0
    after = max(r.index for r in reps) + 1
    names = {p.node for p in grow.placements}
    nodes = {n.name: n for n in node_census.listed(session, names=names)}
    if any(n.executor not in same_host for n in nodes.values()):
        return 0
    per_node = {n: sum(1 for r in active if r.node_id == nodes[n].id) for n in nodes}
    ranks = {r.node_id: int(r.rendezvous.get("NODE_RANK") or 0) for r in reps}
    for k, placement in enumerate(grow.placements):
        node = nodes[placement.node]
        index = after + k
        env = {
            **first.rendezvous,
            **torchrun_env(spec, index, job.id, job.attempt),
            "RANK": index,
            "LOCAL_RANK": per_node[placement.node],
            "NODE_RANK": ranks.get(node.id, 0),
        }
        per_node[placement.node] += 1
        session.add(
            ReplicaRow(
                id=new_id("rep"),
                job_id=job.id,
                attempt=job.attempt,
                index=index,
                node_id=node.id,
                devices=[d.record() for d in placement.devices],
                cpu_milli=first.cpu_milli,
                memory_mib=first.memory_mib,
                state="scheduled",
                bound_at=now,
                rendezvous=env,
            )
        )
    width = len(active) + len(grow.placements)
    _event(session, job, "grown", f"grew to {width} replicas in idle capacity", now, width)
    return len(grow.placements)


def record_shrink(session: Session, shrink: Shrink, now: datetime) -> int:
    """Release replicas above the job's minimum: the reconciler stops them. How many."""
    job = session.get(JobRow, shrink.job_id)
    if job is not None:
        hold(session, job)
    if job is None or job.state != "running" or job.cancel_requested:
        return 0
    elastic = JobSpec.model_validate(job.spec).elastic
    if elastic is None:
        return 0
    reps = _replicas(session, job)
    released = 0
    for rep in reps:
        if rep.index in shrink.replicas and rep.index >= elastic[0] and rep.released_at is None:
            rep.released_at = now
            released += 1
    if released:
        width = sum(1 for r in reps if r.state in ACTIVE and r.released_at is None)
        message = f"shrinks to {width} replicas to make room for job {shrink.preemptor}"
        _event(session, job, "shrunk", message, now, width, preemptor=shrink.preemptor)
    return released


def _replicas(session: Session, job: JobRow) -> list[ReplicaRow]:
    query = select(ReplicaRow).where(ReplicaRow.job_id == job.id, ReplicaRow.attempt == job.attempt)
    return list(session.scalars(query.order_by(ReplicaRow.index)))


def _event(
    session: Session,
    job: JobRow,
    reason: str,
    message: str,
    at: datetime,
    replicas: int,
    **data: object,
) -> None:
    session.add(
        EventRow(
            job_id=job.id,
            kind=EVENT,
            reason=reason,
            message=message,
            attempt=job.attempt,
            data={"replicas": replicas, **data},
            at=at,
        )
    )
