"""What a reconcile pass writes: what the executors were seen doing, each touched job settled
from its replicas, and the nodes that lost replicas marked down (cordoned when it happens too
often).

The loop (loops/reconcile.py) launches, stops and polls outside any transaction, then fences
one and writes here; jobs move only through the one state writer (`transitions.change_state`).
A gang is one unit: the first replica to fail decides, and a lost one requeues the whole gang
once it has all stopped, so that no two attempts run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.jobspec import stored_int
from aicc.core.states import JobState, Reason
from aicc.executors.base import ReplicaState
from aicc.services.data import mounts
from aicc.services.images import cached as images_held
from aicc.services.jobs import elastic, notebooks
from aicc.services.jobs.launches import ACTIVE_REPLICA, Work
from aicc.services.jobs.transitions import change_state
from aicc.services.nodes import node_health, nodes
from aicc.store.sealing import Sealer
from aicc.store.tables.jobs import JobRow, ReplicaRow

# A replica lost with its node, or with its supervisor (the node itself still answers), is retried
# up to max_retries; an engine only reports it lost once it is known to run no more.
RETRIED_REASONS = {"node_lost": Reason.NODE_LOST, "supervisor_lost": Reason.SUPERVISOR_LOST}
MESSAGE_CHARS = 2000  # of an engine's message kept on the replica
FAILURE_REASONS = {
    "exit_code": Reason.EXIT_CODE,
    "oom_killed": Reason.OOM_KILLED,
    "runtime_exceeded": Reason.RUNTIME_EXCEEDED,
    "signal": Reason.SIGNAL,
    "supervisor_error": Reason.LAUNCH_FAILED,
    "invalid_spec": Reason.INVALID_SPEC,
    "image_unavailable": Reason.IMAGE_UNAVAILABLE,
}


def write(
    session: Session,
    sealer: Sealer,
    work: list[Work],
    seen: dict[str, tuple[str | None, ReplicaState | None]],
    *,
    now: datetime,
    health: node_health.Policy,
) -> set[str]:
    """A pass's outcome, in the caller's fenced transaction: the secret values its launches
    gave that their jobs did not keep yet (`_keep_seen`), then `record`. Returns the ids
    of the nodes replicas were lost with."""
    for item in work:
        if item.secrets_seen and item.replica_id in seen:
            _keep_seen(session, sealer, item.job_id, list(item.secrets_seen))
    return record(session, seen, now, health)


def _keep_seen(session: Session, sealer: Sealer, job_id: str, values: list[str]) -> None:
    """Keep on the job, sealed and each once, the secret values a replica was launched with
    (`JobRow.secrets_seen`): its logs are masked with them even after a secret is replaced."""
    job = session.get(JobRow, job_id)
    if job is None:
        return
    known = {sealer.open(sealed) for sealed in job.secrets_seen}
    new = [sealer.seal(v) for v in dict.fromkeys(values) if v not in known]
    if new:
        job.secrets_seen = [*job.secrets_seen, *new]


def record(
    session: Session,
    seen: dict[str, tuple[str | None, ReplicaState | None]],
    now: datetime,
    health: node_health.Policy = node_health.Policy(),
) -> set[str]:
    """Write what was observed, settle each touched job from its replicas, and cordon a node
    that was lost too often (`health`). Only a lost node counts: how a job's replica ends, its
    supervisor killed included (a job can do that), says nothing about the node. Returns the
    ids of the nodes replicas were lost with."""
    touched: set[str] = set()
    failed_nodes: set[str] = set()
    books: dict[str, tuple[str | None, int]] = {}  # images' digests and sizes, read once
    for replica_id, (handle, state) in seen.items():
        rep = session.get(ReplicaRow, replica_id)
        if rep is None or rep.state not in ACTIVE_REPLICA:
            continue
        if handle and rep.handle is None:  # launched now, its data mounted from the node's cache
            job = session.get(JobRow, rep.job_id)  # and its image in the node's engine
            mounts.held(session, rep.node_id, job.datasets if job else (), now)
            image = job.spec.get("image") if job and isinstance(job.spec, dict) else None
            if isinstance(image, str):
                images_held.launched(session, rep.node_id, image, now, books)
        rep.handle = handle
        touched.add(rep.job_id)
        if state is None:
            continue
        if state.started_at and rep.started_at is None:
            rep.started_at = state.started_at
        if state.peak_rss_mib is not None:
            rep.peak_rss_mib = state.peak_rss_mib
        if state.device_indices is not None:  # the engine chose the devices: record its choice
            _record_devices(rep, state.device_indices)
        if state.phase in ("starting", "running"):
            rep.state = "running"
        else:
            rep.state = "exited" if state.phase == "exited" else "lost"
            rep.exit_code, rep.reason = state.exit_code, state.reason
            rep.message = state.message[:MESSAGE_CHARS] or None
            rep.ended_at = state.ended_at or now
            if state.reason == "node_lost":
                why = state.message or "a replica was lost with this node"
                nodes.lost(session, rep.node_id, why, at=now)  # not placed on again at once
                failed_nodes.add(rep.node_id)
    for job_id in touched:
        settle(session, session.get(JobRow, job_id), now)  # type: ignore[arg-type]
    node_health.check(session, failed_nodes, health, now)
    return failed_nodes


def _record_devices(rep: ReplicaRow, indices: tuple[int, ...]) -> None:
    bound = list(rep.devices)
    if [d["index"] for d in bound] == list(indices) or len(bound) != len(indices):
        return
    rep.devices = [{**d, "index": i} for d, i in zip(bound, indices, strict=True)]


def settle(session: Session, job: JobRow, now: datetime) -> None:
    """Derive the job's state from its current attempt's replicas (the gang is one unit)."""
    state = JobState(job.state)
    if state.is_terminal() or state in (JobState.PENDING, JobState.ADMITTED):
        return
    reps = list(
        session.scalars(
            select(ReplicaRow)
            .where(ReplicaRow.job_id == job.id, ReplicaRow.attempt == job.attempt)
            .order_by(ReplicaRow.index)
        )
    )
    least = elastic.minimum(job)  # the replicas whose outcome is the job's: a gang's all
    core = reps if least is None else [r for r in reps if r.index < least]
    if state is JobState.SCHEDULED and core and all(r.started_at for r in core):
        started = max(r.started_at for r in core if r.started_at)
        change_state(
            session,
            job,
            JobState.RUNNING,
            reason=Reason.STARTED,
            message=f"{len(reps)} replica(s) running",
            at=min(started, now),
        )
        state = JobState.RUNNING
    ended = [r for r in reps if r.state in ("exited", "lost")]
    all_ended = len(ended) == len(reps)
    if state is JobState.PREEMPTED:
        if all_ended:
            _after_preemption(session, job, now)
        return
    failed = [r for r in ended if r.reason != "succeeded" and r in core]
    if job.cancel_requested:
        if all_ended:
            reason, message = notebooks.stop_reason(session, job) or (
                Reason.CANCELLED_BY_USER,
                "cancelled",
            )
            at = _ended_at(job, reps, now)
            change_state(session, job, JobState.CANCELLED, reason=reason, message=message, at=at)
        return
    if not failed:
        if core and all(r.state in ("exited", "lost") for r in core):
            job.exit_code = 0
            change_state(
                session,
                job,
                JobState.SUCCEEDED,
                reason=Reason.SUCCEEDED,
                message="all replicas exited 0",
                at=_ended_at(job, reps, now),
            )
        return
    _settle_failed(session, job, failed, all_ended, now)


def _settle_failed(
    session: Session, job: JobRow, failed: list[ReplicaRow], all_ended: bool, now: datetime
) -> None:
    """The first replica to fail decides: one lost (with its node or its supervisor) retries
    the gang while retries are left, once all of it has stopped; anything else fails the job
    with that replica's reason."""
    first = min(failed, key=lambda r: (r.ended_at or now, r.index))
    retries = stored_int(job.spec, "max_retries") or 0
    if first.reason in RETRIED_REASONS or first.state == "lost":
        reason = RETRIED_REASONS.get(first.reason or "", Reason.NODE_LOST)
        lost = "its node" if reason is Reason.NODE_LOST else "its supervisor"
        if job.attempt < retries:
            # Requeue only once the whole gang is known stopped, so that no two attempts run.
            if all_ended:
                change_state(
                    session,
                    job,
                    JobState.PENDING,
                    reason=reason,
                    message=f"replica {first.index} lost {lost}; "
                    f"retry {job.attempt + 1} of {retries}",
                    at=now,
                )
            return
        message = f"replica {first.index} lost {lost} and no retries are left"
    else:
        reason = FAILURE_REASONS.get(first.reason or "", Reason.EXIT_CODE)
        message = _failure_message(first)
    job.exit_code = first.exit_code
    change_state(
        session,
        job,
        JobState.FAILED,
        reason=reason,
        message=message,
        at=_ended_at(job, [first], now),
    )


