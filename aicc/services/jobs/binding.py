"""What a scheduling pass writes: the binds, preemptions and waiting reasons the scheduler decided.

The loop (`loops/scheduling.py`) reads the snapshot, asks the scheduler and fences its
transaction; everything it then writes is here, in the jobs' context, through the one state
writer (`transitions.change_state`). Every record reads its job again (`hold` on PostgreSQL) and
leaves alone a job that moved meanwhile (cancelled by its owner between the snapshot and the
write), so a decision made on a snapshot read a moment ago is safe to record.
"""

from __future__ import annotations

import logging
import socket
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from aicc.core.jobspec import LISTENING_KINDS, JobSpec
from aicc.core.states import WAITING, JobState, Reason
from aicc.scheduler.snapshot import (
    Bind,
    CycleDecision,
    Grow,
    Placement,
    Preempt,
    Shrink,
    Wait,
    admitted,
    reserved,
)
from aicc.services.common import new_id
from aicc.services.jobs import elastic
from aicc.services.jobs.transitions import change_state, hold
from aicc.services.nodes import census as node_census
from aicc.services.nodes.census import NodeFacts
from aicc.store.tables.base import table
from aicc.store.tables.jobs import JobRow, ReplicaRow

log = logging.getLogger(__name__)

_WAITING_STATES = frozenset(s.value for s in WAITING)


def anyone_waiting(session: Session) -> bool:
    """Whether any job waits (pending or admitted): without one, a pass takes no write lock."""
    waiting = session.scalar(
        select(func.count()).select_from(JobRow).where(JobRow.state.in_(("pending", "admitted")))
    )
    return bool(waiting)


def record(
    session: Session,
    decisions: Sequence[CycleDecision],
    *,
    now: datetime,
    shown: Mapping[str, tuple[str, str | None]],
    invalid: Mapping[str, str] | None = None,
    poisoned: Mapping[str, str] | None = None,
    same_host: frozenset[str] = frozenset(),
) -> int:
    """Write one pass's decisions in the caller's (fenced) transaction: first quarantine the
    jobs the pass could not take (`invalid`: a stored spec that is not valid; `poisoned`: the
    scheduler raised on them), then the binds, preemptions and waits. `shown`: each waiting
    job's state and message as the snapshot read them; a wait that shows nothing new writes
    nothing. Returns the number of jobs bound."""
    for job_id, problem in (invalid or {}).items():
        message = f"its stored spec is not valid ({problem}); submit it again, corrected"
        quarantine(session, job_id, Reason.INVALID_SPEC, message, now)
    for job_id, error in (poisoned or {}).items():
        message = (
            f"scheduling it failed ({error}); it was set aside so that the other jobs "
            "could be scheduled"
        )
        quarantine(session, job_id, Reason.QUARANTINED, message, now)
    held_for = reserved(decisions)
    changed = [
        d
        for d in decisions
        if isinstance(d, Wait) and not shown_already(d, shown.get(d.job_id), held_for)
    ]
    # A wait that only says something new (most: a new job behind a full lane, a quota, no
    # room) is one statement for all of them, with no row loaded; the rows are read only of
    # jobs whose state may change (admitted now, or admitted before and not now), with an event.
    moves = {d.job_id for d in changed if _may_move(d, shown.get(d.job_id), held_for)}
    retold = [
        {"job": d.job_id, "said": d.reasons[0].message} for d in changed if d.job_id not in moves
    ]
    if retold:
        session.execute(_RETELL, retold)
    to_write = [d.job_id for d in changed if d.job_id in moves]
    held: list[JobRow] = []  # one read for the jobs admitted; the session's identity map
    for start in range(0, len(to_write), 500):  # keeps them while held here
        batch = to_write[start : start + 500]
        held += session.scalars(select(JobRow).where(JobRow.id.in_(batch)))
    admitting, bound = set(to_write), 0
    for decision in decisions:
        if isinstance(decision, Bind):
            bound += record_bind(session, decision, now, same_host)
        elif isinstance(decision, Preempt):
            record_preempt(session, decision, now)
        elif isinstance(decision, Grow):
            elastic.record_grow(session, decision, now, same_host)
        elif isinstance(decision, Shrink):
            elastic.record_shrink(session, decision, now)
        elif isinstance(decision, Wait) and decision.job_id in admitting:
            record_wait(session, decision, now, admitted=admitted(decision, held_for))
    return bound


