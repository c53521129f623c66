"""Kubernetes Jobs and Pods as AICC replica states (pure: plain dicts in, ReplicaState out).

The dicts are what the API server returns (camelCase JSON, as `ApiClient.
sanitize_for_serialization` also gives). One replica is one pod: a Job's only pod, or the pod of
an Indexed Job with that completion index.

- no pod yet, or Pending -> starting, with why (unschedulable, pulling, image pull errors);
  an image that can never be pulled, or a pod stuck past `start_timeout_s`, ends it;
- Running -> running;
- Succeeded -> exited/succeeded;
- Failed -> `oom_killed` (OOMKilled), `runtime_exceeded` (DeadlineExceeded, on the pod or the
  Job), `signal`, `exit_code`; evicted, preempted or its node gone -> lost (`node_lost`,
  `preempted`), so the retry policy places it again;
- the Job gone -> `cancelled` when AICC deleted it, else lost (`supervisor_lost`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aicc.executors.base import ReplicaState
from aicc.executors.kubernetes import naming

Obj = Mapping[str, Any]

PULL_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable"})
FATAL_WAITING = frozenset({"InvalidImageName", "ErrImageNeverPull"})
CONFIG_ERRORS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
# DisruptionTarget (Kubernetes 1.26+): why the pod was stopped from outside.
DISRUPTIONS = {
    "PreemptionByScheduler": "preempted",
    "PreemptionByKubeScheduler": "preempted",
    "DeletionByTaintManager": "node_lost",
    "EvictionByEvictionAPI": "node_lost",
    "TerminationByKubelet": "node_lost",
    "DeletionByPodGC": "node_lost",
}
LOST_POD_REASONS = frozenset({"Evicted", "NodeLost", "Shutdown", "NodeShutdown", "Terminated"})


def timestamp(value: Any) -> datetime | None:
    """`2026-05-01T10:00:00Z` -> an aware datetime; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _get(obj: Obj | None, *path: str) -> Any:
    here: Any = obj
    for key in path:
        if not isinstance(here, Mapping):
            return None
        here = here.get(key)
    return here


def conditions(obj: Obj) -> dict[str, Obj]:
    """The object's conditions that hold (status "True"), by type."""
    found = _get(obj, "status", "conditions") or []
    return {c["type"]: c for c in found if isinstance(c, Mapping) and c.get("status") == "True"}


def pod_index(pod: Obj) -> int | None:
    """The replica a pod runs: its completion index (gang), else its `aicc.io/replica` label."""
    for where in ("annotations", "labels"):
        value = _get(pod, "metadata", where, naming.COMPLETION_INDEX)
        if isinstance(value, str) and value.isdigit():
            return int(value)
    value = _get(pod, "metadata", "labels", naming.LABEL_REPLICA)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def pod_of(pods: Sequence[Obj], index: int, *, gang: bool) -> Obj | None:
    """The newest pod of replica `index` (a plain Job has only replica 0's pods)."""
    mine = [p for p in pods if (pod_index(p) == index) or (not gang and pod_index(p) is None)]
    mine.sort(key=lambda p: str(_get(p, "metadata", "creationTimestamp") or ""))
    return mine[-1] if mine else None


def _container(pod: Obj, name: str = "main", init: bool = False) -> Obj | None:
    key = "initContainerStatuses" if init else "containerStatuses"
    statuses = [s for s in (_get(pod, "status", key) or []) if isinstance(s, Mapping)]
    named = [s for s in statuses if s.get("name") == name]
    return named[0] if named else (statuses[0] if statuses and not init else None)


def _waiting(pod: Obj) -> list[tuple[str, str, str]]:
    """(container, reason, message) for every container that waits, init containers first."""
    out = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for status in _get(pod, "status", key) or []:
            waiting = _get(status, "state", "waiting")
            if isinstance(waiting, Mapping) and waiting.get("reason"):
                out.append(
                    (str(status.get("name")), str(waiting["reason"]), waiting.get("message") or "")
                )
    return out


