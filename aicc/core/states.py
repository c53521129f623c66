"""The job state machine of docs/contracts.md §3, and the deployments' beside it.

`transition()` is the only way a job's state changes: it checks the move against `ALLOWED` and
returns the new status together with the event that records it. The store writes both in one
transaction (`services.transitions.change_state`), so audit and metering read exactly what happened.
A deployment's state changes only through `deployment_transition()`, against `DEPLOYMENT_ALLOWED`
(`services/serving/deployments.py` `move` is its one writer); a move it refuses is a bug, not a
user's error. A deployment's replica moves through its phases by `replica_transition()`
(`services/serving/converge.py` `_phase`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class JobState(StrEnum):
    PENDING = "pending"
    ADMITTED = "admitted"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PREEMPTED = "preempted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def is_terminal(self) -> bool:
        return self in TERMINAL

    def holds_resources(self) -> bool:
        """Scheduled, running and preempted (in its grace period) jobs occupy their devices."""
        return self in RUNNING


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
# How pages and counts group the states: waiting for a place, and holding one.
WAITING = (JobState.PENDING, JobState.ADMITTED)
RUNNING = (JobState.SCHEDULED, JobState.RUNNING, JobState.PREEMPTED)


class Reason(StrEnum):
    """Stable codes behind every state; clients match on these, people read `message`."""

    SUBMITTED = "submitted"
    ADMITTED = "admitted"
    PLACE_LOST = "place_lost"  # admitted, then its place was no longer held: pending again
    BOUND = "bound"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    EXIT_CODE = "exit_code"
    OOM_KILLED = "oom_killed"
    RUNTIME_EXCEEDED = "runtime_exceeded"
    NODE_LOST = "node_lost"
    SUPERVISOR_LOST = "supervisor_lost"
    LAUNCH_FAILED = "launch_failed"
    PREEMPTED = "preempted"
    REQUEUED = "requeued"
    CANCELLED_BY_USER = "cancelled_by_user"
    UNSCHEDULABLE = "unschedulable"
    SIGNAL = "signal"
    INVALID_SPEC = "invalid_spec"  # a stored spec the job spec model no longer accepts
    QUARANTINED = "quarantined"  # the job made a scheduling pass fail; the others went on
    IDLE_CULLED = "idle_culled"  # a notebook stopped after its idle_timeout with no activity
    IMAGE_UNAVAILABLE = "image_unavailable"  # its image could not be pulled: never run bare


# Who may follow whom. A requeue (preempted, lost node or supervisor; retries left) goes back to
# pending. So does an admitted job whose place is held no longer, but that is no requeue: it
# never started, and its attempt stays (`transition`).
ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset(
        {JobState.ADMITTED, JobState.SCHEDULED, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.ADMITTED: frozenset(
        {JobState.SCHEDULED, JobState.PENDING, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.SCHEDULED: frozenset(
        {
            JobState.RUNNING,
            JobState.PENDING,
            JobState.PREEMPTED,
            JobState.SUCCEEDED,  # a replica that ran and ended between two polls
            JobState.FAILED,
            JobState.CANCELLED,
        }
    ),
    JobState.RUNNING: frozenset(
        {
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
            JobState.PREEMPTED,
            JobState.PENDING,
        }
    ),
    JobState.PREEMPTED: frozenset({JobState.PENDING, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class IllegalTransition(ValueError):
    """A move the state machine forbids, e.g. cancelling a job that already succeeded."""


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    reason: str
    message: str
    attempt: int


@dataclass(frozen=True)
class StateEvent:
    """What the store appends to the job's event log for one transition."""

    kind: str  # "state" for a plain move, "requeued" when a new attempt starts
    from_state: JobState
    to_state: JobState
    reason: str
    message: str
    attempt: int
    at: datetime


