"""The job state machine of CONTRACTS.md §3.

`transition()` is the only way a job's state changes: it checks the move against `ALLOWED` and
returns the new status together with the event that records it. The store writes both in one
transaction (`services.transitions.change_state`), so audit and metering read exactly what happened.
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


# Who may follow whom. A requeue (preempted, lost node or supervisor; retries left) goes back to
# pending.
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
    """Validate one move and describe it. Moving back to pending starts the next attempt."""
    if to not in ALLOWED[status.state]:
        raise IllegalTransition(f"a {status.state} job cannot become {to}")
    requeue = to is JobState.PENDING and status.state is not JobState.PENDING
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