def _failed_init(pod: Obj) -> tuple[str, Obj] | None:
    for status in _get(pod, "status", "initContainerStatuses") or []:
        term = _get(status, "state", "terminated")
        if isinstance(term, Mapping) and term.get("exitCode", 0) != 0:
            return str(status.get("name")), term
    return None


def pod_state(
    pod: Obj, *, now: datetime, start_timeout_s: float = 600.0, pinned: bool = True
) -> ReplicaState:
    """One pod's state. `pinned`: AICC chose its node, so a pod Kubernetes cannot schedule there
    for `start_timeout_s` means the node is not what AICC thinks (withdrawn as `node_lost`)."""
    phase = _get(pod, "status", "phase") or "Pending"
    main = _container(pod)
    term = _get(main, "state", "terminated")
    started = (
        timestamp(_get(main, "state", "running", "startedAt"))
        or timestamp(_get(term, "startedAt"))
        or timestamp(_get(pod, "status", "startTime"))
    )
    ended = timestamp(_get(term, "finishedAt"))
    pod_reason = _get(pod, "status", "reason") or ""
    pod_message = _get(pod, "status", "message") or ""
    if phase == "Succeeded":
        return ReplicaState(
            "exited", exit_code=0, reason="succeeded", started_at=started, ended_at=ended
        )
    if phase == "Failed":
        done = ReplicaState("exited", started_at=started, ended_at=ended or now)
        disruption = conditions(pod).get("DisruptionTarget")
        code = term.get("exitCode") if isinstance(term, Mapping) else None
        why = f"Kubernetes: {pod_reason or 'Failed'}" + (f" ({pod_message})" if pod_message else "")
        if pod_reason == "DeadlineExceeded":
            return replace(done, exit_code=code, reason="runtime_exceeded", message=why)
        if disruption is not None:
            reason = DISRUPTIONS.get(str(disruption.get("reason")), "node_lost")
            text = disruption.get("message") or disruption.get("reason") or "disrupted"
            return replace(done, phase="lost", exit_code=code, reason=reason, message=str(text))
        if pod_reason in LOST_POD_REASONS:
            return replace(done, phase="lost", exit_code=code, reason="node_lost", message=why)
        init = _failed_init(pod)
        if init is not None:
            name, init_term = init
            return replace(
                done,
                reason="supervisor_error",
                message=f"init container {name} failed (exit {init_term.get('exitCode')}): "
                f"{init_term.get('message') or init_term.get('reason') or ''}".rstrip(": "),
            )
        if isinstance(term, Mapping):
            message = f"Kubernetes: {term.get('reason') or 'Error'}"
            if term.get("reason") == "OOMKilled":
                return replace(done, exit_code=code, reason="oom_killed", message=message)
            if term.get("signal"):
                signal = int(term["signal"])
                return replace(done, exit_code=-signal, reason="signal", message=message)
            if code:
                return replace(done, exit_code=int(code), reason="exit_code", message=message)
        return replace(done, exit_code=code, reason="supervisor_error", message=why)
    if phase == "Running":
        message = "terminating" if _get(pod, "metadata", "deletionTimestamp") else ""
        return ReplicaState("running", started_at=started, message=message)
    if phase == "Unknown":
        return ReplicaState(
            "running", started_at=started, message="Kubernetes lost contact with the pod's node"
        )
    return _pending(pod, now=now, start_timeout_s=start_timeout_s, pinned=pinned)


