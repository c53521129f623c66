"""A share of a real GPU runs under its own MPS daemon with its limits (mps.py); the limits are
checked here, the daemon on a GPU machine (BENCHMARKS.md, "The truth on a real accelerator")."""

from __future__ import annotations

import subprocess

from aicc.executors.local import mps

H100_MIB = 81559


def test_a_half_share_is_capped_at_half_the_device_memory_and_not_in_compute() -> None:
    env = mps.share_env([{"index": 0, "milli": 500}], {0: H100_MIB})
    assert env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == f"0={H100_MIB // 2}M"
    assert "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE" not in env  # turns on the GPU share compute
    assert env["CUDA_MPS_PIPE_DIRECTORY"].startswith("/tmp/")  # the sandbox's private /tmp


def test_the_memory_a_job_asked_for_is_its_cap_and_ordinals_follow_the_visible_order() -> None:
    devices = [{"index": 3, "milli": 1000}, {"index": 1, "milli": 250, "memory_mib": 10240}]
    env = mps.share_env(devices, {1: H100_MIB, 3: H100_MIB})
    # CUDA numbers the visible devices 0, 1 in CUDA_VISIBLE_DEVICES' order: index 1 is ordinal 1
    assert env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "1=10240M"


def test_whole_devices_mig_slices_and_simulated_devices_run_without_mps() -> None:
    assert mps.share_env([{"index": 0, "milli": 1000}], {0: H100_MIB}) == {}
    assert mps.share_env([{"index": 0, "milli": 500, "mig_slice": 2}], {0: H100_MIB}) == {}
    assert mps.share_env([{"index": 0, "milli": 500}], {}) == {}  # simulated: no memory known


def test_the_launcher_runs_the_command_even_where_the_daemon_cannot_start(tmp_path) -> None:
    """No MPS here: the job still runs, and its stderr says its share is not capped."""
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(tmp_path / "pipes"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [*mps.launcher("/bin/false"), "echo", "trained"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout == "trained\n"
    assert "not capped" in done.stderr
