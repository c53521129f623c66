"""The job state machine of docs/contracts.md §3: every move is checked and leaves an event."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from aicc.core.states import (
    ALLOWED,
    TERMINAL,
    IllegalTransition,
    JobState,
    JobStatus,
    Reason,
    transition,
)

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

# The moves docs/contracts.md §3 allows, written out here so a change to ALLOWED is a visible
# decision.
EXPECTED_MOVES = {
    (JobState.PENDING, JobState.ADMITTED),
    (JobState.PENDING, JobState.SCHEDULED),
    (JobState.PENDING, JobState.FAILED),
    (JobState.PENDING, JobState.CANCELLED),
    (JobState.ADMITTED, JobState.SCHEDULED),
    (JobState.ADMITTED, JobState.PENDING),
    (JobState.ADMITTED, JobState.FAILED),
    (JobState.ADMITTED, JobState.CANCELLED),
    (JobState.SCHEDULED, JobState.RUNNING),
    (JobState.SCHEDULED, JobState.PENDING),
    (JobState.SCHEDULED, JobState.PREEMPTED),
    (JobState.SCHEDULED, JobState.SUCCEEDED),
    (JobState.SCHEDULED, JobState.FAILED),
    (JobState.SCHEDULED, JobState.CANCELLED),
    (JobState.RUNNING, JobState.SUCCEEDED),
    (JobState.RUNNING, JobState.FAILED),
    (JobState.RUNNING, JobState.CANCELLED),
    (JobState.RUNNING, JobState.PREEMPTED),
    (JobState.RUNNING, JobState.PENDING),
    (JobState.PREEMPTED, JobState.PENDING),
    (JobState.PREEMPTED, JobState.FAILED),
    (JobState.PREEMPTED, JobState.CANCELLED),
}
ALL_MOVES = list(itertools.product(JobState, JobState))
FORBIDDEN_MOVES = [move for move in ALL_MOVES if move not in EXPECTED_MOVES]


def status(state: JobState, attempt: int = 0) -> JobStatus:
    return JobStatus(state=state, reason=Reason.SUBMITTED, message="", attempt=attempt)


def test_the_allowed_table_is_the_documented_one() -> None:
    assert {(a, b) for a, targets in ALLOWED.items() for b in targets} == EXPECTED_MOVES
    assert set(ALLOWED) == set(JobState)


@pytest.mark.parametrize(("source", "target"), sorted(EXPECTED_MOVES))
def test_every_allowed_move_changes_state_and_records_an_event(
    source: JobState, target: JobState
) -> None:
    new, event = transition(
        status(source, attempt=2), target, reason="node_lost", message="node a went away", at=AT
    )
    assert new.state is target
    assert (new.reason, new.message) == ("node_lost", "node a went away")
    assert event.from_state is source
    assert event.to_state is target
    assert event.reason == "node_lost"
    assert event.message == "node a went away"
    assert event.at == AT
    assert event.attempt == new.attempt


@pytest.mark.parametrize(("source", "target"), FORBIDDEN_MOVES)
def test_every_other_move_is_refused(source: JobState, target: JobState) -> None:
    before = status(source)
    with pytest.raises(IllegalTransition, match=f"{source}.*{target}"):
        transition(before, target, reason="x", message="", at=AT)
    assert before.state is source  # the status is a value; nothing changed


def test_the_matrix_is_complete() -> None:
    assert len(EXPECTED_MOVES) + len(FORBIDDEN_MOVES) == len(JobState) ** 2


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_terminal_states_have_no_exits(state: JobState) -> None:
    assert state.is_terminal()
    assert not ALLOWED[state]
    for target in JobState:
        with pytest.raises(IllegalTransition):
            transition(status(state), target, reason="x", message="", at=AT)


def test_the_terminal_states_are_the_three_ends() -> None:
    assert {s for s in JobState if s.is_terminal()} == {
        JobState.SUCCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
    }


def test_cancelling_a_job_that_already_succeeded_is_refused() -> None:
    with pytest.raises(IllegalTransition):
        transition(
            status(JobState.SUCCEEDED),
            JobState.CANCELLED,
            reason=Reason.CANCELLED_BY_USER,
            message="",
            at=AT,
        )


@pytest.mark.parametrize("source", [JobState.PREEMPTED, JobState.RUNNING, JobState.SCHEDULED])
def test_back_to_pending_is_a_requeue_with_the_next_attempt(source: JobState) -> None:
    new, event = transition(
        status(source, attempt=1), JobState.PENDING, reason=Reason.REQUEUED, message="", at=AT
    )
    assert new.attempt == 2
    assert event.kind == "requeued"
    assert event.attempt == 2


def test_an_admitted_job_that_loses_its_place_is_pending_again_in_the_same_attempt() -> None:
    new, event = transition(
        status(JobState.ADMITTED, attempt=1),
        JobState.PENDING,
        reason=Reason.PLACE_LOST,
        message="",
        at=AT,
    )
    assert (new.state, new.attempt, new.reason) == (JobState.PENDING, 1, "place_lost")
    assert (event.kind, event.attempt) == ("state", 1)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        m
        for m in sorted(EXPECTED_MOVES)
        if m[1] is not JobState.PENDING or m[0] is JobState.ADMITTED
    ],
)
def test_other_moves_keep_the_attempt(source: JobState, target: JobState) -> None:
    new, event = transition(status(source, attempt=3), target, reason="x", message="", at=AT)
    assert new.attempt == 3
    assert event.kind == "state"


def test_preempted_then_requeued_then_running_again() -> None:
    job = status(JobState.PENDING)
    kinds = []
    for target in (
        JobState.ADMITTED,
        JobState.SCHEDULED,
        JobState.RUNNING,
        JobState.PREEMPTED,
        JobState.PENDING,
        JobState.SCHEDULED,
        JobState.RUNNING,
        JobState.SUCCEEDED,
    ):
        job, event = transition(job, target, reason="x", message="", at=AT)
        kinds.append(event.kind)
    assert job.state is JobState.SUCCEEDED
    assert job.attempt == 1
    assert kinds.count("requeued") == 1


@pytest.mark.parametrize("state", list(JobState))
def test_holds_resources(state: JobState) -> None:
    holding = {JobState.SCHEDULED, JobState.RUNNING, JobState.PREEMPTED}
    assert state.holds_resources() is (state in holding)