def _pending(pod: Obj, *, now: datetime, start_timeout_s: float, pinned: bool) -> ReplicaState:
    created = timestamp(_get(pod, "metadata", "creationTimestamp")) or now
    waited = (now - created).total_seconds()
    late = waited >= start_timeout_s
    for container, reason, message in _waiting(pod):
        text = f"{container}: {reason}" + (f": {message}" if message else "")
        if reason in FATAL_WAITING or (late and reason in PULL_ERRORS | CONFIG_ERRORS):
            return ReplicaState(
                "exited",
                reason="supervisor_error",
                ended_at=now,
                message=f"Kubernetes could not start the pod ({text})",
            )
        if reason not in ("PodInitializing", "ContainerCreating"):
            return ReplicaState("starting", message=f"Kubernetes: {text}")
    scheduled = next(
        (
            c
            for c in _get(pod, "status", "conditions") or []
            if isinstance(c, Mapping) and c.get("type") == "PodScheduled"
        ),
        None,
    )
    if scheduled is not None and scheduled.get("status") == "False":
        message = scheduled.get("message") or scheduled.get("reason") or "not scheduled"
        if pinned and late and scheduled.get("reason") == "Unschedulable":
            return ReplicaState(
                "lost",
                reason="node_lost",
                ended_at=now,
                message=f"Kubernetes cannot run the pod on the node AICC chose ({message}); "
                f"withdrawn after {waited:.0f} s",
            )
        return ReplicaState("starting", message=f"Kubernetes: {message}")
    return ReplicaState("starting", message="Kubernetes: pod is starting")


def replica_state(
    job: Obj | None,
    pods: Sequence[Obj],
    index: int,
    *,
    now: datetime,
    start_timeout_s: float = 600.0,
    pinned: bool = True,
    cancel_requested: bool = False,
) -> ReplicaState:
    """Replica `index` of the attempt whose Job is `job` (None: not found) and whose pods are
    `pods` (those labelled with the attempt's name). A replica AICC asked to stop reads as
    cancelled however it ended."""
    if job is None:
        if cancel_requested:
            return ReplicaState("exited", reason="cancelled", ended_at=now, message="deleted")
        return ReplicaState(
            "lost",
            reason="supervisor_lost",
            ended_at=now,
            message="the Kubernetes Job is gone (deleted outside AICC, or by its TTL before "
            "AICC saw it end)",
        )
    gang = _get(job, "spec", "completionMode") == "Indexed"
    held = conditions(job)
    failed = held.get("Failed") or held.get("FailureTarget")
    pod = pod_of(pods, index, gang=gang)
    state = pod_state(pod, now=now, start_timeout_s=start_timeout_s, pinned=pinned) if pod else None
    finished = state is not None and state.reason == "succeeded"
    if failed is not None and failed.get("reason") == "DeadlineExceeded" and not finished:
        # The Job's activeDeadlineSeconds (max_runtime) ended it, whatever its pods show.
        at = timestamp(failed.get("lastTransitionTime")) or now
        state = state or ReplicaState("exited")
        state = replace(
            state,
            phase="exited",
            reason="runtime_exceeded",
            ended_at=state.ended_at or at,
            message=f"Kubernetes: {failed.get('message') or 'DeadlineExceeded'}",
        )
    elif state is None:
        state = _without_pod(job, held, now=now)
    if cancel_requested and state.phase in ("exited", "lost"):
        return replace(state, phase="exited", reason="cancelled")
    return state


def _without_pod(job: Obj, held: dict[str, Obj], *, now: datetime) -> ReplicaState:
    complete = held.get("Complete") or held.get("SuccessCriteriaMet")
    if complete is not None:
        at = timestamp(complete.get("lastTransitionTime"))
        return ReplicaState("exited", exit_code=0, reason="succeeded", ended_at=at or now)
    failed = held.get("Failed") or held.get("FailureTarget")
    if failed is not None:
        return ReplicaState(
            "lost",
            reason="supervisor_lost",
            ended_at=timestamp(failed.get("lastTransitionTime")) or now,
            message=f"Kubernetes: the Job failed ({failed.get('reason')}: "
            f"{failed.get('message') or ''}) and this replica's pod is gone",
        )
    if _get(job, "spec", "suspend"):
        return ReplicaState("starting", message="Kubernetes: the Job is created, not yet resumed")
    return ReplicaState("starting", message="Kubernetes: waiting for the Job's pod")
