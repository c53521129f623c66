"""aicc/core/tes_peer.py: a job spec as a TES task for a `tes` federation peer, what TES cannot
say refused by name, and a TES task's state and logs read back one to one."""

from __future__ import annotations

from typing import Any

import pytest
import tes
from tes.utils import unmarshal

from aicc.config import FederationPeer
from aicc.core import tes_peer
from aicc.core.jobspec import JobSpec
from aicc.scheduler import federation as routing


def spec(**fields: Any) -> JobSpec:
    return JobSpec.model_validate({"command": "echo hi", **fields})


def test_a_job_becomes_one_task_the_tes_client_accepts() -> None:
    job = spec(
        name="train-1",
        image="python:3.12",
        env={"STEPS": "3"},
        resources={
            "cpu": "1500m",
            "memory": "3GiB",
            "accelerator": {"count": 2, "models": ["H100"]},
        },
        max_runtime_s=600,
    )
    task = tes_peer.task_of(job, accelerators=["H100-SXM"], tags={"aicc.home-job": "j-0"})
    assert task["executors"] == [
        {"image": "python:3.12", "command": ["sh", "-c", "echo hi"], "env": {"STEPS": "3"}}
    ]
    assert task["resources"]["cpu_cores"] == 2 and task["resources"]["ram_gb"] == 3.0
    assert task["resources"]["backend_parameters"] == {
        "aicc_accelerators": "2",
        "aicc_accelerator": "H100-SXM",
        "aicc_max_runtime": "600",
    }
    assert task["resources"]["backend_parameters_strict"] is False
    assert task["name"] == "train-1" and task["tags"] == {"aicc.home-job": "j-0"}
    parsed = unmarshal(task, tes.Task)  # the real client's model takes it as it is
    assert parsed.executors[0].command == ["sh", "-c", "echo hi"]


def test_a_list_command_and_no_image_travel_as_they_are() -> None:
    task = tes_peer.task_of(spec(command=["python3", "-c", "print(1)"]), accelerators=[], tags={})
    assert task["executors"][0]["command"] == ["python3", "-c", "print(1)"]
    assert task["executors"][0]["image"] == tes_peer.DEFAULT_IMAGE
    assert "backend_parameters" not in task["resources"]


@pytest.mark.parametrize(
    ("fields", "offered", "named"),
    [
        ({"replicas": 2}, [], "replicas"),
        ({"resources": {"accelerator": {"count": 1, "models": ["A100"]}}}, ["H100"], "A100"),
        ({"resources": {"accelerator": {"count": 1}}}, [], "lists no accelerators"),
        ({"resources": {"accelerator": {"milli": 500}}}, ["H100"], "share or MIG"),
        ({"datasets": ["corpus"]}, [], "datasets"),
        ({"secrets": ["hf"]}, [], "secrets"),
        ({"egress": "internet"}, [], "egress"),
        ({"kind": "service"}, [], "kind service"),
    ],
)
def test_what_tes_cannot_say_is_refused_by_name(
    fields: dict[str, Any], offered: list[str], named: str
) -> None:
    with pytest.raises(tes_peer.NotExpressible, match=named):
        tes_peer.task_of(spec(**fields), accelerators=offered, tags={})


@pytest.mark.parametrize(
    ("there", "state", "reason"),
    [
        ("QUEUED", "pending", None),
        ("INITIALIZING", "scheduled", None),
        ("RUNNING", "running", None),
        ("CANCELING", "running", None),
        ("COMPLETE", "succeeded", "succeeded"),
        ("EXECUTOR_ERROR", "failed", "executor_error"),
        ("SYSTEM_ERROR", "failed", "system_error"),
        ("PREEMPTED", "failed", "preempted"),
        ("CANCELED", "cancelled", "cancelled_by_user"),
    ],
)
def test_every_tes_state_maps_back(there: str, state: str, reason: str | None) -> None:
    found = tes_peer.job_of({"state": there})
    assert (found["state"], found["reason"], found["tes_state"]) == (state, reason, there)
    assert there in found["message"]


