"""The deployments' state machine and their replicas' phases (core/states.py): every move they
allow is taken, every other refused as a programming error, and the one writer of each uses it."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product

import pytest

from aicc.core.states import (
    DEPLOYMENT_ALLOWED,
    DEPLOYMENT_INITIAL,
    DeploymentState,
    IllegalTransition,
    ReplicaPhase,
    deployment_transition,
    replica_transition,
)
from aicc.core.states import REPLICA_ALLOWED as REPLICA_MOVES
from aicc.services.serving import converge, deployments, lifecycle
from aicc.store.tables.serving import DeploymentReplicaRow, DeploymentRow

S = DeploymentState
ALLOWED = {
    (S.PENDING, S.READY),
    (S.PENDING, S.UPDATING),
    (S.PENDING, S.FAILED),
    (S.PENDING, S.STOPPED),
    (S.READY, S.PENDING),
    (S.READY, S.UPDATING),
    (S.READY, S.FAILED),
    (S.READY, S.STOPPED),
    (S.UPDATING, S.PENDING),
    (S.UPDATING, S.READY),
    (S.UPDATING, S.FAILED),
    (S.UPDATING, S.STOPPED),
    (S.FAILED, S.PENDING),
    (S.FAILED, S.READY),
    (S.FAILED, S.UPDATING),
    (S.FAILED, S.STOPPED),
    (S.STOPPED, S.PENDING),
}


def test_the_states_are_the_api_strings_of_before() -> None:
    assert [s.value for s in S] == ["pending", "ready", "updating", "failed", "stopped"]
    assert lifecycle.STATES == ("pending", "ready", "updating", "failed", "stopped")
    assert DEPLOYMENT_INITIAL is S.PENDING


@pytest.mark.parametrize(("now", "to"), sorted(ALLOWED))
def test_every_allowed_move_is_taken(now: DeploymentState, to: DeploymentState) -> None:
    assert deployment_transition(now, to) is to


@pytest.mark.parametrize("state", list(S))
def test_staying_is_no_move(state: DeploymentState) -> None:
    assert deployment_transition(state, state) is state


def test_every_other_move_is_refused() -> None:
    table = {(a, b) for a, tos in DEPLOYMENT_ALLOWED.items() for b in tos}
    assert table == ALLOWED
    refused = [(a, b) for a, b in product(S, S) if a is not b and (a, b) not in ALLOWED]
    assert refused == [(S.STOPPED, S.READY), (S.STOPPED, S.UPDATING), (S.STOPPED, S.FAILED)]
    for now, to in refused:
        with pytest.raises(IllegalTransition, match=f"a {now} deployment cannot become {to}"):
            deployment_transition(now, to)


def _row(state: DeploymentState, failures: int = 0) -> DeploymentRow:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    return DeploymentRow(
        id="dep_1",
        project_id="prj_1",
        name="web",
        spec={},
        revision=1,
        min_replicas=1,
        max_replicas=1,
        desired=0,
        state=state.value,
        message="",
        created_by="usr_1",
        created_at=now,
        updated_at=now,
        failures=failures,
    )


def test_the_one_writer_refuses_a_move_the_machine_forbids() -> None:
    row = _row(S.STOPPED)
    with pytest.raises(IllegalTransition):
        lifecycle.move(row, S.FAILED)
    assert row.state == "stopped"
    lifecycle.move(row, S.PENDING)
    assert row.state == "pending"  # the stored string, as the API answers it


def test_a_stopped_deployment_whose_last_replica_never_got_ready_stays_stopped() -> None:
    """Before, the fifth failed start in a row moved a stopped deployment to `failed`."""
    policy = deployments.Policy(failures_to_fail=1)
    at = datetime(2026, 11, 25, tzinfo=UTC)
    stopped = _row(S.STOPPED)
    converge._failed_start(stopped, policy, at, "replica job j1 failed: exit 1")
    assert stopped.state == "stopped" and stopped.failures == 1
    running = _row(S.PENDING)
    converge._failed_start(running, policy, at, "replica job j2 failed: exit 1")
    assert running.state == "failed"
    assert running.message.startswith("1 replicas in a row never became ready")


REPLICA_ALLOWED = {
    (ReplicaPhase.STARTING, ReplicaPhase.SERVING),
    (ReplicaPhase.STARTING, ReplicaPhase.DRAINING),
    (ReplicaPhase.SERVING, ReplicaPhase.DRAINING),
}


@pytest.mark.parametrize(("now", "to"), sorted(REPLICA_ALLOWED))
def test_a_replica_takes_every_allowed_move(now: ReplicaPhase, to: ReplicaPhase) -> None:
    assert replica_transition(now, to) is to


def test_a_replica_goes_one_way() -> None:
    assert {(a, b) for a, tos in REPLICA_MOVES.items() for b in tos} == REPLICA_ALLOWED
    for now, to in product(ReplicaPhase, ReplicaPhase):
        if (now, to) not in REPLICA_ALLOWED:
            with pytest.raises(IllegalTransition, match=f"a {now} replica cannot become {to}"):
                replica_transition(now, to)


def test_the_replica_writer_records_each_phase_and_refuses_going_back() -> None:
    at = datetime(2026, 11, 25, tzinfo=UTC)
    link = DeploymentReplicaRow(job_id="job_1", deployment_id="dep_1", revision=1, created_at=at)
    assert converge.phase_of(link) is ReplicaPhase.STARTING
    converge._phase(link, ReplicaPhase.SERVING, at)
    assert link.first_ready_at == at and converge.phase_of(link) is ReplicaPhase.SERVING
    converge._phase(link, ReplicaPhase.DRAINING, at)
    assert link.draining_at == at and converge.phase_of(link) is ReplicaPhase.DRAINING
    with pytest.raises(IllegalTransition):
        converge._phase(link, ReplicaPhase.SERVING, at)
