"""The executor reconciler: make every bound replica run, and every job reflect its replicas.

Each pass reads what should be (bound replicas, cancel requests) and what is (the executor's
poll), launches what is missing, stops what must stop, and records outcomes. Launching is
idempotent per (job, attempt, replica), so a crash between launch and record launches nothing
twice: the next pass finds the same replica already running.

A pass launches at most `MAX_LAUNCHES` replicas and for at most `LAUNCH_BUDGET_S` (the launch
under way is not cut), taking the jobs in turn: each job's next replica, jobs with fewer left
first; the rest wait for the next pass, which the controller starts at once (`deferred`). A
gang is still placed whole by the scheduler; only its launch spreads over passes. Without the
bound, a gang of 1,024 one-millicore replicas held the controller for 7 minutes, one launch
after another: the lease expired and every other tenant's job waited (issue 35).
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.jobspec import JobKind, JobSpec, first_problem, stored_int
from aicc.core.states import JobState, Reason
from aicc.core.topology import NodeState
from aicc.executors import environment
from aicc.executors.base import DataMount, Executor, ReplicaLaunch, ReplicaState
from aicc.loops.lease import Lease
from aicc.services.common import utcnow
from aicc.services.data import mounts
from aicc.services.jobs import notebooks
from aicc.services.jobs.transitions import change_state
from aicc.services.nodes import node_health, nodes
from aicc.services.tenancy import secrets
from aicc.store.db import Database
from aicc.store.sealing import Sealer
from aicc.store.tables import DeviceRow, JobRow, NodeRow, ReplicaRow

log = logging.getLogger(__name__)

ACTIVE_REPLICA = ("scheduled", "running")
MAX_LAUNCHES = 32  # replicas one pass launches at most
LAUNCH_BUDGET_S = 2.0  # no launch starts after this long into a pass's launches
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
}


@dataclass
class Work:
    """One active replica and what is needed to act on it outside a transaction."""

    replica_id: str
    job_id: str
    executor: str
    handle: str | None
    cancel: bool
    launch: ReplicaLaunch | None
    refused: ReplicaState | None = None  # why it cannot be launched at all (its stored spec)
    # secret values the launch gives that the job does not keep yet: written with what was
    # observed (`secrets.keep_seen`), never in the read transaction that gathers
    secrets_seen: tuple[str, ...] = ()
    turn: int = 0  # its place among the pass's launches (`_launch_turns`): earlier goes first


def gather(session: Session, sealer: Sealer, max_launches: int = MAX_LAUNCHES) -> list[Work]:
    """The pass's work: every active replica to stop or poll, and at most `max_launches` to
    launch, in turns across jobs (`_launch_turns`); the others wait for a later pass."""
    return _gather(session, sealer, max_launches)[0]


def _gather(session: Session, sealer: Sealer, max_launches: int) -> tuple[list[Work], int]:
    """`gather`'s work, and how many replicas it left for a later pass to launch."""
    rows = session.scalars(select(ReplicaRow).where(ReplicaRow.state.in_(ACTIVE_REPLICA))).all()
    jobs = {
        j.id: j
        for j in session.scalars(select(JobRow).where(JobRow.id.in_({r.job_id for r in rows})))
    }
    nodes = {
        n.id: n
        for n in session.scalars(select(NodeRow).where(NodeRow.id.in_({r.node_id for r in rows})))
    }
    broken = _gangs_with_a_failure(session, jobs)
    stops: dict[str, bool] = {}
    for rep in rows:
        job = jobs[rep.job_id]
        stops[rep.id] = (
            job.cancel_requested
            or JobState(job.state).is_terminal()
            or rep.attempt != job.attempt
            or job.id in broken  # a gang whose member failed or was lost cannot go on
            or job.state == JobState.PREEMPTED.value  # SIGTERM now, SIGKILL after the grace
        )
    unlaunched = [rep for rep in rows if not (rep.handle or stops[rep.id])]
    turns = _launch_turns(unlaunched, max_launches)
    work = []
    for rep in rows:
        job, node = jobs[rep.job_id], nodes[rep.node_id]
        stop = stops[rep.id]
        if not (rep.handle or stop) and rep.id not in turns:
            continue  # a later pass launches it
        launch, refused = None, None
        seen: list[str] = []
        if not (rep.handle or stop):
            try:
                launch, seen = _launch(session, sealer, job, rep, node)
            except ValidationError as err:  # bound by an older server, before today's limits
                refused = ReplicaState("exited", reason="invalid_spec", message=first_problem(err))
        turn = turns.get(rep.id, 0)
        work.append(
            Work(
                rep.id, job.id, node.executor, rep.handle, stop, launch, refused, tuple(seen), turn
            )
        )
    return work, len(unlaunched) - len(turns)


