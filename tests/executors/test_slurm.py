"""The Slurm executor against a real Slurm: controller, slurmdbd and three slurmd on this host.

The session starts its own cluster with `scripts/slurm-dev.sh` (in `.slurm-dev/test`, apart from
a developer's cluster in `.slurm-dev`) and stops it at the end. Nothing is mocked: jobs run, GPUs
are gres character devices, a node fails because its slurmd is SIGKILLed. Jobs in images run
there in podman (aicc/testing/images.py `check_engine`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from data_support import ChunkServer
from sqlalchemy import select

from aicc.core.topology import NodeState
from aicc.executors import container as containers
from aicc.executors import rundir, sandbox
from aicc.executors.base import ReplicaLaunch, ReplicaState
from aicc.executors.datacache import DataCache
from aicc.executors.slurm import SlurmCommands, SlurmExecutor
from aicc.services.common import new_id
from aicc.store.tables.jobs import ReplicaRow
from aicc.testing import checkpoints
from aicc.testing.images import check_engine, engine_images, podman_or_skip
from aicc.testing.polling import until_phase, wait
from aicc.testing.slurm import SlurmDev

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLUSTER_DIR = REPO / ".slurm-dev" / "test"
# A job starts as soon as it is submitted (not up to 3 s later, Slurm's batching delay), and a
# lost node is DOWN after about 14 s instead of 26 (each ping of it waits out MessageTimeout).
DEV = SlurmDev(
    CLUSTER_DIR,
    slurmd_timeout_s=5,
    message_timeout_s=5,
    scheduler_parameters="batch_sched_delay=0",
)


def slurm_dev(command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return DEV.run(command, timeout=timeout)


@contextlib.contextmanager
def exclusive(path: Path, timeout: float = 600) -> Iterator[None]:
    """Hold an exclusive lock on `path`: two test sessions in one checkout take turns with the
    cluster instead of one stopping it under the other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test session held {path} for {timeout:.0f} s")
                time.sleep(0.5)
        yield


@pytest.fixture(scope="session")
def cluster() -> Iterator[SlurmCommands]:
    with exclusive(CLUSTER_DIR.with_name("test.lock")):
        try:  # a start that fails half-way (or times out) stops what it started too
            started = slurm_dev("start")
            if started.returncode == 4:  # Slurm cannot be installed here (no root, apt refused)
                reason = f"SLURM IS NOT AVAILABLE, Slurm tests NOT RUN: {started.stderr.strip()}"
                warnings.warn(reason, stacklevel=1)
                pytest.skip(reason)
            if started.returncode != 0:
                pytest.fail(f"slurm-dev.sh start failed:\n{started.stdout}\n{started.stderr}")
            commands = SlurmCommands(slurm_conf=CLUSTER_DIR / "etc" / "slurm.conf")
            for state in ("PENDING", "RUNNING"):  # a clean slate after an earlier session's crash
                commands.run("scancel", f"--state={state}")
            yield commands
        finally:
            stopped = slurm_dev("stop")
        assert stopped.returncode == 0, stopped.stderr


@pytest.fixture(scope="module")
def executor(cluster: SlurmCommands, tmp_path_factory: pytest.TempPathFactory) -> SlurmExecutor:
    return SlurmExecutor(
        base_dir=tmp_path_factory.mktemp("slurm-runs"),
        commands=cluster,
        simulated=True,
        grace_s=1.0,
        unavailable_grace_s=0.0,
        queue_max_age_s=0.0,
        sandbox=sandbox.detect("bwrap"),  # as a server runs them
    )


def replica(command: str, node: str, *, gpus: int = 0, **kw: object) -> ReplicaLaunch:
    fields: dict[str, object] = {
        "job_id": new_id("job"),
        "attempt": 0,
        "index": 0,
        "argv": ["/bin/sh", "-c", command],
        "env": {"CUDA_VISIBLE_DEVICES": ",".join(map(str, range(gpus)))},
        "node": node,
        "device_indices": tuple(range(gpus)),
        "cpu_milli": 1000,
        "memory_mib": 256,
        "max_runtime_s": None,
        **kw,
    }
    return ReplicaLaunch(**fields)  # type: ignore[arg-type]


def slurm_id(handle: str) -> str:
    return handle.split(":")[1]