def _ended_at(job: JobRow, reps: list[ReplicaRow], now: datetime) -> datetime:
    """When the replicas ended (perhaps while no server ran), not when a server noticed; never
    in the future, nor before the job started."""
    ends = [r.ended_at for r in reps if r.ended_at is not None]
    at = min(max(ends), now) if ends else now
    return max(at, job.started_at) if job.started_at is not None else at


def _after_preemption(session: Session, job: JobRow, now: datetime) -> None:
    """A preempted job whose replicas have stopped goes back to the queue, or fails for good."""
    retries = stored_int(job.spec, "max_retries") or 0
    if job.attempt < retries:
        change_state(
            session,
            job,
            JobState.PENDING,
            reason=Reason.PREEMPTED,
            message=f"preempted; retry {job.attempt + 1} of {retries}",
            at=now,
        )
    else:
        change_state(
            session,
            job,
            JobState.FAILED,
            reason=Reason.PREEMPTED,
            message="preempted, and no retries are left (max_retries)",
            at=now,
        )


def _failure_message(rep: ReplicaRow) -> str:
    said = f": {rep.message}" if rep.message else ""
    return {
        "exit_code": f"replica {rep.index} exited with code {rep.exit_code}",
        "oom_killed": f"replica {rep.index} went over its memory limit of {rep.memory_mib} MiB",
        "runtime_exceeded": f"replica {rep.index} ran past its max_runtime",
        "signal": f"replica {rep.index} was killed by signal {-(rep.exit_code or 0)}",
        "invalid_spec": f"replica {rep.index} was not launched: its spec, stored by an older "
        f"server, breaks the job spec's limits (docs/job-spec.md){said}; submit it again "
        "within them",
        "supervisor_error": f"replica {rep.index} could not be launched{said}",
        "image_unavailable": f"replica {rep.index} did not start: its image could not be "
        f"pulled{said}",
    }.get(rep.reason or "", f"replica {rep.index} failed ({rep.reason}){said}")
