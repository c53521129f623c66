"""What the scheduler sees of a node: AICC's own allocations and what the engine's other jobs
hold (users' own Slurm jobs) both count as taken, and a GPU in MIG mode is seen slice by slice,
on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.core.jobspec import JobSpec
from aicc.core.topology import Device, MigInstance, Node
from aicc.executors.base import Capacity
from aicc.scheduler.snapshot import MigSlice
from aicc.services.jobs import snapshots
from aicc.services.nodes import census as node_census
from aicc.services.nodes import nodes


def test_capacity_held_outside_aicc_is_not_free(server: tuple[TestClient, AppState]) -> None:
    _, state = server
    gpus = tuple(Device(i, "A100-80GB", 81920, simulated=True) for i in range(2))
    node = Node("slurm-n1", 4000, 8192, gpus, executor="slurm")
    with state.db.session() as session:
        nodes.register(session, node, held=Capacity(1000, 2048, 1))
    with state.db.reader() as session:
        (view,) = [v for v in snapshots.node_views(session) if v.name == "slurm-n1"]
        (empty,) = [v for v in snapshots.node_views(session, empty=True) if v.name == "slurm-n1"]
    assert (view.free_cpu_milli, view.free_memory_mib) == (3000, 6144)
    assert sorted(d.free_milli for d in view.devices) == [0, 1000]
    assert all(d.free_milli == 1000 for d in empty.devices)  # could it ever fit: yes
    with state.db.session() as session:  # the user's job ended: the next discovery says so
        nodes.register(session, node, held=Capacity(0, 0, 0))
    with state.db.reader() as session:
        (view,) = [v for v in snapshots.node_views(session) if v.name == "slurm-n1"]
    assert view.free_cpu_milli == 4000 and all(d.free_milli == 1000 for d in view.devices)


def test_a_partitioned_gpu_is_seen_slice_by_slice(server: tuple[TestClient, AppState]) -> None:
    _, state = server
    slices = (MigInstance(0, "3g.40gb", "MIG-a"), MigInstance(1, "4g.40gb", "MIG-b"))
    gpus = (Device(0, "A100-80GB", 81920, uuid="GPU-0", mig=slices), Device(1, "A100-80GB", 81920))
    with state.db.session() as session:
        nodes.register(session, Node("mig-n1", 8000, 65536, gpus))
    with state.db.reader() as session:
        (view,) = [v for v in snapshots.node_views(session) if v.name == "mig-n1"]
        first = node_census.devices(session, names=["mig-n1"])[0]
    assert view.devices[0].mig == (MigSlice(0, "3g.40gb"), MigSlice(1, "4g.40gb"))
    assert view.devices[1].mig == ()
    assert first.device() == gpus[0]  # the UUIDs the replica's environment needs
    spec = JobSpec.model_validate(
        {"command": "x", "resources": {"accelerator": {"mig": "3g.40gb"}}}
    )
    assert snapshots.replica_request(spec).mig_profile == "3g.40gb"