def transition(
    status: JobStatus, to: JobState, *, reason: str, message: str, at: datetime
) -> tuple[JobStatus, StateEvent]:
    """Validate one move and describe it. Moving back to pending from a placed state starts the
    next attempt (a requeue); an admitted job that goes back to pending never started."""
    if to not in ALLOWED[status.state]:
        raise IllegalTransition(f"a {status.state} job cannot become {to}")
    requeue = to is JobState.PENDING and status.state not in WAITING
    attempt = status.attempt + 1 if requeue else status.attempt
    new = replace(status, state=to, reason=reason, message=message, attempt=attempt)
    event = StateEvent(
        kind="requeued" if requeue else "state",
        from_state=status.state,
        to_state=to,
        reason=reason,
        message=message,
        attempt=attempt,
        at=at,
    )
    return new, event


# --- deployments (services/serving/deployments.py) ---


class DeploymentState(StrEnum):
    """A deployment's state as its readers see it (the API's `state`)."""

    PENDING = "pending"  # fewer replicas ready than wanted (starting, or one died)
    READY = "ready"  # as many ready as wanted
    UPDATING = "updating"  # rolling to a new revision, one replica at a time
    FAILED = "failed"  # `failures_to_fail` replicas in a row never became ready
    STOPPED = "stopped"  # no replicas, until started


# Who may follow whom. Every running state may become any other: the loop's converge step sets
# what it finds (`_set_state`), a failed start fails it, an update rolls it, `stop` stops it.
# Only `start` leaves `stopped` (and the state then is pending); a stopped deployment neither
# fails nor rolls (an update of it makes a revision its next start runs). Staying in a state is
# no transition and always allowed (`stop` twice, an update while rolling).
DEPLOYMENT_ALLOWED: dict[DeploymentState, frozenset[DeploymentState]] = {
    DeploymentState.PENDING: frozenset(
        {
            DeploymentState.READY,
            DeploymentState.UPDATING,
            DeploymentState.FAILED,
            DeploymentState.STOPPED,
        }
    ),
    DeploymentState.READY: frozenset(
        {
            DeploymentState.PENDING,
            DeploymentState.UPDATING,
            DeploymentState.FAILED,
            DeploymentState.STOPPED,
        }
    ),
    DeploymentState.UPDATING: frozenset(
        {
            DeploymentState.PENDING,
            DeploymentState.READY,
            DeploymentState.FAILED,
            DeploymentState.STOPPED,
        }
    ),
    DeploymentState.FAILED: frozenset(
        {
            DeploymentState.PENDING,  # started again, or a replica became ready
            DeploymentState.READY,
            DeploymentState.UPDATING,  # an update (or rollback) tries again
            DeploymentState.STOPPED,
        }
    ),
    DeploymentState.STOPPED: frozenset({DeploymentState.PENDING}),
}
DEPLOYMENT_INITIAL = DeploymentState.PENDING  # a new deployment's, before any replica starts


def deployment_transition(now: DeploymentState, to: DeploymentState) -> DeploymentState:
    """`to`, if a deployment in state `now` may take it; IllegalTransition (a programming
    error, not a user's) otherwise."""
    if to is not now and to not in DEPLOYMENT_ALLOWED[now]:
        raise IllegalTransition(f"a {now} deployment cannot become {to}")
    return to


class ReplicaPhase(StrEnum):
    """Where a deployment's replica is (`DeploymentReplicaRow`), read from its columns: the
    replica's job has its own state (the machine above)."""

    STARTING = "starting"  # linked, never ready yet
    SERVING = "serving"  # answered its readiness probe once (`first_ready_at`)
    DRAINING = "draining"  # out of routing (`draining_at`), its job cancelled after the drain


# A replica goes one way: it serves once it answers, and drains once no longer wanted (an old
# revision, a scale down), ready or not. Its end (its job's) deletes it.
REPLICA_ALLOWED: dict[ReplicaPhase, frozenset[ReplicaPhase]] = {
    ReplicaPhase.STARTING: frozenset({ReplicaPhase.SERVING, ReplicaPhase.DRAINING}),
    ReplicaPhase.SERVING: frozenset({ReplicaPhase.DRAINING}),
    ReplicaPhase.DRAINING: frozenset(),
}


def replica_transition(now: ReplicaPhase, to: ReplicaPhase) -> ReplicaPhase:
    """`to`, if a replica in phase `now` may take it; IllegalTransition otherwise (a bug)."""
    if to not in REPLICA_ALLOWED[now]:
        raise IllegalTransition(f"a {now} replica cannot become {to}")
    return to