def test_the_last_attempt_gives_times_exit_code_and_logs() -> None:
    task = {
        "state": "EXECUTOR_ERROR",
        "creation_time": "2026-01-01T00:00:00Z",
        "logs": [
            {"start_time": "2026-01-01T00:00:01Z", "logs": [{"exit_code": 9, "stdout": "old"}]},
            {
                "start_time": "2026-01-01T00:01:00Z",
                "end_time": "2026-01-01T00:02:00Z",
                "system_logs": ["node n1"],
                "logs": [
                    {"exit_code": 0, "stdout": "one\n", "stderr": ""},
                    {"exit_code": 3, "stdout": "two\n", "stderr": "bad\n"},
                ],
            },
        ],
    }
    found = tes_peer.job_of(task)
    assert found["started_at"] == "2026-01-01T00:01:00Z"
    assert found["ended_at"] == "2026-01-01T00:02:00Z"
    assert found["exit_code"] == 3
    assert found["message"] == "TES state EXECUTOR_ERROR: node n1 (exit code 3)"
    assert tes_peer.logs_of(task) == ("one\ntwo\n", "bad\n")


def test_a_running_task_without_a_start_time_started_when_it_was_made() -> None:
    found = tes_peer.job_of({"state": "RUNNING", "creation_time": "2026-01-01T00:00:00Z"})
    assert found["started_at"] == "2026-01-01T00:00:00Z"
    assert tes_peer.job_of({"state": "QUEUED", "creation_time": "x"})["started_at"] is None


def test_routing_refuses_a_site_that_cannot_express_the_job() -> None:
    site = routing.Site(
        name="t",
        jurisdiction="CN",
        models={},
        cpu_wait_s=0,
        cpu_core_hour=1,
        memory_gib_hour=0,
        carbon_g_per_kwh=0,
        pue=1,
        datasets={},
    )
    ask = routing.Ask(org="o", devices=0, models=(), cpu_cores=1, memory_gib=1, runtime_s=60)
    result = routing.route(ask, [site], home="h", cannot={"t": "a TES peer cannot run it: x"})
    assert result.best is None and result.refused == {"t": "a TES peer cannot run it: x"}
    assert routing.route(ask, [site], home="h").best is not None


def test_a_tes_peer_is_configured_with_a_token_not_a_key() -> None:
    peer = FederationPeer.model_validate(
        {"site": "t", "url": "https://tes.example", "kind": "tes", "token": "s3cret"}
    )
    assert "s3cret" not in repr(peer) and peer.token is not None
    with pytest.raises(ValueError, match="public_key is required"):
        FederationPeer.model_validate({"site": "p", "url": "https://aicc.example"})
    with pytest.raises(ValueError, match="a tes peer has no public_key"):
        FederationPeer.model_validate(
            {"site": "t", "url": "https://t.example", "kind": "tes", "public_key": "k" * 44}
        )


def test_a_tes_peers_accelerators_are_read_as_the_catalog_names_them() -> None:
    peer = FederationPeer.model_validate(
        {"site": "t", "url": "https://t.example", "kind": "tes", "accelerators": ["h100", "H100"]}
    )
    assert peer.accelerators == ["H100-SXM"]
    with pytest.raises(ValueError, match="accelerators"):
        FederationPeer.model_validate(
            {"site": "t", "url": "https://t.example", "kind": "tes", "accelerators": ["ZZ9000"]}
        )


def test_a_peers_logs_are_kept_to_their_tail() -> None:
    big = "x" * tes_peer.MAX_LOG_CHARS + "end\n"
    task = {"logs": [{"logs": [{"stdout": big, "stderr": "e"}]}]}
    stdout, stderr = tes_peer.logs_of(task)
    assert len(stdout) == tes_peer.MAX_LOG_CHARS and stdout.endswith("end\n") and stderr == "e"