TRAIN = REPO / "examples" / "train-mlp" / "train.py"
LOSS = re.compile(r"^epoch \d+ loss ([0-9.]+)$", re.MULTILINE)

# Run by each replica of the gang before it trains: what it reaches of the node (the API's port,
# the gang link's hub) and where it meets its gang.
_REACH = """
import os, socket, sys
rank = os.environ["RANK"]
hub = os.environ["AICC_GANG_LINK_PORT"]  # node rank 0's relay, on the node (127.0.0.1 here)
for what, host, port in (("API", "127.0.0.1", sys.argv[1]), ("hub", "127.0.0.1", hub)):
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        print(f"rank {rank} reached the node's {what}", flush=True)
    except OSError as exc:
        print(f"rank {rank} node's {what}: {type(exc).__name__}", flush=True)
print(f"rank {rank} meets at", os.environ["MASTER_ADDR"], os.environ["GLOO_SOCKET_IFNAME"])
"""


def test_a_job_of_tenant_b_on_slurm_reads_nothing_of_the_home_or_tenant_a(
    cluster: SlurmCommands, tmp_path: Path
) -> None:
    """Through `aicc serve --executor slurm`: B's Slurm job finds neither the admin token, the
    database, A's run directory (its env.sh is gone), outputs, workdir or upload, nor the
    server's /proc; A's secret is nowhere under the home once A runs. It comes first, before
    `runtime_limited` starts: A and B ask half a CPU each, which AICC may place together where
    one CPU is free, but Slurm gives each a whole one, so a CPU of n1 held by `runtime_limited`
    would keep B waiting in Slurm's queue behind A."""
    from aicc.testing import isolation
    from aicc.testing.jobs import wait_state
    from aicc.testing.servers import in_process

    home = tmp_path / "home"
    slurm = {"conf": cluster.slurm_conf, "simulated_gpus": True}
    with in_process(home, executor="slurm", slurm=slurm, sandbox="bwrap") as (api, _state):
        breach = isolation.attempt(api, home, tmp_path / "scratch", runs="slurm-runs")
        try:
            assert breach.job_b["state"] == "succeeded", breach.job_b
            lines = breach.log.splitlines()
            for what, path in breach.targets.items():
                if what != "runs":
                    assert f"DENIED {path}" in lines, (what, breach.log)
            runs = next(ln for ln in lines if ln.startswith(f"READ {home / 'slurm-runs'}:"))
            assert runs.split(": ", 1)[1] == breach.job_b["id"], breach.log
            assert "wrote own output" in lines, breach.log
            for what, text in breach.forbidden.items():
                assert text not in breach.log, (what, breach.log)
            assert isolation.files_holding(home, breach.secret) == []
            assert isolation.open_to_others([home, home / "aicc.db", home / "admin.token"]) == []
        finally:
            # A's job sleeps on: ended here, by this server's reconciler, before the server
            # stops. Left running, it held a CPU of a node for the rest of the module, and a
            # later job placed there by another server waited a minute in Slurm's queue.
            api.post(f"/api/v1/jobs/{breach.job_a['id']}/cancel")
            with contextlib.suppress(AssertionError):  # the test's own failure comes first
                wait_state(api, breach.job_a["id"], {"cancelled", "succeeded", "failed"})


@pytest.fixture(scope="module")
def runtime_limited(executor: SlurmExecutor) -> str:
    """A replica on n1 that outlives its one-minute limit. Slurm counts limits in whole minutes
    and checks them every 30 s, so it is started early (by the gang's test, the second) and
    checked after most others. Running before that test's server starts: the server counts
    the CPU it holds as taken (`used_capacity`) from its first discovery."""
    handle = executor.launch(replica("echo started; sleep 600", "n1", max_runtime_s=5))
    until_phase(executor, handle, "running")
    return handle


