"""Slurm job states as AICC replica states (pure).

PENDING/CONFIGURING -> starting; RUNNING (and SUSPENDED, COMPLETING ...) -> running; COMPLETED ->
exited/succeeded; FAILED -> exit_code (or signal); TIMEOUT/DEADLINE -> runtime_exceeded;
OUT_OF_MEMORY -> oom_killed; CANCELLED -> cancelled; NODE_FAIL/BOOT_FAIL -> lost/node_lost;
PREEMPTED -> lost/preempted. A replica AICC asked to stop reads as cancelled however it ended.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from aicc.executors.base import ReplicaState
from aicc.executors.slurm.parse import Exit

STARTING = frozenset(
    {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
)
RUNNING = frozenset(
    {
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "STOPPED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "UPDATE_DB",
        "POWER_UP_NODE",
    }
)
LOST = {"NODE_FAIL": "node_lost", "BOOT_FAIL": "node_lost", "PREEMPTED": "preempted"}
LOST_DEFAULT = "node_lost"  # REVOKED and any state this table does not know
EXIT_REASONS = {
    "TIMEOUT": "runtime_exceeded",
    "DEADLINE": "runtime_exceeded",
    "OUT_OF_MEMORY": "oom_killed",
    "CANCELLED": "cancelled",
}
# States in which the job's node(s) cannot serve it: pending on them is waiting for nothing.
UNAVAILABLE_NODE_REASONS = ("ReqNodeNotAvail", "NodeDown", "Nodes_required_not_available")


def is_terminal(state: str) -> bool:
    return bool(state) and state not in STARTING and state not in RUNNING


def replica_state(
    state: str,
    *,
    outcome: Exit | None = None,
    slurm_reason: str = "",
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    peak_rss_mib: int | None = None,
    cancel_requested: bool = False,
) -> ReplicaState:
    """The replica state for a Slurm job `state` (its base word, as `parse.job_state` gives)."""
    why = f"Slurm: {state}" + (f" ({slurm_reason})" if slurm_reason not in ("", "None") else "")
    if state in STARTING:
        return ReplicaState("starting", message=why)
    if state in RUNNING:
        return ReplicaState("running", started_at=started_at, message=why)
    ended = ReplicaState(
        "exited",
        started_at=started_at,
        ended_at=ended_at,
        peak_rss_mib=peak_rss_mib,
        message=why,
    )
    if state in LOST or state == "REVOKED":
        return replace(ended, phase="lost", reason=LOST.get(state, LOST_DEFAULT))
    code = outcome.as_replica_code if outcome else None
    if cancel_requested:
        return replace(ended, exit_code=code, reason="cancelled")
    if state == "COMPLETED":
        return replace(ended, exit_code=0, reason="succeeded")
    if state in EXIT_REASONS:
        return replace(ended, exit_code=code, reason=EXIT_REASONS[state])
    if outcome is not None and outcome.signal:
        return replace(ended, exit_code=code, reason="signal")
    if outcome is not None and outcome.code:
        return replace(ended, exit_code=code, reason="exit_code")
    # FAILED with status 0 (a launch failure, a missing --chdir, ...) or a state unknown here.
    return replace(
        ended, exit_code=code, reason="supervisor_error", message=f"{why}: Slurm could not run it"
    )
