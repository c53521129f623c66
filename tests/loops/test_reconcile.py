"""What the reconciler hands an executor at launch (loops/reconcile.py), seen by a real local
executor in a whole server."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from aicc.executors.base import ReplicaLaunch
from aicc.testing.datasets import push
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process


def test_a_replica_with_data_sets_gets_a_grant_that_reads_them(tmp_path: Path) -> None:
    with in_process(tmp_path / "home") as (api, state):
        local = state.controller.executors["local"]
        launched: list[ReplicaLaunch] = []
        real_launch = local.launch

        def recorded(replica: ReplicaLaunch) -> str:
            launched.append(replica)
            return real_launch(replica)

        local.launch = recorded  # type: ignore[method-assign]
        push(api, "corpus", {"a.txt": b"alpha\n"})
        plain = submit(api, {"command": "true"})
        job = submit(api, {"command": "sleep 60", "datasets": ["corpus"]})
        wait_state(api, job["id"], {"running"})
        wait_state(api, plain["id"], {"succeeded"})
        by_job = {r.job_id: r for r in launched}
        assert by_job[plain["id"]].data_grant is None  # no data sets, no grant
        replica = by_job[job["id"]]
        assert [(m.name, m.ref, m.bytes) for m in replica.datasets] == [("corpus", "corpus@1", 6)]
        assert replica.data_grant and replica.data_grant.startswith("aiccdata_")
        assert replica.data_grant not in repr(replica.env)
        pod = TestClient(api.app, headers={"Authorization": f"Bearer {replica.data_grant}"})
        files = pod.get(f"/api/v1/jobs/{job['id']}/data/corpus").json()["files"]
        assert [f["path"] for f in files] == ["a.txt"]
        api.post(f"/api/v1/jobs/{job['id']}/cancel")


def test_a_launch_the_engine_refuses_fails_the_job_with_the_engines_words(
    tmp_path: Path,
) -> None:
    """An executor refuses what it cannot run with a ValueError saying what to do instead
    (Executor.launch); the user reads that, not just `launch_failed`."""
    refusal = "the Slurm executor cannot give a notebook its persistent home: run it locally"
    with in_process(tmp_path / "home") as (api, state):
        local = state.controller.executors["local"]

        def refuse(replica: ReplicaLaunch) -> str:
            raise ValueError(refusal)

        local.launch = refuse  # type: ignore[method-assign]
        job = submit(api, {"command": "true"})
        failed = wait_state(api, job["id"], {"failed"})
        assert failed["reason"] == "launch_failed"
        assert failed["message"] == f"replica 0 could not be launched: {refusal}"


_FULL_DISK = """
import errno, os, sys
from pathlib import Path

from aicc.executors.base import ReplicaLaunch
from aicc.executors.local.executor import LocalExecutor
from aicc.loops.reconcile import act
from aicc.services.jobs.launches import Work
from aicc.services.common import new_id
from aicc.store.blobs import BlobStore

home = Path(sys.argv[1])
local = LocalExecutor(home=home / "aicc", blobs=BlobStore(home / "blobs"), grace_s=1)
replica = ReplicaLaunch(
    job_id=new_id("job"), attempt=0, index=0, argv=["/bin/sh", "-c", "echo up"], env={},
    node="local", device_indices=(), cpu_milli=100, memory_mib=128, max_runtime_s=None,
)
local.run_dir(replica).mkdir(parents=True)
filler = home / "filler"
fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
try:  # the disk fills up
    while True:
        os.write(fd, b"x" * 4096)
except OSError as e:
    assert e.errno == errno.ENOSPC, e
os.close(fd)
work = [Work("rep-1", replica.job_id, "local", None, cancel=False, launch=replica)]
assert act(work, {"local": local}) == {}, "a full disk failed the launch"
filler.unlink()  # room again
handle, state = act(work, {"local": local})["rep-1"]
assert handle == str(local.run_dir(replica)) and state is not None, state
assert state.reason in (None, "succeeded"), state
print("bound while full; launched once there was room")
"""


def test_a_launch_on_a_full_disk_waits_for_room_instead_of_failing_the_job(
    tmp_path: Path,
) -> None:
    """ENOSPC while launching is the machine's state: the replica stays bound and the next pass
    launches it. Before, every job bound while the disk was full failed (benchmarks/chaos.py
    --disk-fills: 52 of 60). The disk is a real one that fills: a 256 KiB tmpfs mounted in a
    user and mount namespace of the test's own (unshare, as bubblewrap uses them)."""
    import subprocess
    import sys

    script = tmp_path / "full_disk.py"
    script.write_text(_FULL_DISK)
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = (
        f'mount -t tmpfs -o size=256k tmpfs "{disk}" && exec "{sys.executable}" "{script}" "{disk}"'
    )
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "bound while full; launched once there was room"


def test_a_job_with_secrets_launches_while_others_write(tmp_path: Path) -> None:
    """The reconciler gathers its launches in a read transaction; a launch that wrote there
    (the secrets a job was given, for masking its logs) failed that transaction on SQLite
    whenever another writer committed meanwhile (a submit, say): the pass failed, and neither
    that job nor any other was launched while writes went on."""
    from itertools import count

    from sqlalchemy import select

    from aicc.services.tenancy import secrets
    from aicc.store.tables.center import SettingRow
    from aicc.store.tables.jobs import JobRow

    with in_process(tmp_path / "home") as (api, state):
        real_opened = secrets.opened
        writes = count()

        def busy(*args, **kwargs):  # type: ignore[no-untyped-def]
            with state.db.session() as session:  # another writer commits meanwhile
                session.merge(SettingRow(key="test-writer", value={"n": next(writes)}))
            return real_opened(*args, **kwargs)

        secrets.opened = busy  # type: ignore[assignment]
        try:
            assert api.put(
                "/api/v1/secrets/db-password", json={"value": "first-pass-1234"}
            ).is_success
            job = submit(api, {"command": "echo pw=$DB_PASSWORD", "secrets": ["db-password"]})
            plain = submit(api, {"command": "true"})
            assert wait_state(api, job["id"], {"succeeded", "failed"}, timeout=30)["state"] == (
                "succeeded"
            )
            assert wait_state(api, plain["id"], {"succeeded", "failed"})["state"] == "succeeded"
        finally:
            secrets.opened = real_opened  # type: ignore[assignment]
        with state.db.reader() as session:
            kept = session.scalar(select(JobRow.secrets_seen).where(JobRow.id == job["id"]))
        assert [state.sealer.open(v) for v in kept] == ["first-pass-1234"]