def _launch_turns(unlaunched: list[ReplicaRow], limit: int) -> dict[str, int]:
    """The replicas this pass launches, by id, with their turn: at most `limit`, each job's
    replicas in index order, the jobs in turn (round after round; in a round, jobs with fewer
    replicas left first), so a job bound after a big gang starts in the gang's next pass."""
    by_job: dict[str, list[ReplicaRow]] = {}
    for rep in sorted(unlaunched, key=lambda r: (r.job_id, r.index)):
        by_job.setdefault(rep.job_id, []).append(rep)
    queues = sorted(by_job.values(), key=lambda reps: (len(reps), reps[0].job_id))
    chosen: list[str] = []
    turn = 0
    while len(chosen) < limit and queues:
        queues = [reps for reps in queues if len(reps) > turn]
        for reps in queues:
            if len(chosen) >= limit:
                break
            chosen.append(reps[turn].id)
        turn += 1
    return {rep_id: i for i, rep_id in enumerate(chosen)}


def _gangs_with_a_failure(session: Session, jobs: dict[str, JobRow]) -> set[str]:
    ended = session.execute(
        select(ReplicaRow.job_id, ReplicaRow.attempt).where(
            ReplicaRow.job_id.in_(jobs),
            ReplicaRow.state.in_(("exited", "lost")),
            ReplicaRow.reason != "succeeded",
        )
    )
    return {job_id for job_id, attempt in ended if jobs[job_id].attempt == attempt}


def _launch(
    session: Session, sealer: Sealer, job: JobRow, rep: ReplicaRow, node: NodeRow
) -> tuple[ReplicaLaunch, list[str]]:
    """The launch, and the secret values it gives that the job does not keep yet."""
    spec = JobSpec.model_validate(job.spec)
    env = dict(spec.env)
    seen: list[str] = []
    if spec.secrets:
        given, seen = secrets.launched_with(session, sealer, job, spec.secrets)
        env.update(given)
    env.update({k: str(v) for k, v in rep.rendezvous.items()})
    env["AICC_JOB_ID"] = job.id
    env["AICC_ATTEMPT"] = str(job.attempt)
    env["AICC_REPLICA"] = str(rep.index)
    notebook = job.kind == JobKind.NOTEBOOK.value
    if notebook:  # JupyterLab's token, known only to it and to the server (services/notebooks)
        env["JUPYTER_TOKEN"] = notebooks.token(sealer, job.id, job.attempt)
    indices = tuple(d["index"] for d in rep.devices)
    mig_profile = spec.resources.accelerator.mig
    if indices:
        rows = session.scalars(
            select(DeviceRow).where(DeviceRow.node_id == node.id, DeviceRow.index.in_(indices))
        )
        devices = {row.index: nodes.as_device(row) for row in rows}
        env.update(environment.device_env(rep.devices, devices, mig_profile))
    elif spec.resources.accelerator.count == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU job must not grab a GPU it was not given
    launch = ReplicaLaunch(
        job_id=job.id,
        attempt=job.attempt,
        index=rep.index,
        argv=spec.argv(),
        env=env,
        node=node.name,
        device_indices=indices,
        cpu_milli=rep.cpu_milli,
        memory_mib=rep.memory_mib,
        max_runtime_s=spec.max_runtime_s,
        workdir_sha256=spec.workdir_sha256,
        checkpoint_subdir=spec.checkpoint_dir,
        labels={**spec.labels, "aicc.io/org": job.org_id, "aicc.io/project": job.project_id},
        image=spec.image,
        priority=spec.priority,
        devices=tuple(dict(d) for d in rep.devices),
        mig_profile=mig_profile,
        datasets=tuple(
            DataMount(d["name"], d["version_id"], d["ref"], d["bytes"]) for d in job.datasets or ()
        ),
        data_grant=mounts.grant(sealer, job.id, job.attempt) if job.datasets else None,
        home=notebooks.home_of(job) if notebook else None,
        egress=spec.egress or "none",  # filled in at submit: the center's default then
    )
    return launch, seen