def test_a_two_replica_ddp_gang_through_aicc_on_two_slurm_nodes(
    cluster: SlurmCommands, runtime_limited: str, tmp_path: Path
) -> None:
    """Each replica is a Slurm job on its own node with torchrun's variables, in the sandbox
    and its node's namespace of the job; gloo meets on the gang link (issue 35), at node rank
    0's `gang0`, while neither rank reaches the API's port on the node nor the link's own hub
    port; both ranks' logs are readable per replica; and the example's DDP training ends at the
    same loss as one replica trained alone. It starts `runtime_limited` (its limit runs out
    meanwhile), which holds a CPU of n1: the gang takes n2 and n3 whole, the single replica
    the CPU left on n1."""
    import httpx

    from aicc.sdk.workdir import pack_workdir
    from aicc.testing.jobs import submit, wait_state
    from aicc.testing.servers import over_http

    slurm = {"conf": cluster.slurm_conf, "simulated_gpus": True}
    home = tmp_path / "home"
    with (
        over_http(home, executor="slurm", slurm=slurm, sandbox="bwrap") as (url, token, _state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        api_port = url.rpartition(":")[2]
        packed = pack_workdir(TRAIN.parent)  # the job sees its workdir, not the repository
        upload = api.post(
            "/api/v1/workdirs",
            content=packed.path.read_bytes(),
            headers={"X-Content-SHA256": packed.sha256},
        )
        assert upload.status_code in (200, 201), upload.text
        train = {  # the server's python, with torch
            "command": ["python", "train.py", "--epochs", "3", "--samples", "1024"],
            "workdir_sha256": packed.sha256,
        }
        reach = 'python -c "$0" "$1" && exec python train.py --epochs 3 --samples 1024'
        gang = {
            **train,
            "command": ["sh", "-c", reach, _REACH, api_port],
            "replicas": 2,
            "resources": {"cpu": 2, "memory": "512MiB"},  # a whole dev node each
        }
        alone = {**train, "resources": {"cpu": 1, "memory": "512MiB"}}  # the third node
        jobs = [submit(api, gang)["id"], submit(api, alone)["id"]]
        done, single = (wait_state(api, j, {"succeeded", "failed"}, timeout=180) for j in jobs)

        def said(job: dict[str, Any]) -> str:  # why a job failed: its reason and every stderr
            ranks = range(len(job.get("replicas") or [1]))
            errs = [
                api.get(f"/api/v1/jobs/{job['id']}/logs", params={"replica": r, "stream": "stderr"})
                for r in ranks
            ]
            return f"{job.get('reason')}: {job.get('message')}\n" + "\n".join(e.text for e in errs)

        assert done["state"] == "succeeded", said(done)
        assert single["state"] == "succeeded", said(single)
        nodes = {r["node"] for r in done["replicas"]}
        assert len(nodes) == 2, done["replicas"]
        logs = [
            api.get(f"/api/v1/jobs/{done['id']}/logs", params={"replica": rank}).text
            for rank in (0, 1)
        ]
        for rank, log in enumerate(logs):
            assert f"rank {rank} of 2: 64 of every 128 samples" in log, log
            assert f"rank {rank} node's API: ConnectionRefusedError" in log, log
            assert f"rank {rank} node's hub: ConnectionRefusedError" in log, log
            assert f"rank {rank} meets at 10.254.0.1 gang0" in log, log
        two = float(LOSS.findall(logs[0])[-1])
        one = float(LOSS.findall(api.get(f"/api/v1/jobs/{single['id']}/logs").text)[-1])
        assert two == pytest.approx(one, rel=1e-3), (one, two)


def test_a_mig_slice_is_refused_before_anything_is_submitted(tmp_path: Path) -> None:
    executor = SlurmExecutor(base_dir=tmp_path, commands=SlurmCommands(bin_dir=tmp_path))
    mig = replica("true", "n1", gpus=1, mig_profile="1g.10gb")
    with pytest.raises(ValueError, match=r"cannot run a MIG slice \(1g.10gb\).*whole GPUs"):
        executor.launch(mig)
    assert not any(tmp_path.iterdir())


def test_discover_sees_nodes_and_gpus(executor: SlurmExecutor, runtime_limited: str) -> None:
    nodes = {n.name: n for n in executor.discover()}
    assert sorted(nodes) == ["n1", "n2", "n3"]
    for node in nodes.values():
        assert node.state is NodeState.READY and node.executor == "slurm"
        assert node.cpu_milli == 2000 and node.memory_mib == 2048
        assert [d.index for d in node.devices] == [0, 1]
        assert all(d.simulated and d.model == "gpu" for d in node.devices)
        assert node.labels["pool"] == "debug" and node.labels["cluster"] == "aiccdev"
    assert "simulated" in executor.note


def test_a_job_through_aicc_runs_on_slurm_where_aicc_placed_it(
    cluster: SlurmCommands, tmp_path: Path
) -> None:
    """`aicc serve --executor slurm`: nodes come from the controller, a job submitted to AICC
    runs as a Slurm job on the node AICC chose, the devices recorded are the ones Slurm gave
    (its CUDA_VISIBLE_DEVICES), logs come back, and sacct knows the job."""
    from aicc.testing.jobs import submit, wait_state
    from aicc.testing.servers import in_process

    slurm = {"conf": cluster.slurm_conf, "simulated_gpus": True}
    with in_process(tmp_path / "home", executor="slurm", slurm=slurm) as (api, state):
        found = {n["name"]: n for n in api.get("/api/v1/nodes").json()["items"]}
        assert {"n1", "n2", "n3"} <= set(found), found
        assert found["n1"]["simulated"] and len(found["n1"]["devices"]) == 2
        spec = {
            "command": "echo node=$SLURMD_NODENAME gpus=$CUDA_VISIBLE_DEVICES",
            "resources": {"cpu": 1, "memory": "256MiB", "accelerator": {"count": 1}},
        }
        done = wait_state(api, submit(api, spec)["id"], {"succeeded", "failed"}, timeout=120)
        assert done["state"] == "succeeded", done
        rep = done["replicas"][0]
        log = api.get(f"/api/v1/jobs/{done['id']}/logs").text
        assert f"node={rep['node']}" in log
        assert f"gpus={','.join(str(d['index']) for d in rep['devices'])}" in log
        with state.db.reader() as session:
            handle = session.scalar(
                select(ReplicaRow.handle).where(ReplicaRow.job_id == done["id"])
            )
        assert handle is not None
        job = slurm_id(handle)

        # By id: slurmdbd writes the record a moment after the job ends, and may file it under
        # the name "allocation" (see the next test).
        def accounted() -> str | None:
            rows = cluster.run("sacct", "-j", job, "-X", "-n", "-P", "-o", "JobID,State")
            return rows if "COMPLETED" in rows else None

        assert wait("sacct to show the job", accounted).split("|")[0] == job


def test_pinned_replica_gets_slurm_devices_and_logs(
    executor: SlurmExecutor, cluster: SlurmCommands, tmp_path: Path
) -> None:
    """A user's own job holds GPU 0 of n2, so Slurm gives AICC's replica GPU 1 there: the index
    AICC records is Slurm's, and is what the job sees in CUDA_VISIBLE_DEVICES."""
    blocker = cluster.run(
        "sbatch", "--parsable", "--nodelist=n2", "--gres=gpu:1", "--mem=100M", "-J", "user-job",
        "-o", "/dev/null", "--wrap", "sleep 120",
    ).strip()  # fmt: skip
    try:
        used = wait("the user's job in used_capacity", lambda: executor.used_capacity().get("n2"))
        assert (used.cpu_milli, used.memory_mib, used.gpus) == (1000, 100, 1)
        handle = executor.launch(
            replica(
                "echo node=$SLURMD_NODENAME cuda=$CUDA_VISIBLE_DEVICES; sleep 1; echo done",
                "n2",
                gpus=1,
            )
        )
        until_phase(executor, handle, "running")
        assert executor.used_capacity()["n2"] == used  # AICC's own jobs are not counted
        wait("the log while running", lambda: "node=" in executor.logs(handle))
        state = until_phase(executor, handle, "exited")
        assert (state.exit_code, state.reason) == (0, "succeeded"), state
        assert state.started_at and state.ended_at and state.started_at <= state.ended_at
    finally:
        cluster.run("scancel", blocker)
    out = executor.logs(handle)
    assert "node=n2 " in out and out.endswith("done\n")
    assert executor.device_indices(handle) == [1]
    assert "cuda=1\n" in out
    assert executor.logs(handle, tail_bytes=5) == "done\n"
    assert executor.log_size(handle) == len(out.encode())

    # Accounting keys on the job id. The name is not asserted: when slurmdbd hears of a job's
    # first step before its start record, it files the job under the placeholder "allocation".
    def accounted() -> str | None:
        rows = cluster.run("sacct", "-j", slurm_id(handle), "-X", "-n", "-P", "-o", "JobID,State")
        return rows if "COMPLETED" in rows else None

    assert wait("sacct to show the job", accounted).split("|")[0] == slurm_id(handle)


def test_exit_code_and_stderr_kept(executor: SlurmExecutor) -> None:
    handle = executor.launch(replica("echo oops >&2; exit 3", "n3"))
    state = until_phase(executor, handle, "exited")
    assert (state.phase, state.exit_code, state.reason) == ("exited", 3, "exit_code")
    assert executor.logs(handle, "stderr") == "oops\n"
    # Once slurmctld forgets the job (MinJobAge), its fate comes from sacct.
    job_id = int(slurm_id(handle))

    def accounted() -> ReplicaState | None:
        state = executor._finished(job_id, cancel_requested=False)
        return state if state.phase == "exited" else None

    gone = wait("sacct's record", accounted)
    assert (gone.phase, gone.exit_code, gone.reason) == ("exited", 3, "exit_code")


def test_secrets_stay_off_command_lines_and_slurm_devices_are_not_overridden(
    executor: SlurmExecutor,
) -> None:
    env = {"TOKEN": "s3 'x", "CUDA_VISIBLE_DEVICES": "7"}  # AICC's value, which Slurm's beats
    launch = replica('printf "%s|%s" "$TOKEN" "$CUDA_VISIBLE_DEVICES"', "n1", gpus=2, env=env)
    handle = executor.launch(launch)
    run_dir = SlurmExecutor.parse_handle(handle)[1]
    assert "s3" not in (run_dir / "job.sh").read_text()
    until_phase(executor, handle, "exited")
    assert executor.logs(handle) == "s3 'x|0,1"
    assert not (run_dir / "env.sh").exists()  # read once by the job, then removed


def test_launch_is_idempotent(executor: SlurmExecutor, cluster: SlurmCommands) -> None:
    launch = replica("sleep 30", "n3")
    handle = executor.launch(launch)
    assert executor.launch(launch) == handle
    # A crash between sbatch and recording the job id: the queued job is found by its name.
    (SlurmExecutor.parse_handle(handle)[1] / rundir.LAUNCHED_FILE).unlink()
    assert executor.launch(launch) == handle
    names = cluster.run("squeue", "-h", "-t", "all", "-o", "%j").split()
    assert names.count(SlurmExecutor.job_name(launch)) == 1
    executor.cancel(handle)


def test_cancel_stops_the_replica(executor: SlurmExecutor) -> None:
    handle = executor.launch(replica("echo up; sleep 120", "n3"))
    until_phase(executor, handle, "running")
    executor.cancel(handle)
    executor.cancel(handle)  # idempotent
    state = until_phase(executor, handle, "exited", timeout=30)
    assert state.reason == "cancelled"


def test_cancel_kills_a_replica_that_ignores_sigterm(executor: SlurmExecutor) -> None:
    handle = executor.launch(replica("trap '' TERM; echo up; sleep 120 & wait; wait", "n3"))
    until_phase(executor, handle, "running")
    wait("the trap to be set", lambda: "up" in executor.logs(handle))
    executor.cancel(handle)
    time.sleep(1.5)  # the grace (1 s) passes; the next cancel or poll ends the job
    assert executor.poll(handle).phase == "running"
    state = until_phase(executor, handle, "exited", timeout=30)  # KillWait is 5 s
    assert state.reason == "cancelled"


def test_drained_node_is_cordoned_and_pending_replica_withdrawn(
    executor: SlurmExecutor, cluster: SlurmCommands
) -> None:
    cluster.run("scontrol", "update", "nodename=n3", "state=drain", "reason=disk check")
    try:
        node = next(n for n in executor.discover() if n.name == "n3")
        assert node.state is NodeState.CORDONED
        assert executor.node_reasons["n3"].startswith("disk check")
        handle = executor.launch(replica("true", "n3"))
        state = until_phase(executor, handle, "lost", "exited")
        assert state.reason == "node_lost" and "ReqNodeNotAvail" in state.message
    finally:
        cluster.run("scontrol", "update", "nodename=n3", "state=resume")


def test_killed_slurmd_makes_node_down_and_replica_lost(executor: SlurmExecutor) -> None:
    handle = executor.launch(replica("echo up; sleep 300", "n2"))
    until_phase(executor, handle, "running")
    pid = int((CLUSTER_DIR / "run" / "slurmd-n2.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    try:
        wait(
            "n2 to be down",
            lambda: any(n.name == "n2" and n.state is NodeState.DOWN for n in executor.discover()),
            timeout=90,
        )
        assert executor.node_reasons["n2"]
        state = until_phase(executor, handle, "exited", "lost", timeout=30)
        assert (state.phase, state.reason) == ("lost", "node_lost")
    finally:
        restarted = slurm_dev("start")  # its slurmd comes back; the orphaned step is killed
        assert restarted.returncode == 0, restarted.stderr
    wait(
        "n2 to be back",
        lambda: any(n.name == "n2" and n.state is NodeState.READY for n in executor.discover()),
    )


def test_runtime_limit_is_runtime_exceeded(executor: SlurmExecutor, runtime_limited: str) -> None:
    state = until_phase(executor, runtime_limited, "exited", "lost", timeout=150)
    assert (state.phase, state.reason) == ("exited", "runtime_exceeded"), state
    assert executor.logs(runtime_limited) == "started\n"


RESUMED = re.compile(r"^resumed at step (\d+)$", re.MULTILINE)


def test_a_job_that_loses_its_node_resumes_from_its_checkpoint_on_another_node_through_aicc(
    cluster: SlurmCommands, tmp_path: Path
) -> None:
    """max_retries: 1, and the node dies under a checkpointing job (its slurmd and job steps
    killed, as a machine is lost): the job is requeued on another node, the next attempt
    resumes from the checkpoint the first one saved (kept across attempts in the run
    directories' shared file system), does the remaining steps once and succeeds; each attempt
    is billed once, for its own run; the dead node shows as down in AICC."""
    from aicc.store.db import database_url
    from aicc.testing.chaos_checks import usage_problems
    from aicc.testing.jobs import submit, wait_state
    from aicc.testing.servers import in_process

    home, total = tmp_path / "home", 20
    slurm = {"conf": cluster.slurm_conf, "simulated_gpus": True}
    with in_process(home, executor="slurm", slurm=slurm) as (api, _state):
        spec = {
            "command": checkpoints.command(total, 0.5, resumed_step_s=0.1),
            "checkpoint_dir": "ckpt",
            "max_retries": 1,
            "resources": {"cpu": 1, "memory": "256MiB"},
        }
        job = wait_state(api, submit(api, spec)["id"], {"running"}, timeout=60)
        dead = job["replicas"][0]["node"]
        kept = home / "slurm-runs" / job["id"]

        def progress() -> int | None:
            step = checkpoints.saved_step(kept / "checkpoint")
            return step if step >= 3 else None

        saved = wait("the checkpoint at step 3", progress)
        DEV.kill_node(dead)
        try:
            done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=180)
            assert done["state"] == "succeeded", done
            assert done["attempt"] == 1 and done["replicas"][0]["node"] != dead
            log = api.get(f"/api/v1/jobs/{job['id']}/logs").text
            resumed = [int(k) for k in RESUMED.findall(log)]
            assert len(resumed) == 1 and resumed[0] >= saved, log
            assert log.endswith(f"finished at step {total}\n"), log
            steps = checkpoints.Progress.read(kept / "outputs")
            assert steps.problems(total, resumed[0]) == [], steps
            assert steps.steps(0)[:saved] == list(range(1, saved + 1)), steps
            states = {n["name"]: n["state"] for n in api.get("/api/v1/nodes").json()["items"]}
            assert states[dead] == "down", states
            usage = usage_problems(database_url(None, home), {job["id"]}, timeout=30)
            assert not usage.double_billed and not usage.unmetered, usage
            assert len(usage.billed) == 2, usage  # attempt 0 until its node died, and attempt 1
        finally:
            restarted = slurm_dev("start")
            assert restarted.returncode == 0, restarted.stderr


DATA_PROBE = (
    'cat "$AICC_DATA_DIR/corpus/a.txt"; '
    '(echo x > "$AICC_DATA_DIR/corpus/a.txt") 2>/dev/null && echo WROTE || echo DENIED; '
    'touch "$AICC_DATA_DIR/corpus/new" 2>/dev/null && echo MADE || echo DENIED'
)


def test_a_replica_on_slurm_reads_its_data_set_read_only(
    cluster: SlurmCommands, tmp_path: Path
) -> None:
    """The spec's data sets are mounted for Slurm replicas too: from the node data cache, at
    $AICC_DATA_DIR/NAME, read-only in the sandbox."""
    source = ChunkServer(tmp_path / "store")
    mount = source.push("corpus-1", {"a.txt": b"slurm data\n"})
    ex = SlurmExecutor(
        base_dir=tmp_path / "runs",
        commands=cluster,
        simulated=True,
        grace_s=1.0,
        unavailable_grace_s=0.0,
        queue_max_age_s=0.0,
        sandbox=sandbox.detect("bwrap"),
        data=DataCache(tmp_path / "cache", 64 * 1024 * 1024, source),
    )
    handle = ex.launch(replica(DATA_PROBE, "n2", datasets=(mount,)))
    state = until_phase(ex, handle, "exited", timeout=120)
    log = ex.logs(handle)
    assert state.reason == "succeeded", (state, log, ex.logs(handle, "stderr"))
    assert log.splitlines() == ["slurm data", "DENIED", "DENIED"], log
    assert source.served == 1


_MEET = """
import os, socket, sys, time
rank, port = int(os.environ["RANK"]), int(os.environ["MASTER_PORT"])
outside = int(sys.argv[1])
try:
    socket.create_connection(("127.0.0.1", outside), timeout=2).close()
    print("reached the node's loopback")
except OSError:
    print("node loopback cut")
if rank == 0:
    with socket.create_server((os.environ["MASTER_ADDR"], port)) as server:
        server.settimeout(60)
        peer, _ = server.accept()
        print("met", peer.recv(16).decode())
        peer.close()
else:
    for _ in range(600):
        try:
            with socket.create_connection((os.environ["MASTER_ADDR"], port), timeout=2) as c:
                c.sendall(b"rank1")
                break
        except OSError:
            time.sleep(0.1)
    print("met rank0")
"""


def test_a_gang_on_one_slurm_node_meets_in_its_own_network(executor: SlurmExecutor) -> None:
    """A two-replica gang that Slurm runs on one node shares the job's own network namespace
    there (issue 35): its replicas meet on 127.0.0.1 (as the rendezvous says for one node), and
    neither reaches a port of the node's loopback, where the control plane listens."""
    import socket
    import sys

    listener = socket.create_server(("127.0.0.1", 0))
    outside = listener.getsockname()[1]
    job_id, port = new_id("job"), 29500 + os.getpid() % 1000
    handles = []
    try:
        for rank in (0, 1):
            env = {"WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank)}
            env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "NODE_RANK": "0"}
            env["AICC_GANG_NODES"] = "1"  # as the rendezvous says of a gang on one node
            launch = replica("", "n3", job_id=job_id, index=rank, env=env)
            argv = [sys.executable, "-c", _MEET, str(outside)]  # the sandbox hides /tmp
            handles.append(executor.launch(dataclasses.replace(launch, argv=argv)))
        states = [until_phase(executor, h, "exited", timeout=120) for h in handles]
        logs = [executor.logs(h) + executor.logs(h, "stderr") for h in handles]
        for state, log in zip(states, logs, strict=True):
            assert (state.exit_code, state.reason) == (0, "succeeded"), log
            assert "node loopback cut" in log, log
        assert "met rank1" in logs[0] and "met rank0" in logs[1], logs
    finally:
        listener.close()


PEEK_TOKEN = (
    'for f in "${AICC_OUTPUT_DIR%/outputs}"/[0-9]*/[0-9]*/service/token; do '
    'cat "$f" 2>/dev/null && echo "READ $f" || echo "DENIED $f"; done; '
    'ls "${AICC_OUTPUT_DIR%/outputs}" 2>&1 | head -3; exec sleep 300'
)


def test_a_sandboxed_replica_on_slurm_answers_the_gateway_alone(
    cluster: SlurmCommands, tmp_path: Path
) -> None:
    """Issue 35 ("Replicas answer anyone on the machine"), on Slurm, where a replica listens at
    its node's address: the deployment becomes ready (the deployments loop's probe carries the
    replica's token) and the gateway's chat answers 200, while a process of the node calling
    HOST:PORT directly, with no header or a wrong one, gets 403 and nothing of the replica. The
    token is 0600 in a 0700 directory of the run directory that a job does not see (a service
    job looking for it finds nothing), no API answer and no repr shows it, and a token that
    cannot be read makes the replica unreachable (neither running nor ready), never open."""
    import stat

    import httpx

    from aicc.executors import netns, replicaforward
    from aicc.services.jobs import endpoints
    from aicc.testing.deployments import deploy
    from aicc.testing.jobs import submit
    from aicc.testing.servers import over_http

    slurm = {"conf": cluster.slurm_conf, "simulated_gpus": True}
    home, ours = tmp_path / "home", []
    with (
        over_http(home, executor="slurm", slurm=slurm, sandbox="bwrap") as (url, admin, state),
        contextlib.ExitStack() as stack,
    ):
        stack.callback(_scancel_ours, cluster, ours)  # Slurm jobs outlive the server
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=30)
        chat = deploy(api, "chat", timeout=180)
        ours += chat.jobs
        key = api.post("/api/v1/keys", json={"name": "app"}).json()["secret"]
        body = {"model": "chat", "messages": [{"role": "user", "content": "say hello to me"}]}

        def call() -> httpx.Response:
            bearer = {"Authorization": f"Bearer {key}"}
            return httpx.post(f"{url}/v1/chat/completions", json=body, headers=bearer, timeout=60)

        answer = call()
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"].startswith("hello from")
        with state.db.reader() as session:
            (found,) = [e for e in endpoints.of_job(session, chat.jobs[0]) if e.running]
            handle = session.scalar(
                select(ReplicaRow.handle).where(ReplicaRow.job_id == chat.jobs[0])
            )
        assert found.socket is None and found.token and found.url.startswith("http://127.0.0.1:")
        assert found.token not in repr(found)
        for headers in ({}, {replicaforward.TOKEN_HEADER: "0" * 64}):
            direct = httpx.post(f"{found.url}/v1/chat/completions", json=body, headers=headers)
            assert direct.status_code == 403, direct.text
            assert "hello" not in direct.text and "choices" not in direct.text
        with_token = httpx.get(f"{found.url}/health", headers=found.headers)
        assert with_token.status_code == 200  # the same port, with the token: the replica
        shown = [api.get(f"/api/v1/jobs/{chat.jobs[0]}"), api.get("/api/v1/deployments/chat")]
        assert all(s.status_code == 200 and found.token not in s.text for s in shown)

        token = netns.service_token(SlurmExecutor.parse_handle(str(handle))[1])
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700
        peek = submit(api, {"kind": "service", "command": PEEK_TOKEN, "resources": {"cpu": 1}})
        ours.append(peek["id"])

        def peeked() -> str | None:
            got = api.get(f"/api/v1/jobs/{peek['id']}/logs")
            return got.text if got.status_code == 200 and "service/token" in got.text else None

        log = wait("the peeking job's log", peeked, timeout=120)
        assert "DENIED" in log and "READ" not in log and found.token not in log, log
        api.post(f"/api/v1/jobs/{peek['id']}/cancel")

        hidden = token.with_name("moved")
        token.rename(hidden)  # a token the server cannot read: the replica is not routed to
        try:
            with state.db.reader() as session:
                (gone,) = endpoints.of_job(session, chat.jobs[0])
            assert not gone.running and not gone.ready and gone.token is None
        finally:
            hidden.rename(token)


def _scancel_ours(cluster: SlurmCommands, job_ids: list[str]) -> None:
    """Cancel the Slurm jobs of these AICC jobs (every attempt and replica), whatever became of
    the server."""
    from aicc.executors.slurm.executor import NAME_PREFIX

    names = cluster.run("squeue", "-h", "-o", "%j").split()
    for name in names:
        if any(name.startswith(f"{NAME_PREFIX}{job_id}-") for job_id in job_ids):
            cluster.run("scancel", f"--name={name}")


def test_jobs_in_images_on_slurm(
    cluster: SlurmCommands,
    tmp_path: Path,
) -> None:
    box = podman_or_skip()
    executor = SlurmExecutor(
        base_dir=tmp_path / "runs",
        commands=cluster,
        simulated=True,
        grace_s=1.0,
        unavailable_grace_s=0.0,
        queue_max_age_s=0.0,
        sandbox=sandbox.detect("bwrap"),
        container=lambda: containers.detected("auto", ()),
    )
    nodes = [n.name for n in executor.discover()]
    with engine_images(box.podman, tmp_path) as made:
        check_engine(executor, nodes, box.podman, made)
