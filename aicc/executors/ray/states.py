"""Ray job statuses as AICC replica states (pure).

PENDING -> starting; RUNNING -> running; SUCCEEDED -> exited/succeeded; FAILED -> exit_code (or
signal) when the entrypoint ran and failed, node_lost when its supervisor died with its node,
supervisor_error when Ray could not start it (runtime env, scheduling); STOPPED -> cancelled, or
runtime_exceeded when AICC stopped it for its `max_runtime`. A replica AICC asked to stop reads as
cancelled however it ended.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from aicc.executors.base import ReplicaState

TERMINAL = frozenset({"STOPPED", "SUCCEEDED", "FAILED"})
# FAILED because the supervisor actor (and with it the job's node) went away.
LOST_ERRORS = frozenset({"JOB_SUPERVISOR_ACTOR_DIED"})
# FAILED before the entrypoint could run.
LAUNCH_ERRORS = frozenset(
    {
        "RUNTIME_ENV_SETUP_FAILURE",
        "JOB_SUPERVISOR_ACTOR_START_TIMEOUT",
        "JOB_SUPERVISOR_ACTOR_START_FAILURE",
        "JOB_SUPERVISOR_ACTOR_UNSCHEDULABLE",
        "JOB_ENTRYPOINT_COMMAND_START_ERROR",
    }
)


_EXIT_CODE = re.compile(r"exit code (-?\d+)")


def exit_code(driver_exit_code: int | None, message: str) -> int | None:
    """The entrypoint's exit code: Ray's `driver_exit_code` where the release has it, else the
    code its FAILED message names ("... failed with exit code 3 ...")."""
    if driver_exit_code is not None:
        return driver_exit_code
    match = _EXIT_CODE.search(message or "")
    return int(match.group(1)) if match else None


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def from_ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value else None


def replica_state(
    status: str,
    *,
    exit_code: int | None = None,
    error_type: str | None = None,
    message: str = "",
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    cancel_requested: bool = False,
    runtime_exceeded: bool = False,
    device_indices: tuple[int, ...] | None = None,
) -> ReplicaState:
    """The replica state for a Ray job `status`. `started_at` is when the entrypoint itself
    started (None until it has: Ray's own start time is the submission's)."""
    why = f"Ray: {status}" + (f" ({_first_line(message)})" if message else "")
    if status == "PENDING":
        return ReplicaState("starting", message=why)
    if status == "RUNNING":
        return ReplicaState(
            "running", started_at=started_at, message=why, device_indices=device_indices
        )
    ended = ReplicaState(
        "exited",
        exit_code=exit_code,
        started_at=started_at,
        ended_at=ended_at,
        message=why,
        device_indices=device_indices,
    )
    if runtime_exceeded:
        return replace(ended, reason="runtime_exceeded")
    if cancel_requested or status == "STOPPED":
        return replace(ended, reason="cancelled")
    if status == "SUCCEEDED":
        return replace(ended, exit_code=0, reason="succeeded")
    if error_type in LOST_ERRORS:
        return replace(ended, phase="lost", reason="node_lost")
    if error_type in LAUNCH_ERRORS or (exit_code is None and started_at is None):
        return replace(ended, reason="supervisor_error", message=f"{why}: Ray could not run it")
    if exit_code is not None and exit_code < 0:
        return replace(ended, reason="signal")
    if exit_code:
        return replace(ended, reason="exit_code")
    return replace(ended, reason="supervisor_error", message=f"{why}: failed without an exit code")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
