"""The records the server reads by name in a run directory, left as a FIFO or a link (issue 35).

Without a sandbox a job runs as the server's account and may replace any file of its run
directory. Ray's `started`, `limits.json` and `request.json` and Slurm's `devices.json` were read
with `read_text()`: a FIFO there held the executor's poll (and the loop) until someone wrote to
it, and a link was followed. Each is now read through the guard of job-written files: refused
at once, naming the file, without following the link or waiting. (The local executor's
`supervisor.log` and logs: tests/executors/test_local_runtime.py.)"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aicc.executors import jobfiles
from aicc.executors.ray import entry
from aicc.executors.ray import executor as ray_executor
from aicc.executors.slurm import executor as slurm_executor

READERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "ray started": (entry.STARTED_FILE, entry.read_started),
    "ray limits": (ray_executor.LIMITS_FILE, ray_executor._read_limits),
    "ray request": (ray_executor.REQUEST_FILE, lambda d: entry.read_record(d / "request.json")),
    "slurm devices": (slurm_executor.DEVICES_FILE, slurm_executor._recorded_devices),
}


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_record_left_as_a_fifo_or_link_is_refused_at_once(
    tmp_path: Path, reader: str, kind: str
) -> None:
    name, read = READERS[reader]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    other = tmp_path / "another-tenants.json"
    other.write_text('{"max_runtime_s": 1}\n')
    if kind == "fifo":
        os.mkfifo(run_dir / name)
    else:
        (run_dir / name).symlink_to(other)
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(read, run_dir)
        try:
            with pytest.raises(jobfiles.Refused) as refused:
                reading.result(timeout=5)
        finally:
            if not reading.done():  # the old code waits for a writer: give it one
                os.close(os.open(run_dir / name, os.O_WRONLY | os.O_NONBLOCK))
    assert name in refused.value.detail
    assert ("FIFO" if kind == "fifo" else "symbolic link") in refused.value.detail


def test_records_written_by_the_server_are_read_as_before(tmp_path: Path) -> None:
    (tmp_path / entry.STARTED_FILE).write_text("started_at=1.5\nvisible=0,1\n")
    (tmp_path / ray_executor.LIMITS_FILE).write_text('{"max_runtime_s": 30}')
    (tmp_path / slurm_executor.DEVICES_FILE).write_text("[2, 3]")
    assert entry.read_started(tmp_path) == {"started_at": "1.5", "visible": "0,1"}
    assert ray_executor._read_limits(tmp_path) == {"max_runtime_s": 30}
    assert slurm_executor._recorded_devices(tmp_path) == [2, 3]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert entry.read_started(empty) is None and slurm_executor._recorded_devices(empty) is None
    assert ray_executor._read_limits(empty) == {}
