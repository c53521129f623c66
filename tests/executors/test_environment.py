"""The replica's environment: the 0600 file Slurm and Ray jobs source, and what it keeps out."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicc.core.topology import Device, MigInstance
from aicc.executors import environment
from aicc.executors.base import ReplicaLaunch


def test_environment_names_must_be_shell_identifiers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not usable"):
        environment.write_env(tmp_path, {"BAD-NAME": "x"})
    path = environment.write_env(tmp_path, {"A": "it's"})
    assert path.read_text() == "export A='it'\"'\"'s'\n" and path.stat().st_mode & 0o777 == 0o600


def test_the_engine_sets_the_device_variables_for_the_devices_it_gives() -> None:
    replica = ReplicaLaunch(
        job_id="job_1",
        attempt=1,
        index=0,
        argv=["true"],
        env={"CUDA_VISIBLE_DEVICES": "3", "MINE": "1"},
        node="n1",
        device_indices=(3,),
        cpu_milli=1000,
        memory_mib=0,
        max_runtime_s=None,
    )
    env = environment.engine_env(replica)
    assert {"CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES"} <= environment.DEVICE_VARIABLES
    assert env["MINE"] == "1" and "CUDA_VISIBLE_DEVICES" not in env
    assert env["PYTHONUNBUFFERED"] == "1" and env["PATH"]
    cpu_only = environment.engine_env(ReplicaLaunch(**{**vars(replica), "device_indices": ()}))
    assert cpu_only["CUDA_VISIBLE_DEVICES"] == "3"


def test_a_replica_s_thread_pools_are_sized_to_its_cpus_unless_it_says() -> None:
    """OpenMP and BLAS pools count the node's cores, not the job's: sized to the replica's
    whole CPUs (at least one), as the spec's env may override."""
    replica = ReplicaLaunch(
        job_id="job_1", attempt=1, index=0, argv=["true"], env={}, node="n1",
        device_indices=(), cpu_milli=2500, memory_mib=0, max_runtime_s=None,
    )  # fmt: skip
    env = environment.engine_env(replica)
    assert [env[k] for k in environment.THREAD_VARIABLES] == ["2", "2", "2"]
    small = ReplicaLaunch(**{**vars(replica), "cpu_milli": 250, "env": {"OMP_NUM_THREADS": "8"}})
    env = environment.engine_env(small)
    assert env["OMP_NUM_THREADS"] == "8" and env["MKL_NUM_THREADS"] == "1"


A100 = "A100-80GB"


def test_a_mig_slice_is_visible_by_its_uuid_and_names_its_profile() -> None:
    gpu = Device(0, A100, 81920, uuid="GPU-1", mig=(MigInstance(3, "1g.10gb", "MIG-6f3d0b8e"),))
    picks = [{"index": 0, "milli": 142, "memory_mib": 10240, "mig_slice": 3}]
    env = environment.device_env(picks, {0: gpu}, "1g.10gb")
    assert env == {"CUDA_VISIBLE_DEVICES": "MIG-6f3d0b8e", "AICC_MIG_PROFILE": "1g.10gb"}


def test_a_simulated_slice_keeps_the_index_and_whole_devices_are_unchanged() -> None:
    simulated = Device(2, A100, 81920, simulated=True, mig=(MigInstance(0, "1g.10gb"),))
    picks = [{"index": 2, "milli": 142, "memory_mib": 10240, "mig_slice": 0}]
    env = environment.device_env(picks, {2: simulated}, "1g.10gb")
    assert env == {"CUDA_VISIBLE_DEVICES": "2", "AICC_MIG_PROFILE": "1g.10gb"}
    npus = {i: Device(i, "Ascend-910B", 65536) for i in range(2)}
    whole = [{"index": i, "milli": 1000, "memory_mib": None} for i in range(2)]
    assert environment.device_env(whole, npus, None) == {"ASCEND_RT_VISIBLE_DEVICES": "0,1"}
    assert environment.device_env(whole, {}, None) == {"CUDA_VISIBLE_DEVICES": "0,1"}


def test_a_replica_carries_the_test_suite_s_mark_and_nothing_else_of_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sandbox's PID-namespace init orphaned while it started is found by the suite's last
    check (aicc/testing/leftovers.py) only through its environment; the server's own variables
    stay out."""
    from aicc.testing.leftovers import MARKER

    monkeypatch.setenv(MARKER, "run-1")
    monkeypatch.setenv("AICC_TOKEN", "a secret of the server's")
    env = environment.base_env()
    assert env[MARKER] == "run-1" and "AICC_TOKEN" not in env
    monkeypatch.delenv(MARKER)
    assert MARKER not in environment.base_env()
