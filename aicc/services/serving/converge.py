"""The control loop's side of deployments (`loops/deployments.py`, each pass): keep every
deployment's replicas as wanted. `probes` says which replicas to probe now (the loop probes them
outside any transaction); `converge` records their answers and makes one level-triggered step:
start replica jobs as the deployment's creator, mark them ready (jobs' `endpoints.set_ready`,
which the gateway routes by), roll updates one replica at a time, drain and cancel replicas no
longer wanted, replace dead ones, back off after failed starts, and set each deployment's state.

The API's use cases (create, update, scale, stop...) are in `deployments.py`: they change only
what is wanted, and wake the loop when they commit. A replica's phase is written only by
`_phase` here (core/states.py `REPLICA_ALLOWED`); a deployment's state only by
`lifecycle.move`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.jobspec import JobSpec
from aicc.core.mistakes import first_problem
from aicc.core.states import DeploymentState, JobState, ReplicaPhase, replica_transition
from aicc.services.common import NotFound, ServiceError, utcnow
from aicc.services.jobs import endpoints, jobs, served
from aicc.services.serving.deployments import Policy
from aicc.services.serving.lifecycle import end_replica, endpoints_of, move
from aicc.services.tenancy import directory, tenancy
from aicc.store.tables.serving import DeploymentReplicaRow, DeploymentRevisionRow, DeploymentRow

MAX_BACKOFF_S = 300.0  # the longest wait before trying to start a replica again


@dataclass(frozen=True)
class Probe:
    """A running replica to check: GET `url` (through `socket` when set: Endpoint.socket), with
    `headers` (its token on TCP: Endpoint.headers). `ready`: whether its last probe answered."""

    job_id: str
    url: str
    ready: bool
    socket: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def _links(session: Session, deployment_id: str) -> list[DeploymentReplicaRow]:
    return list(
        session.scalars(
            select(DeploymentReplicaRow)
            .where(DeploymentReplicaRow.deployment_id == deployment_id)
            .order_by(DeploymentReplicaRow.created_at, DeploymentReplicaRow.job_id)
        )
    )


def _settings(session: Session, row: DeploymentRow) -> dict[str, Any]:
    """The current revision's settings (every revision is kept)."""
    found = session.get(DeploymentRevisionRow, (row.id, row.revision))
    assert found is not None
    return found.settings


def probes(session: Session) -> list[Probe]:
    """The replicas the loop probes now: running, not draining, at their readiness path."""
    out = []
    running = DeploymentRow.state != DeploymentState.STOPPED.value
    for row in session.scalars(select(DeploymentRow).where(running)):
        path = _settings(session, row).get("readiness_path", "/health")
        draining = {link.job_id for link in _links(session, row.id) if link.draining_at is not None}
        out += [
            Probe(e.job_id, e.url + path, e.ready, e.socket, e.headers)
            for e in endpoints_of(session, row.id)
            if e.running and e.job_id not in draining
        ]
    return out


def converge(
    session: Session, policy: Policy, now: datetime, probed: dict[str, bool] | None = None
) -> None:
    """One level-triggered pass over every deployment: record the probes' answers (job id ->
    answered 2xx), then start, drain, cancel and replace replicas towards what each wants."""
    probed = probed or {}
    for row in session.scalars(select(DeploymentRow).order_by(DeploymentRow.id)).all():
        _converge_one(session, row, policy, now, probed)


def _converge_one(
    session: Session, row: DeploymentRow, policy: Policy, now: datetime, probed: dict[str, bool]
) -> None:
    live: list[tuple[DeploymentReplicaRow, served.Standing]] = []
    links = _links(session, row.id)
    stood = served.standing(session, (link.job_id for link in links))
    for link in links:
        job = stood.get(link.job_id)
        if job is None:
            session.delete(link)
            continue
        if JobState(job.state).is_terminal():  # a replica that never got ready: a failed start
            crashed = job.state != JobState.CANCELLED.value
            if crashed and link.first_ready_at is None and link.draining_at is None:
                _failed_start(row, policy, now, f"replica job {job.id} {job.state}: {job.message}")
            session.delete(link)
            continue
        live.append((link, job))
    ended = [
        _probed(session, row, link, job, policy, now, probed.get(job.id)) for link, job in live
    ]
    if any(ended):  # a replica stopped just now: read how they stand again
        stood = served.standing(session, (job.id for _, job in live))
        live = [(link, stood[job.id]) for link, job in live]
    live = [(link, job) for link, job in live if not job.cancel_requested]
    for link, job in live:  # drained long enough: no request is in flight any more
        if link.draining_at is not None and now - link.draining_at >= timedelta(
            seconds=policy.drain_s
        ):
            end_replica(session, job.id, f"deployment {row.name}: replica no longer wanted")
    serving = [(link, job) for link, job in live if link.draining_at is None]
    current = [(link, job) for link, job in serving if link.revision == row.revision]
    old = [(link, job) for link, job in serving if link.revision != row.revision]

    def ready(pair: tuple[DeploymentReplicaRow, served.Standing]) -> bool:
        rep = endpoints.readiness(session, pair[1].id, pair[1].attempt)
        return rep is not None and rep.ready_at is not None

    if row.state == DeploymentState.STOPPED:
        for _, job in live:
            end_replica(session, job.id, f"deployment {row.name} stopped")
        return
    desired = row.desired
    ready_now = [p for p in current if ready(p)]
    starting = [p for p in current if not ready(p)]
    # an old replica goes once a new one can take its place: never fewer than `desired` ready
    for pair in sorted(old, key=ready):
        if not ready(pair) or len(ready_now) + sum(map(ready, old)) > desired:
            _drain(session, pair, now)
            old.remove(pair)
    extra = len(current) - desired
    for pair in (starting + ready_now)[: max(0, extra)] if not old else []:
        _drain(session, pair, now)
        current.remove(pair)
    can_start = row.retry_at is None or now >= row.retry_at
    missing = desired - len(current)
    if old:  # rolling: one new replica at a time (surge 1)
        missing = min(missing, 1 - len(starting))
    for _ in range(max(0, missing) if can_start else 0):
        if not _start(session, row, policy, now):
            break
    _set_state(session, row, policy, desired, len(ready_now), bool(old))


