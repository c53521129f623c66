"""A job sent to a federation peer of kind `tes` (any GA4GH TES 1.1 server), the pure part: the
reverse of `core/tes.py`. A job spec becomes one TES task, and the task's state and executor logs
as the peer answers them become what the federation loop mirrors into the home job.

What TES cannot say is refused before anything is sent (`NotExpressible`, kept as the site's
refusal when the job is routed, so a job no other site takes fails `unschedulable` naming it):
several replicas, a share or a MIG slice of a device, a model the peer does not list, a data set
mount (an AICC data set has no URL a TES server can fetch), a secret, an internet egress, a
listening kind. Accelerators and a runtime limit travel as `backend_parameters` in the names
AICC's own TES routes read (`aicc_accelerator`, `aicc_accelerators`, `aicc_max_runtime`), not
strict, so another TES server ignores them as TES says it may.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from aicc.core.jobspec import LISTENING_KINDS, JobSpec

DEFAULT_IMAGE = "ubuntu"  # a job that names no image: TES needs one; AICC peers run it as is
TAG_JOB = "aicc.home-job"  # the task's tag naming the home job and attempt
MAX_LOG_CHARS = 1024 * 1024  # of each stream kept at home: its tail


class NotExpressible(ValueError):
    """Something of a job a TES task cannot carry; the message says what and what to change."""


def task_of(
    spec: JobSpec,
    *,
    accelerators: Sequence[str],
    tags: Mapping[str, str],
    name: str | None = None,
) -> dict[str, Any]:
    """The TES task (a `tesTask` document) a job runs as at a TES peer that lists
    `accelerators`; `NotExpressible` when it cannot be said in TES."""
    refuse_unexpressible(spec, accelerators=accelerators)
    command = spec.command if isinstance(spec.command, list) else ["sh", "-c", spec.command]
    resources: dict[str, Any] = {
        "cpu_cores": max(1, math.ceil(spec.resources.cpu_milli / 1000)),
        "ram_gb": round(spec.resources.memory_mib / 1024, 3),
    }
    params: dict[str, str] = {}
    acc = spec.resources.accelerator
    if acc.count:
        params["aicc_accelerators"] = str(acc.count)
        if acc.models:
            params["aicc_accelerator"] = str(acc.models[0])
    if spec.max_runtime_s:
        params["aicc_max_runtime"] = str(spec.max_runtime_s)
    if params:
        resources["backend_parameters"] = params
        resources["backend_parameters_strict"] = False
    task: dict[str, Any] = {
        "executors": [
            {"image": spec.image or DEFAULT_IMAGE, "command": list(command), "env": dict(spec.env)}
        ],
        "resources": resources,
        "tags": dict(tags),
    }
    if name or spec.name:
        task["name"] = name or spec.name
    return task


def refuse_unexpressible(spec: JobSpec, *, accelerators: Sequence[str]) -> None:
    """`NotExpressible` naming the first field of `spec` a TES task cannot carry."""
    acc = spec.resources.accelerator
    if spec.kind in LISTENING_KINDS:
        raise NotExpressible(
            f"kind {spec.kind.value}: a TES task runs to its end, it is not reached"
        )
    if spec.replicas != 1 or spec.replicas_max not in (None, 1):
        raise NotExpressible("replicas: a TES task is one replica; send replicas: 1")
    if acc.milli or acc.mig:
        raise NotExpressible(
            "resources.accelerator: a TES peer takes whole devices, no share or MIG"
        )
    if acc.count:
        offered = set(accelerators)
        wanted = list(acc.models or ())
        if not offered:
            raise NotExpressible("resources.accelerator: this TES peer lists no accelerators")
        if wanted and not offered.intersection(wanted):
            raise NotExpressible(
                f"resources.accelerator.models: {', '.join(wanted)} not among the TES peer's "
                f"{', '.join(sorted(offered))}"
            )
        if not wanted and len(offered) > 1:
            raise NotExpressible(
                "resources.accelerator.models: name one model; TES cannot ask for any of several"
            )
    if spec.datasets:
        raise NotExpressible(
            "datasets: a TES peer fetches inputs by URL, and an AICC data set has none it can "
            "fetch; run the job here or at an AICC peer"
        )
    if spec.secrets:
        raise NotExpressible("secrets: a job's secrets are not sent to a TES peer")
    if spec.egress == "internet":
        raise NotExpressible("egress: TES cannot ask for internet access; AICC peers decide it")
    if spec.workdir:
        raise NotExpressible("workdir: put the files in the command or in a data set")


# A TES state as the home job reads it: (AICC state, reason when it ended). One to one: every
# TES state is named, and the TES state itself stays in the job's message.
_STATES: dict[str, tuple[str, str | None]] = {
    "UNKNOWN": ("pending", None),
    "QUEUED": ("pending", None),
    "INITIALIZING": ("scheduled", None),
    "RUNNING": ("running", None),
    "PAUSED": ("running", None),
    "CANCELING": ("running", None),
    "COMPLETE": ("succeeded", "succeeded"),
    "EXECUTOR_ERROR": ("failed", "executor_error"),
    "SYSTEM_ERROR": ("failed", "system_error"),
    "PREEMPTED": ("failed", "preempted"),
    "CANCELED": ("cancelled", "cancelled_by_user"),
}


def job_of(task: Mapping[str, Any]) -> dict[str, Any]:
    """A TES task (FULL view) as the federation loop mirrors a peer job: `state`, `reason`,
    `message`, `started_at`, `ended_at`, `exit_code` (the last executor's)."""
    there = str(task.get("state") or "UNKNOWN")
    state, reason = _STATES.get(there, ("pending", None))
    logs = list(task.get("logs") or [])
    last = logs[-1] if logs else {}
    executors = list(last.get("logs") or [])
    exit_code = executors[-1].get("exit_code") if executors else None
    started = last.get("start_time") or (
        task.get("creation_time") if state != "pending" and state != "scheduled" else None
    )
    ended = last.get("end_time")
    notes = [str(n) for n in last.get("system_logs") or []][:5]
    message = f"TES state {there}" + (": " + "; ".join(notes) if notes else "")
    if state == "failed" and exit_code is not None:
        message += f" (exit code {exit_code})"
    return {
        "state": state,
        "tes_state": there,
        "reason": reason,
        "message": message,
        "started_at": started,
        "ended_at": ended,
        "exit_code": exit_code,
    }


def logs_of(task: Mapping[str, Any]) -> tuple[str, str]:
    """The executors' stdout and stderr of the task's last attempt, in order; each at most its
    last `MAX_LOG_CHARS` (a peer's answer is as hostile as what a job writes)."""
    logs = list(task.get("logs") or [])
    executors = list((logs[-1] if logs else {}).get("logs") or [])
    stdout = "".join(str(e.get("stdout") or "") for e in executors)
    stderr = "".join(str(e.get("stderr") or "") for e in executors)
    return stdout[-MAX_LOG_CHARS:], stderr[-MAX_LOG_CHARS:]