def free_port() -> int:
    """A port the rendezvous of a gang can use (MASTER_PORT), fresh for every job."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def address(node: NodeFacts, same_host: frozenset[str]) -> str:
    """Where other processes reach `node`: 127.0.0.1 for an executor whose nodes are all this
    machine, else the node's address."""
    if node.executor in same_host:
        return "127.0.0.1"
    return str(node.labels.get("address") or node.address or node.name)


def rendezvous(
    bind: Bind,
    nodes: dict[str, NodeFacts],
    same_host: frozenset[str] = frozenset(),
    listens: bool = False,
) -> list[dict[str, object]]:
    """torchrun's variables for each replica of a gang, which meets at its first node: on
    127.0.0.1 where all its replicas share one node (they then share the job's own network
    there, executors/netns.py; AICC_GANG_NODES says how many nodes it spans), else at that
    node's address. A gang over several nodes of an executor whose nodes are not this
    machine also gets AICC_GANG_LINK_PORT: where node rank 0's relay of the gang link
    listens at that address (executors/ganglink.py; the executor then makes MASTER_ADDR
    the link's, as it alone knows whether the replica runs in a namespace). A replica that
    `listens` (a
    service's, a notebook's) also gets a fresh `PORT` on its node and `AICC_SERVICE_HOST`,
    the address at which AICC reaches it there."""
    first = bind.placements[0].node
    spread = len({p.node for p in bind.placements})
    addr = "127.0.0.1" if spread == 1 else address(nodes[first], same_host)
    port = free_port()
    link = {}
    if spread > 1 and nodes[first].executor not in same_host:
        link["AICC_GANG_LINK_PORT"] = free_port()
    node_order: dict[str, int] = {}
    local: dict[str, int] = defaultdict(int)
    out = []
    for placement in bind.placements:
        node_rank = node_order.setdefault(placement.node, len(node_order))
        out.append(
            {
                "WORLD_SIZE": len(bind.placements),
                "RANK": placement.replica,
                "LOCAL_RANK": local[placement.node],
                "NODE_RANK": node_rank,
                "MASTER_ADDR": addr,
                "MASTER_PORT": port,
                "AICC_GANG_NODES": spread,  # 1: the gang may share one network (netns.py)
                **link,
            }
        )
        if listens:
            host = address(nodes[placement.node], same_host)
            out[-1].update({"PORT": free_port(), "AICC_SERVICE_HOST": host})
        local[placement.node] += 1
    return out


def shown_already(
    wait: Wait, shown: tuple[str, str | None] | None, held_for: frozenset[str] = frozenset()
) -> bool:
    """Whether a waiting job, as the snapshot read it (`shown`: its state and message), already
    shows this wait: then the pass leaves it alone, and holds the write lock only for changes.
    `held_for`: the jobs the pass holds space for (`snapshot.reserved`), which are admitted."""
    if not wait.reasons:
        return True  # nothing to say
    if shown is None or shown[1] != wait.reasons[0].message:
        return False
    state = JobState.ADMITTED if admitted(wait, held_for) else JobState.PENDING
    return shown[0] == state.value


def _may_move(wait: Wait, shown: tuple[str, str | None] | None, held_for: frozenset[str]) -> bool:
    """Whether recording this wait may change the job's state: it is admitted now, or it was
    (or the snapshot did not read it)."""
    return admitted(wait, held_for) or shown is None or shown[0] != JobState.PENDING.value


def record_wait(session: Session, wait: Wait, now: datetime, *, admitted: bool = False) -> None:
    """A waiting job is `admitted` while a place for all its replicas is its own (a reservation,
    or its victims stopping: `snapshot.admitted`); else it is `pending`, whatever quota and
    lanes said. An admitted job whose place is gone (the reservation went to a job ahead of
    it, its preemption was called off) is pending again: not a requeue, the attempt stays."""
    job = session.get(JobRow, wait.job_id)
    if job is None or not wait.reasons or job.state not in _WAITING_STATES:
        return  # no longer waiting (cancelled meanwhile): its message is its own
    message = wait.reasons[0].message
    if job.state == JobState.PENDING.value and admitted:
        change_state(
            session, job, JobState.ADMITTED, reason=Reason.ADMITTED, message=message, at=now
        )
    elif job.state == JobState.ADMITTED.value and not admitted:
        change_state(
            session, job, JobState.PENDING, reason=Reason.PLACE_LOST, message=message, at=now
        )
    elif job.message != message:  # write only when it changes, not on every pass
        job.message = message


