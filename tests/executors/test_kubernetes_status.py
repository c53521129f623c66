"""Kubernetes Jobs and Pods as AICC replica states: pure functions on the objects the API returns
(camelCase JSON, trimmed to the fields that matter; shapes as Kubernetes 1.30 writes them)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aicc.executors.kubernetes import status

NOW = datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
NAME = "aicc-job-01jdq4zk3x9v7y5w2t8r6p4n0m-0"


def stamp(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def job(
    *conditions: dict[str, Any], indexed: bool = False, suspend: bool = False
) -> dict[str, Any]:
    spec: dict[str, Any] = {"backoffLimit": 0, "completions": 1, "parallelism": 1}
    spec["suspend"] = suspend
    if indexed:
        spec |= {"completionMode": "Indexed", "completions": 4, "parallelism": 4}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": NAME, "namespace": "aicc", "uid": "8f1c"},
        "spec": spec,
        "status": {"conditions": list(conditions), "startTime": stamp(20)},
    }


def condition(
    kind: str, reason: str = "", message: str = "", minutes_ago: float = 1
) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": stamp(minutes_ago),
        "lastTransitionTime": stamp(minutes_ago),
    }


def pod(
    phase: str,
    *,
    index: int | None = None,
    state: dict[str, Any] | None = None,
    created: float = 20,
    reason: str | None = None,
    conditions: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    labels = {"aicc.io/name": NAME, "job-name": NAME}
    annotations: dict[str, str] = {}
    if index is None:
        labels["aicc.io/replica"] = "0"
    else:
        annotations["batch.kubernetes.io/job-completion-index"] = str(index)
        labels["batch.kubernetes.io/job-completion-index"] = str(index)
    body: dict[str, Any] = {
        "metadata": {
            "name": f"{NAME}-{index if index is not None else 'x'}-abcde",
            "labels": labels,
            "annotations": annotations,
            "creationTimestamp": stamp(created),
        },
        "status": {
            "phase": phase,
            "conditions": conditions or [],
            "containerStatuses": [
                {
                    "name": "main",
                    "image": "pytorch/pytorch:2.5.1",
                    "ready": False,
                    "restartCount": 0,
                }
                | ({"state": state} if state else {"state": {}})
            ],
        },
    }
    if phase != "Pending":
        body["status"]["startTime"] = stamp(created - 1)
    if reason:
        body["status"]["reason"] = reason
        body["status"]["message"] = f"pod {reason}"
    if init is not None:
        body["status"]["initContainerStatuses"] = init
    return body


def terminated(
    code: int, reason: str = "Error", started: float = 15, finished: float = 2
) -> dict[str, Any]:
    return {
        "terminated": {
            "exitCode": code,
            "reason": reason,
            "startedAt": stamp(started),
            "finishedAt": stamp(finished),
            "containerID": "containerd://0f1e",
        }
    }


RUNNING = {"running": {"startedAt": stamp(15)}}


def state_of(
    j: dict[str, Any] | None, pods: list[dict[str, Any]], index: int = 0, **kw: Any
) -> Any:
    return status.replica_state(j, pods, index, now=NOW, **kw)


def test_running() -> None:
    got = state_of(job(), [pod("Running", state=RUNNING)])
    assert got.phase == "running" and got.started_at == NOW - timedelta(minutes=15)


def test_succeeded() -> None:
    done = job(
        condition("SuccessCriteriaMet", "CompletionsReached"),
        condition("Complete", "CompletionsReached"),
    )
    got = state_of(done, [pod("Succeeded", state=terminated(0, "Completed"))])
    assert (got.phase, got.exit_code, got.reason) == ("exited", 0, "succeeded")
    assert got.ended_at == NOW - timedelta(minutes=2)


def test_failed_with_exit_code_3() -> None:
    failed = job(
        condition("FailureTarget", "BackoffLimitExceeded"),
        condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
    )
    got = state_of(failed, [pod("Failed", state=terminated(3))])
    assert (got.phase, got.exit_code, got.reason) == ("exited", 3, "exit_code")
    assert got.started_at == NOW - timedelta(minutes=15)


def test_oom_killed() -> None:
    failed = job(condition("Failed", "BackoffLimitExceeded"))
    got = state_of(failed, [pod("Failed", state=terminated(137, "OOMKilled"))])
    assert (got.phase, got.exit_code, got.reason) == ("exited", 137, "oom_killed")


def test_killed_by_a_signal() -> None:
    state = terminated(0, "Error")
    state["terminated"]["signal"] = 9
    got = state_of(job(condition("Failed", "BackoffLimitExceeded")), [pod("Failed", state=state)])
    assert (got.exit_code, got.reason) == (-9, "signal")


def test_job_deadline_exceeded() -> None:
    failed = job(
        condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
    )
    # The Job controller deletes the pod: it may be gone, or still terminating with exit 137.
    for pods in ([], [pod("Failed", state=terminated(137))], [pod("Running", state=RUNNING)]):
        got = state_of(failed, pods)
        assert (got.phase, got.reason) == ("exited", "runtime_exceeded"), pods
        assert "deadline" in got.message
        assert got.ended_at is not None


def test_pod_deadline_exceeded() -> None:
    got = state_of(job(), [pod("Failed", reason="DeadlineExceeded")])
    assert (got.phase, got.reason) == ("exited", "runtime_exceeded")


def test_a_replica_that_succeeded_stays_succeeded_when_the_gang_runs_out_of_time() -> None:
    failed = job(condition("Failed", "DeadlineExceeded"), indexed=True)
    got = state_of(failed, [pod("Succeeded", index=0, state=terminated(0, "Completed"))], 0)
    assert got.reason == "succeeded"


def test_pending_image_pull() -> None:
    waiting = {
        "waiting": {
            "reason": "ImagePullBackOff",
            "message": 'Back-off pulling image "pytorh/pytorch:2.5"',
        }
    }
    got = state_of(job(), [pod("Pending", state=waiting, created=3)], start_timeout_s=600)
    assert got.phase == "starting"
    assert "ImagePullBackOff" in got.message and "pytorh/pytorch" in got.message
    late = state_of(job(), [pod("Pending", state=waiting, created=11)], start_timeout_s=600)
    assert (late.phase, late.reason) == ("exited", "supervisor_error")
    assert "could not start" in late.message


def test_invalid_image_name_fails_at_once() -> None:
    waiting = {
        "waiting": {
            "reason": "InvalidImageName",
            "message": 'couldn\'t parse image name "Py Torch"',
        }
    }
    got = state_of(job(), [pod("Pending", state=waiting, created=0.1)])
    assert (got.phase, got.reason) == ("exited", "supervisor_error")


def test_unschedulable_on_the_chosen_node() -> None:
    unscheduled = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/12 nodes are available: 1 Insufficient nvidia.com/gpu, "
            "11 node(s) didn't match Pod's node affinity/selector.",
        }
    ]
    early = state_of(job(), [pod("Pending", conditions=unscheduled, created=1)])
    assert early.phase == "starting" and "Insufficient nvidia.com/gpu" in early.message
    late = state_of(job(), [pod("Pending", conditions=unscheduled, created=30)])
    assert (late.phase, late.reason) == ("lost", "node_lost")
    free = state_of(job(), [pod("Pending", conditions=unscheduled, created=30)], pinned=False)
    assert free.phase == "starting"  # Kubernetes places it: it may fit later


def test_preempted_by_the_scheduler() -> None:
    disrupted = [
        condition(
            "DisruptionTarget",
            "PreemptionByScheduler",
            "aicc-high: preempting to accommodate a higher priority pod",
        )
    ]
    got = state_of(job(), [pod("Failed", state=terminated(143), conditions=disrupted)])
    assert (got.phase, got.reason) == ("lost", "preempted")


def test_node_gone() -> None:
    tainted = [
        condition(
            "DisruptionTarget",
            "DeletionByTaintManager",
            "Taint manager: deleting due to NoExecute taint",
        )
    ]
    got = state_of(job(), [pod("Failed", conditions=tainted)])
    assert (got.phase, got.reason) == ("lost", "node_lost")
    evicted = state_of(job(), [pod("Failed", reason="Evicted")])
    assert (evicted.phase, evicted.reason) == ("lost", "node_lost")


def test_workdir_init_container_failed() -> None:
    init = [
        {
            "name": "workdir",
            "state": {
                "terminated": {"exitCode": 2, "reason": "Error", "message": "tar: invalid magic"}
            },
        }
    ]
    got = state_of(job(condition("Failed", "BackoffLimitExceeded")), [pod("Failed", init=init)])
    assert (got.phase, got.reason) == ("exited", "supervisor_error")
    assert "workdir" in got.message and "invalid magic" in got.message


def test_no_pod_yet() -> None:
    assert state_of(job(suspend=True), []).phase == "starting"
    waiting = state_of(job(), [])
    assert waiting.phase == "starting" and "waiting" in waiting.message


def test_job_gone() -> None:
    cancelled = state_of(None, [], cancel_requested=True)
    assert (cancelled.phase, cancelled.reason) == ("exited", "cancelled")
    lost = state_of(None, [])
    assert (lost.phase, lost.reason) == ("lost", "supervisor_lost")


def test_cancel_requested_reads_as_cancelled() -> None:
    got = state_of(job(), [pod("Failed", state=terminated(143))], cancel_requested=True)
    assert (got.phase, got.reason, got.exit_code) == ("exited", "cancelled", 143)
    terminating = pod("Running", state=RUNNING)
    terminating["metadata"]["deletionTimestamp"] = stamp(0)
    still = state_of(job(), [terminating], cancel_requested=True)
    assert still.phase == "running" and still.message == "terminating"


def test_gang_replicas_by_completion_index() -> None:
    failed = job(condition("Failed", "BackoffLimitExceeded", minutes_ago=1), indexed=True)
    pods = [
        pod("Failed", index=2, state=terminated(3, finished=2)),
        pod("Running", index=0, state=RUNNING),
        pod("Succeeded", index=1, state=terminated(0, "Completed")),
    ]
    assert state_of(failed, pods, 2).exit_code == 3
    assert state_of(failed, pods, 1).reason == "succeeded"
    assert state_of(failed, pods, 0).phase == "running"  # being stopped by the Job controller
    gone = state_of(failed, pods, 3)  # its pod was deleted when the Job failed
    assert gone.phase == "lost" and gone.ended_at is not None
    first = state_of(failed, pods, 2)
    assert first.ended_at is not None and gone.ended_at > first.ended_at  # the real failure first


def test_newest_pod_wins() -> None:
    old = pod("Failed", state=terminated(1), created=30)
    new = pod("Running", state=RUNNING, created=5)
    assert status.pod_of([new, old], 0, gang=False) is new
    assert state_of(job(), [old, new]).phase == "running"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01T10:00:00Z", datetime(2026, 5, 1, 10, tzinfo=UTC)),
        ("2026-05-01T10:00:00.123456Z", datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_timestamps(text: Any, expected: datetime | None) -> None:
    assert status.timestamp(text) == expected


def test_does_not_change_its_input() -> None:
    pods = [pod("Failed", state=terminated(3))]
    before = copy.deepcopy(pods)
    state_of(job(condition("Failed", "BackoffLimitExceeded")), pods)
    assert pods == before