def act(
    work: list[Work],
    executors: dict[str, Executor],
    *,
    budget_s: float = LAUNCH_BUDGET_S,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, tuple[str | None, ReplicaState | None]]:
    """Launch, cancel and poll, outside any transaction. replica id -> (handle, observed state).
    Launches stop `budget_s` into the work (the one under way finishes): a replica not launched
    is left out of the answer, still bound, for the next pass; polls and cancels go on."""
    seen: dict[str, tuple[str | None, ReplicaState | None]] = {}
    # launches first, in the turns `gather` chose: the budget cuts the last turns, never polls
    ordered = sorted((item for item in work if item.launch is not None), key=lambda i: i.turn)
    ordered += [item for item in work if item.launch is None]
    deadline = clock() + budget_s
    for item in ordered:
        executor = executors.get(item.executor)
        if executor is None:
            seen[item.replica_id] = (
                item.handle,
                ReplicaState("lost", reason="node_lost", message=f"no executor {item.executor}"),
            )
            continue
        handle = item.handle
        if item.refused is not None:
            seen[item.replica_id] = (handle, item.refused)
            continue
        if item.launch is not None and clock() > deadline:
            continue  # out of this pass's launch budget: the next pass launches it
        try:
            if item.launch is not None:
                try:
                    handle = executor.launch(item.launch)
                except OSError as err:
                    if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                        raise
                    # A full disk is the machine's state, not the job's fault: the replica
                    # stays bound and the next pass launches it again.
                    log.warning("replica %s: launch waits for disk space: %s", item.replica_id, err)
                    continue
            if handle is None:  # stopped before it ever launched
                seen[item.replica_id] = (None, ReplicaState("exited", reason="cancelled"))
                continue
            if item.cancel:
                executor.cancel(handle)
            state = executor.poll(handle)
            if (
                state.phase == "running"
                and state.device_indices is None
                and executor.capabilities.picks_devices
            ):
                picked = executor.device_indices(handle)
                state = replace(state, device_indices=tuple(picked)) if picked else state
            seen[item.replica_id] = (handle, state)
        except Exception as err:  # an engine error is this replica's failure, not the loop's
            log.exception("replica %s: executor %s failed", item.replica_id, item.executor)
            seen[item.replica_id] = (
                handle,
                ReplicaState("exited", reason="supervisor_error", message=str(err)),
            )
    return seen


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
    for replica_id, (handle, state) in seen.items():
        rep = session.get(ReplicaRow, replica_id)
        if rep is None or rep.state not in ACTIVE_REPLICA:
            continue
        if handle and rep.handle is None:  # launched now, its data mounted from the node's cache
            job = session.get(JobRow, rep.job_id)
            mounts.held(session, rep.node_id, job.datasets if job else (), now)
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
                _node_lost(session, rep.node_id, state.message, now)
                failed_nodes.add(rep.node_id)
    for job_id in touched:
        settle(session, session.get(JobRow, job_id), now)  # type: ignore[arg-type]
    node_health.check(session, failed_nodes, health, now)
    return failed_nodes


def _node_lost(session: Session, node_id: str, message: str, now: datetime) -> None:
    """Take the node out of placement at once, so a requeued job does not land there again;
    the executor's next discovery brings it back when its engine sees it healthy."""
    node = session.get(NodeRow, node_id)
    if node is not None and node.state == NodeState.READY.value:
        nodes.mark_down(session, node, message or "a replica was lost with this node", at=now)


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
    if state is JobState.SCHEDULED and reps and all(r.started_at for r in reps):
        started = max(r.started_at for r in reps if r.started_at)
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
    failed = [r for r in ended if r.reason != "succeeded"]
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
        if reps and all_ended:
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
    }.get(rep.reason or "", f"replica {rep.index} failed ({rep.reason}){said}")


@dataclass(frozen=True)
class Reconciled:
    """What a pass found that decides when the next one comes."""

    lost: set[str]  # the nodes replicas were lost with (now marked down)
    launched: bool = False  # it launched a replica
    starting: bool = False  # a replica is launched but its command not yet started
    deferred: bool = False  # replicas wait for a launch: the next pass should come at once


def cycle(
    db: Database,
    lease: Lease,
    executors: dict[str, Executor],
    sealer: Sealer,
    now: datetime,
    health: node_health.Policy = node_health.Policy(),
) -> Reconciled:
    """One pass: launch, stop and poll, then record what was seen."""
    with db.reader() as session:  # reading needs no fence; only the writes below do
        work, left = _gather(session, sealer, MAX_LAUNCHES)
    if not work:
        return Reconciled(set())
    seen = act(work, executors)
    with db.session() as session:
        now = utcnow()  # acting took time: fence and record at the present
        lease.fence(session, now)
        for item in work:
            if item.secrets_seen and item.replica_id in seen:
                secrets.keep_seen(session, sealer, item.job_id, list(item.secrets_seen))
        lost = record(session, seen, now, health)
    launched = any(item.launch is not None and seen.get(item.replica_id) for item in work)
    starting = any(
        state is not None and state.phase in ("starting", "running") and not state.started_at
        for _, state in seen.values()
    )
    # replicas left for the next pass: beyond this pass's count, or cut by its time budget
    # (`act` leaves them out, as it does a launch that waits for disk space: only a pass that
    # launched something brings the next one at once, so a full disk is not polled in a spin)
    cut = any(item.launch is not None and item.replica_id not in seen for item in work)
    return Reconciled(lost, launched, starting, deferred=launched and (left > 0 or cut))
