"""The local executor through the shared base (issue 17): what rundir.py does for every
run-directory engine, seen on real processes: one launch per attempt whatever the calls, the
job's outputs and checkpoints in the environment, a cancel that is recorded and obeyed, and a
purge that keeps outputs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from aicc.executors import cancel
from aicc.executors.base import ReplicaLaunch
from aicc.executors.local.executor import LocalExecutor
from aicc.executors.serverroute import Route
from aicc.services.common import new_id
from aicc.store.blobs import BlobStore
from aicc.testing.jobs import tar_gz
from aicc.testing.polling import until_phase, wait


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[LocalExecutor]:
    local = LocalExecutor(home=tmp_path / "home", blobs=BlobStore(tmp_path / "blobs"), grace_s=1)
    yield local
    for run in (tmp_path / "home" / "runs").glob("*/[0-9]*/[0-9]*"):
        local.cancel(str(run))  # never leave a sleeping replica behind


def replica(command: str, **kw: object) -> ReplicaLaunch:
    fields: dict[str, object] = {
        "job_id": new_id("job"),
        "attempt": 0,
        "index": 0,
        "argv": ["/bin/sh", "-c", command],
        "env": {"GREETING": "hello"},
        "node": "local",
        "device_indices": (),
        "cpu_milli": 100,
        "memory_mib": 256,
        "max_runtime_s": None,
        **kw,
    }
    return ReplicaLaunch(**fields)  # type: ignore[arg-type]


def test_a_replica_runs_once_in_its_working_copy(executor: LocalExecutor, tmp_path: Path) -> None:
    upload = io.BytesIO(tar_gz({"train.sh": b"echo $GREETING from $(pwd)\n"}))
    digest, _ = BlobStore(tmp_path / "blobs").put(upload, max_bytes=1 << 20)
    launch = replica(
        'sh train.sh; echo "$AICC_OUTPUT_DIR"; echo kept > "$AICC_OUTPUT_DIR/result"; '
        "echo ran >> ../ran",
        workdir_sha256=digest,
    )
    handle = executor.launch(launch)
    assert executor.launch(launch) == handle  # a second launch finds the first
    state = until_phase(executor, handle, "exited")
    assert executor.launch(launch) == handle and state.reason == "succeeded", state
    greeting, outputs = executor.logs(handle).splitlines()
    assert greeting == f"hello from {Path(handle) / 'work'}"
    assert Path(outputs) == executor.outputs_dir(launch.job_id) == executor.outputs_dir("", handle)
    assert (Path(handle) / "ran").read_text() == "ran\n"
    assert executor.logs(handle, tail_bytes=0) == ""

    executor.purge(launch.job_id, logs=False)
    assert not (Path(handle) / "work").exists() and executor.logs(handle)
    executor.purge(launch.job_id, logs=True)
    assert not Path(handle).exists() and (Path(outputs) / "result").read_text() == "kept\n"


def test_a_cancel_is_recorded_and_obeyed(executor: LocalExecutor) -> None:
    handle = executor.launch(replica("echo up; sleep 120"))
    wait("the replica to start", lambda: "up" in executor.logs(handle))
    executor.cancel(handle)
    first = cancel.requested(Path(handle))
    executor.cancel(handle)  # idempotent: the first request's time stands
    assert first is not None and cancel.requested(Path(handle)) == first
    state = until_phase(executor, handle, "exited", timeout=15)
    assert state.reason == "cancelled", state


def test_two_servers_launching_the_same_replicas_at_once_start_each_once(tmp_path: Path) -> None:
    """A server that lost the lease may still be launching when the new leader launches the
    same replica (acting is outside the fenced transaction; benchmarks/chaos.py found it): both
    must get the one handle, and the replica must run once, not fail on the other's half-made
    working copy."""
    import threading

    blobs = BlobStore(tmp_path / "blobs")
    files = {f"src/f{n}.txt": b"x" * 2000 for n in range(300)}  # a copy that takes a moment
    digest, _ = blobs.put(io.BytesIO(tar_gz(files)), max_bytes=1 << 24)
    servers = [LocalExecutor(home=tmp_path / "home", blobs=blobs, grace_s=1) for _ in range(2)]
    launches = [replica("echo ran >> ../ran", workdir_sha256=digest) for _ in range(6)]
    handles: dict[tuple[int, int], str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(servers) * len(launches))

    def launch(server: int, n: int) -> None:
        start.wait()
        try:
            handles[server, n] = servers[server].launch(launches[n])
        except Exception as err:
            errors.append(err)

    threads = [
        threading.Thread(target=launch, args=(s, n))
        for s in range(len(servers))
        for n in range(len(launches))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for n in range(len(launches)):
        assert handles[0, n] == handles[1, n]
        state = until_phase(servers[0], handles[0, n], "exited")
        assert state.reason == "succeeded", state
        assert (Path(handles[0, n]) / "ran").read_text() == "ran\n"


def test_without_a_sandbox_a_job_is_told_the_servers_own_s3_endpoint(tmp_path: Path) -> None:
    """No namespace (no sandbox): the job is on the machine's network, so AICC_S3_ENDPOINT is
    the server's own URL; a sealed replica (`s3_route` false) is told none."""
    home = tmp_path / "home"
    route = Route(8090, home / "run" / "route" / "8090.sock", "http://127.0.0.1:8090/s3")
    local = LocalExecutor(home=home, blobs=BlobStore(tmp_path / "blobs"), grace_s=1, route=route)
    said = []
    for sealed in (False, True):
        handle = local.launch(replica('echo "[$AICC_S3_ENDPOINT]"', s3_route=not sealed))
        assert until_phase(local, handle, "exited").reason == "succeeded"
        said.append(local.logs(handle).strip())
    assert said == ["[http://127.0.0.1:8090/s3]", "[]"]
