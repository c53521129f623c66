"""The replica's environment: the 0600 file Slurm and Ray jobs source, and what it keeps out."""

from __future__ import annotations

from pathlib import Path

import pytest

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