def record_preempt(session: Session, preempt: Preempt, now: datetime) -> None:
    """The victim enters its grace period; the reconciler stops it and requeues or fails it."""
    job = session.get(JobRow, preempt.job_id)
    if job is None or job.state not in (JobState.SCHEDULED.value, JobState.RUNNING.value):
        return
    job.preempted_by = [*(job.preempted_by or []), preempt.preemptor]
    change_state(
        session,
        job,
        JobState.PREEMPTED,
        reason=Reason.PREEMPTED,
        message=preempt.message,
        at=now,
        data={"preemptor": preempt.preemptor, "why": preempt.reason, "grace_s": preempt.grace_s},
    )


def quarantine(session: Session, job_id: str, reason: Reason, message: str, now: datetime) -> None:
    """A waiting job the scheduler cannot take (see `loops/scheduling.cycle`) fails with a
    reason its owner sees (`aicc job show`, its events), instead of stopping every pass for
    everyone."""
    job = session.get(JobRow, job_id)
    if job is not None:
        hold(session, job)
    if job is None or job.state not in (JobState.PENDING.value, JobState.ADMITTED.value):
        return  # cancelled meanwhile
    log.warning("job %s quarantined (%s): %s", job_id, reason.value, message)
    change_state(session, job, JobState.FAILED, reason=reason, message=message, at=now)


def record_bind(
    session: Session, bind: Bind, now: datetime, same_host: frozenset[str] = frozenset()
) -> int:
    """The job's replicas, each on its node with its devices and rendezvous, and the job
    `scheduled`; 0 for a job no longer waiting, else 1."""
    job = session.get(JobRow, bind.job_id)
    if job is not None:
        hold(session, job)
    if job is None or job.state not in (JobState.PENDING.value, JobState.ADMITTED.value):
        return 0  # cancelled meanwhile
    if job.state == JobState.PENDING.value:
        change_state(
            session, job, JobState.ADMITTED, reason=Reason.ADMITTED, message="admitted", at=now
        )
    job.borrowed = bind.borrowed
    spec = job.spec["resources"]
    names = {p.node for p in bind.placements}
    nodes = {n.name: n for n in node_census.listed(session, names=names)}
    listens = job.spec.get("kind") in LISTENING_KINDS
    envs = rendezvous(bind, nodes, same_host, listens)
    if job.spec.get("replicas_max"):  # an elastic job: torchrun's flags too
        parsed = JobSpec.model_validate(job.spec)
        for placement, env in zip(bind.placements, envs, strict=True):
            env.update(elastic.torchrun_env(parsed, placement.replica, job.id, job.attempt))
            elastic.endpoint(env)
    for placement, env in zip(bind.placements, envs, strict=True):
        session.add(_replica(job, placement, nodes[placement.node], spec, env, now))
    where = ", ".join(sorted(names))
    change_state(
        session, job, JobState.SCHEDULED, reason=Reason.BOUND, message=f"bound to {where}", at=now
    )
    return 1


def _replica(
    job: JobRow,
    placement: Placement,
    node: NodeFacts,
    spec: dict[str, object],
    env: dict[str, object],
    now: datetime,
) -> ReplicaRow:
    return ReplicaRow(
        id=new_id("rep"),
        job_id=job.id,
        attempt=job.attempt,
        index=placement.replica,
        node_id=node.id,
        devices=[d.record() for d in placement.devices],
        cpu_milli=spec["cpu_milli"],
        memory_mib=spec["memory_mib"],
        state="scheduled",
        bound_at=now,
        rendezvous=env,
    )


_JOBS = table(JobRow)
# A waiting job's new message; a job no longer waiting (cancelled meanwhile) keeps its own.
# Run with many parameter sets at once (executemany), which takes no expanding IN: the states
# are written out as equalities.
_RETELL = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job"), or_(*(_JOBS.c.state == s.value for s in WAITING)))
    .values(message=bindparam("said"))
)
