"""Ray's node records and job statuses as AICC's, and the entry script's records: pure
functions, on records shaped as Ray 2.60's State and Jobs APIs return them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aicc.core.topology import WHOLE_DEVICES, NodeState
from aicc.executors.ray import entry, nodes, states

HEAD = {
    "node_id": "0c77",
    "node_ip": "127.0.0.1",
    "is_head_node": True,
    "state": "ALIVE",
    "state_message": None,
    "node_name": "127.0.0.1",
    "resources_total": {
        "node:127.0.0.1": 1.0,
        "CPU": 2.0,
        "node:__internal_head__": 1.0,
        "object_store_memory": 7335002112.0,
        "GPU": 2.0,
        "memory": 17115004928.0,
    },
}
GPU_WORKER = {
    "node_id": "9a1f",
    "node_ip": "10.0.0.7",
    "state": "ALIVE",
    "node_name": "gpu-7",
    "resources_total": {"CPU": 64.0, "GPU": 8.0, "memory": 2**40, "accelerator_type:H100": 1.0},
}


def test_nodes_carry_ray_resources_and_addresses() -> None:
    found = nodes.inventory([HEAD, GPU_WORKER], cluster="dev", simulated=True)
    head, worker = sorted(found.nodes, key=lambda n: n.name)
    assert (head.name, head.cpu_milli, head.memory_mib) == ("127.0.0.1", 2000, 16322)
    assert [d.index for d in head.devices] == [0, 1]
    assert all(d.model == "gpu" and d.simulated for d in head.devices)
    assert head.labels == {
        WHOLE_DEVICES: "true",
        "cluster": "dev",
        "pool": "default",
        "address": "127.0.0.1",
        "ray_node_id": "0c77",
    }
    assert {d.model for d in worker.devices} == {"H100-SXM"} and len(worker.devices) == 8
    assert worker.devices[0].memory_mib > 0
    assert found.addresses == {"127.0.0.1": "127.0.0.1", "gpu-7": "10.0.0.7"}
    assert all(n.state is NodeState.READY and n.executor == "ray" for n in found.nodes)


def test_default_model_names_untyped_gpus() -> None:
    [node] = nodes.inventory([HEAD], cluster="c", default_model="A100").nodes
    assert {d.model for d in node.devices} == {"A100-80GB"}


def test_a_restarted_node_keeps_its_name_and_the_alive_record_wins() -> None:
    dead = {**HEAD, "node_id": "old", "state": "DEAD", "state_message": "raylet died"}
    for records in ([dead, HEAD], [HEAD, dead]):
        [node] = nodes.inventory(records, cluster="c").nodes
        assert node.state is NodeState.READY and node.labels["ray_node_id"] == "0c77"
    found = nodes.inventory([dead], cluster="c")
    assert found.nodes[0].state is NodeState.DOWN
    assert found.reasons == {"127.0.0.1": "Ray: DEAD (raylet died)"}


def test_node_names_are_made_valid() -> None:
    assert nodes.node_name({"node_name": "host a/b", "node_ip": "1.2.3.4"}) == "host-a-b"
    assert nodes.node_name({"node_ip": "1.2.3.4"}) == "1.2.3.4"


T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "kw", "phase", "reason", "code"),
    [
        ("PENDING", {}, "starting", None, None),
        ("RUNNING", {"started_at": T0}, "running", None, None),
        ("SUCCEEDED", {"exit_code": 0, "started_at": T0}, "exited", "succeeded", 0),
        ("FAILED", {"exit_code": 3, "started_at": T0}, "exited", "exit_code", 3),
        ("FAILED", {"exit_code": -9, "started_at": T0}, "exited", "signal", -9),
        ("FAILED", {"error_type": "JOB_SUPERVISOR_ACTOR_DIED"}, "lost", "node_lost", None),
        ("FAILED", {"error_type": "RUNTIME_ENV_SETUP_FAILURE"}, "exited", "supervisor_error", None),
        ("FAILED", {}, "exited", "supervisor_error", None),
        ("STOPPED", {}, "exited", "cancelled", None),
        ("STOPPED", {"runtime_exceeded": True}, "exited", "runtime_exceeded", None),
        ("SUCCEEDED", {"exit_code": 0, "cancel_requested": True}, "exited", "cancelled", 0),
    ],
)
def test_ray_statuses_as_replica_states(
    status: str, kw: dict, phase: str, reason: str | None, code: int | None
) -> None:
    state = states.replica_state(status, **kw)
    assert (state.phase, state.reason, state.exit_code) == (phase, reason, code)
    assert state.message.startswith(f"Ray: {status}")


def test_exit_code_from_ray_or_from_its_message() -> None:
    assert states.exit_code(3, "") == 3
    message = "Job entrypoint command failed with exit code 7, last available logs ..."
    assert states.exit_code(None, message) == 7
    assert states.exit_code(None, "Job was intentionally stopped.") is None
    assert states.from_ms(1795356097393) == datetime(2026, 11, 22, 14, 1, 37, 393000, UTC)


def test_visible_devices_and_the_started_record(tmp_path: Path) -> None:
    assert entry.visible_indices("0,1") == (0, 1)
    assert entry.visible_indices("") is None
    assert entry.visible_indices("GPU-5c2b,GPU-77aa") is None
    assert entry.read_started(tmp_path) is None
    (tmp_path / "started").write_text("started_at=1795356097.5\nvisible=1\nhost=n1\n")
    assert entry.read_started(tmp_path) == {
        "started_at": "1795356097.5",
        "visible": "1",
        "host": "n1",
    }