def _probed(
    session: Session,
    row: DeploymentRow,
    link: DeploymentReplicaRow,
    job: served.Standing,
    policy: Policy,
    now: datetime,
    answered: bool | None,
) -> bool:
    """Record one replica's probe; True when it stopped the replica."""
    rep = endpoints.readiness(session, job.id, job.attempt)
    if rep is None or link.draining_at is not None or job.cancel_requested:
        return False
    if answered:
        link.probe_failures = 0
        if rep.ready_at is None:
            endpoints.set_ready(session, job.id, job.attempt, now)
        if link.first_ready_at is None:
            _phase(link, ReplicaPhase.SERVING, now)
            row.failures, row.retry_at = 0, None
        return False
    if answered is False:
        link.probe_failures += 1
        if link.probe_failures >= policy.unready_after:
            endpoints.set_ready(session, job.id, job.attempt, None)
        if link.first_ready_at is not None and link.probe_failures >= policy.dead_after:
            why = f"deployment {row.name}: failed {link.probe_failures} probes"
            end_replica(session, job.id, why)
            return True  # asked to stop: not late as well (that wants it never ready)
    started = rep.started_at
    late = started is not None and now - started > timedelta(seconds=policy.start_timeout_s)
    if link.first_ready_at is None and late and not job.cancel_requested:
        _failed_start(row, policy, now, f"replica job {job.id} never became ready")
        end_replica(session, job.id, f"deployment {row.name}: never became ready")
        return True
    return False


def _drain(
    session: Session, pair: tuple[DeploymentReplicaRow, served.Standing], now: datetime
) -> None:
    """Out of routing now (the gateway sends it nothing new); cancelled after the drain."""
    link, job = pair
    _phase(link, ReplicaPhase.DRAINING, now)
    endpoints.unready(session, job.id)


def _failed_start(row: DeploymentRow, policy: Policy, now: datetime, why: str) -> None:
    row.failures += 1
    delay = min(MAX_BACKOFF_S, policy.backoff_s * 2 ** (row.failures - 1))
    row.retry_at = now + timedelta(seconds=delay)
    row.message = why
    # a stopped deployment does not fail: its last replica's end is no reason to start again
    if row.failures >= policy.failures_to_fail and row.state != DeploymentState.STOPPED:
        move(row, DeploymentState.FAILED)
        row.message = f"{row.failures} replicas in a row never became ready; last: {why}"


def _start(session: Session, row: DeploymentRow, policy: Policy, now: datetime) -> bool:
    """Submit one replica job of the current revision, as the deployment's creator."""
    user = directory.user(session, row.created_by)
    try:
        if user is None:
            raise NotFound("the deployment's creator is gone; create it again")
        who = tenancy.principal_of(session, user)
        spec = JobSpec.model_validate(row.spec)
        limits = jobs.SubmitLimits(registry=policy.registry)  # its image, checked again
        job, _ = jobs.submit(session, who, spec, idempotency_key=None, limits=limits)
    except (ServiceError, ValidationError) as err:
        why = err.detail if isinstance(err, ServiceError) else first_problem(err)
        _failed_start(row, policy, now, f"cannot start a replica: {why}")
        return False
    session.add(
        DeploymentReplicaRow(
            job_id=job.id,
            deployment_id=row.id,
            revision=row.revision,
            created_at=now,
            probe_failures=0,
        )
    )
    session.flush()
    return True


def _set_state(
    session: Session, row: DeploymentRow, policy: Policy, desired: int, ready: int, rolling: bool
) -> None:
    if row.failures >= policy.failures_to_fail:
        state = DeploymentState.FAILED
    elif rolling:
        state, row.message = DeploymentState.UPDATING, f"rolling to revision {row.revision}"
    elif ready >= desired:
        state, row.message = DeploymentState.READY, ""
    else:
        state = DeploymentState.PENDING
        if row.failures == 0:
            row.message = f"{ready} of {desired} replicas ready"
    if state != row.state:
        move(row, state)
        row.updated_at = utcnow()


def phase_of(link: DeploymentReplicaRow) -> ReplicaPhase:
    """A replica's phase, as its columns record it."""
    if link.draining_at is not None:
        return ReplicaPhase.DRAINING
    return ReplicaPhase.STARTING if link.first_ready_at is None else ReplicaPhase.SERVING


def _phase(link: DeploymentReplicaRow, to: ReplicaPhase, now: datetime) -> None:
    """The one writer of a replica's phase (core/states.py `REPLICA_ALLOWED`)."""
    replica_transition(phase_of(link), to)
    if to is ReplicaPhase.SERVING:
        link.first_ready_at = now
    else:
        link.draining_at = now
