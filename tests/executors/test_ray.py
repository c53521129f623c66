"""The Ray executor against a real Ray: a private one-node cluster on 127.0.0.1 with 2 CPUs and
2 declared GPUs (`aicc.testing.ray`), started once for this module and stopped at its end.
Nothing is mocked: jobs go through Ray's Jobs API, Ray picks the GPU and sets
CUDA_VISIBLE_DEVICES, and `aicc serve --executor ray` drives it end to end. Jobs in images run
there in podman (aicc/testing/images.py `check_engine`).
"""

from __future__ import annotations

import re
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from data_support import ChunkServer

from aicc.core.topology import NodeState
from aicc.executors import container as containers
from aicc.executors import rundir, sandbox
from aicc.executors.base import ReplicaLaunch
from aicc.executors.datacache import DataCache
from aicc.executors.ray import RayExecutor
from aicc.services.common import new_id
from aicc.testing import checkpoints
from aicc.testing import ray as dev_ray
from aicc.testing.images import check_engine, engine_images, podman_or_skip
from aicc.testing.polling import until_phase, wait
from aicc.testing.servers import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[dev_ray.RayCluster]:
    try:
        started = dev_ray.start(num_cpus=2, num_gpus=2)
    except dev_ray.RayNotInstalled as err:
        reason = f"RAY IS NOT AVAILABLE, Ray tests NOT RUN: {err}"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    try:
        yield started
    finally:
        started.stop()
        assert not started.processes(), "Ray processes outlived the test cluster"


@pytest.fixture(scope="module")
def executor(cluster: dev_ray.RayCluster, tmp_path_factory: pytest.TempPathFactory) -> RayExecutor:
    ex = RayExecutor(
        address=cluster.address,
        base_dir=tmp_path_factory.mktemp("ray-runs"),
        simulated=True,
        grace_s=1.0,
        timeout_s=30.0,
        sandbox=sandbox.detect("bwrap"),  # as a server runs them
    )
    ex.discover()
    return ex


@pytest.fixture(scope="module")
def node(executor: RayExecutor) -> str:
    return executor.discover()[0].name


def replica(command: str, node: str, *, gpus: int = 0, **kw: object) -> ReplicaLaunch:
    fields: dict[str, object] = {
        "job_id": new_id("job"),
        "attempt": 0,
        "index": 0,
        "argv": ["/bin/sh", "-c", command],
        # What AICC bound; Ray chooses for itself, and its choice is what the job sees.
        "env": {"CUDA_VISIBLE_DEVICES": ",".join(str(i + 1) for i in range(gpus))},
        "node": node,
        "device_indices": tuple(i + 1 for i in range(gpus)),
        "cpu_milli": 100,
        "memory_mib": 64,
        "max_runtime_s": None,
        **kw,
    }
    return ReplicaLaunch(**fields)  # type: ignore[arg-type]


def ray_job(cluster: dev_ray.RayCluster, handle: str) -> object:
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(cluster.address).get_job_info(RayExecutor.parse_handle(handle)[0])


def supervisor_resources(cluster: dev_ray.RayCluster, handle: str) -> dict[str, float]:
    """What Ray reserved for the job: its supervisor actor's resources (the entrypoint's)."""
    from ray.util.state import list_actors

    name = "_ray_internal_job_actor_" + RayExecutor.parse_handle(handle)[0]
    actors = list_actors(address=cluster.address, filters=[("name", "=", name)], detail=True)
    assert len(actors) == 1, actors
    return dict(actors[0].required_resources)


def test_discover_sees_the_node_with_two_gpus(executor: RayExecutor) -> None:
    [node] = executor.discover()
    assert node.state is NodeState.READY and node.executor == "ray"
    assert node.cpu_milli == 2000 and node.memory_mib > 0
    assert [d.index for d in node.devices] == [0, 1]
    assert all(d.simulated and d.model == "gpu" for d in node.devices)
    assert node.labels["address"] == "127.0.0.1" and node.labels["cluster"] == "ray"
    assert "2 simulated GPU(s)" in executor.note


def test_pinned_replica_gets_ray_devices_and_logs(
    executor: RayExecutor, cluster: dev_ray.RayCluster, node: str
) -> None:
    """AICC bound GPU 1; Ray gives the job the GPU it picks, the job sees it in
    CUDA_VISIBLE_DEVICES, and the index AICC records is that one."""
    launch = replica("echo cuda=$CUDA_VISIBLE_DEVICES; sleep 1; echo done", node, gpus=1)
    handle = executor.launch(launch)
    running = until_phase(executor, handle, "running", "exited")
    required = supervisor_resources(cluster, handle)
    assert required["node:127.0.0.1"] == pytest.approx(0.001) and required["GPU"] == 1, required
    wait("the log while running", lambda: "cuda=" in executor.logs(handle))
    state = until_phase(executor, handle, "exited")
    assert (state.exit_code, state.reason) == (0, "succeeded"), state
    assert state.started_at and state.ended_at and state.started_at <= state.ended_at
    out = executor.logs(handle)
    seen = out.split("cuda=")[1].split()[0]
    assert executor.device_indices(handle) == [int(seen)]
    assert running.device_indices in (None, (int(seen),))
    assert state.device_indices == (int(seen),)
    assert out.endswith("done\n")
    assert executor.logs(handle, tail_bytes=5) == "done\n"
    assert executor.logs(handle, tail_bytes=0) == ""
    assert executor.log_size(handle) == len(out.encode())


def test_exit_code_and_stderr_kept_and_secrets_stay_out_of_ray(
    executor: RayExecutor, cluster: dev_ray.RayCluster, node: str
) -> None:
    env = {"TOKEN": "s3 'x", "CUDA_VISIBLE_DEVICES": ""}
    handle = executor.launch(replica('printf "%s" "$TOKEN"; echo oops >&2; exit 3', node, env=env))
    state = until_phase(executor, handle, "exited")
    assert (state.phase, state.exit_code, state.reason) == ("exited", 3, "exit_code"), state
    assert executor.logs(handle, "stderr") == "oops\n"
    assert executor.logs(handle) == "s3 'x"
    run_dir = RayExecutor.parse_handle(handle)[1]
    assert not (run_dir / "env.sh").exists()  # read once by the job, then removed
    assert "s3" not in str(ray_job(cluster, handle))
    assert executor.device_indices(handle) is None  # a CPU replica


def test_a_replica_in_the_sandbox_sees_only_its_own_run_directory(
    executor: RayExecutor, node: str
) -> None:
    """Another job's run directory, a file beside the runs (where the home's admin token would
    be) and Ray's own processes are out of a replica's sight; its outputs are writable."""
    other = executor.launch(replica("sleep 60", node, env={"TOKEN": "other-secret"}))
    until_phase(executor, other, "running")
    canary = executor.base_dir / "admin.token"
    canary.write_text("canary-token")
    other_dir = RayExecutor.parse_handle(other)[1]
    probe = (
        f"cat {canary} || echo DENIED-token; cat {other_dir}/entry.sh || echo DENIED-other; "
        f"echo runs=$(ls {executor.base_dir}); echo pids=$(ls /proc | grep -c '^[0-9]'); "
        'echo own > "$AICC_OUTPUT_DIR/x" && echo wrote'
    )
    try:
        handle = executor.launch(replica(probe, node))
        assert until_phase(executor, handle, "exited").exit_code == 0
    finally:
        executor.cancel(other)
    out = executor.logs(handle)
    assert "DENIED-token" in out and "DENIED-other" in out and "canary" not in out, out
    job_dir = RayExecutor.parse_handle(handle)[1].parents[1]
    assert f"runs={job_dir.name}\n" in out and "wrote" in out, out
    pids = int(out.split("pids=")[1].split()[0])
    assert pids <= 5, out  # bwrap's init and the shell's: none of Ray's
    assert "other-secret" not in out


def test_launch_is_idempotent(
    executor: RayExecutor, cluster: dev_ray.RayCluster, node: str
) -> None:
    from ray.job_submission import JobSubmissionClient

    launch = replica("sleep 30", node)
    handle = executor.launch(launch)
    assert executor.launch(launch) == handle
    # A crash between Ray accepting the job and AICC recording it: Ray's record is found.
    for record in (rundir.LAUNCHED_FILE, "submitted"):
        (RayExecutor.parse_handle(handle)[1] / record).unlink()
    assert executor.launch(launch) == handle
    submission = RayExecutor.parse_handle(handle)[0]
    jobs = JobSubmissionClient(cluster.address).list_jobs()
    assert [j.submission_id for j in jobs].count(submission) == 1
    executor.cancel(handle)
    until_phase(executor, handle, "exited")


def test_cancel_stops_a_sleeping_job(executor: RayExecutor, node: str) -> None:
    handle = executor.launch(replica("echo up; sleep 120", node))
    until_phase(executor, handle, "running")
    wait("the job to start", lambda: "up" in executor.logs(handle))
    executor.cancel(handle)
    executor.cancel(handle)  # idempotent
    state = until_phase(executor, handle, "exited", timeout=15)
    assert state.reason == "cancelled", state
    executor.cancel(handle)  # and quiet once it has ended


def test_cancel_kills_a_job_that_ignores_sigterm(executor: RayExecutor, node: str) -> None:
    """Ray's stop: SIGTERM, then SIGKILL after the executor's grace (1 s here)."""
    handle = executor.launch(replica("trap '' TERM; echo up; sleep 120", node))
    wait("the trap to be set", lambda: "up" in executor.logs(handle))
    asked = time.monotonic()
    executor.cancel(handle)
    state = until_phase(executor, handle, "exited", timeout=15)
    assert state.reason == "cancelled" and time.monotonic() - asked >= 1.0, state


def test_a_mig_slice_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Ray hands out whole GPUs: a slice would have run on a whole one (issue 17: the base
    refuses what the engine's capabilities do not claim)."""
    away = RayExecutor(address=f"http://127.0.0.1:{free_port()}", base_dir=tmp_path / "runs")
    mig = replica("true", "n1", gpus=1, mig_profile="1g.10gb")
    with pytest.raises(ValueError, match=r"cannot run a MIG slice \(1g.10gb\).*whole GPUs"):
        away.launch(mig)
    assert not (tmp_path / "runs").exists()


def test_a_launch_while_ray_is_away_is_submitted_by_a_later_poll(
    cluster: dev_ray.RayCluster, executor: RayExecutor, node: str, tmp_path: Path
) -> None:
    from aicc.executors.ray.client import RayJobs

    away = RayExecutor(address=f"http://127.0.0.1:{free_port()}", base_dir=tmp_path)
    away._addresses = dict(executor._addresses)  # nodes known from an earlier discovery
    handle = away.launch(replica("echo late", node))
    state = away.poll(handle)
    assert state.phase == "starting" and "not reachable" in state.message, state
    away.jobs = RayJobs(cluster.address)  # Ray answers again
    state = until_phase(away, handle, "exited")
    assert state.reason == "succeeded" and away.logs(handle) == "late\n", state


def test_a_server_started_while_ray_is_away_launches_once_ray_answers(
    cluster: dev_ray.RayCluster, node: str, tmp_path: Path
) -> None:
    """A server that started while the Ray head was down knows no node's address: the launch
    waits for Ray instead of failing the job (before, the address lookup failed the launch)."""
    from aicc.executors.ray.client import RayJobs

    away = RayExecutor(address=f"http://127.0.0.1:{free_port()}", base_dir=tmp_path)
    handle = away.launch(replica("echo late", node))
    state = away.poll(handle)
    assert state.phase == "starting" and "Ray did not answer" in state.message, state
    away.jobs = RayJobs(cluster.address)  # Ray answers again
    state = until_phase(away, handle, "exited")
    assert state.reason == "succeeded" and away.logs(handle) == "late\n", state


def test_runtime_limit_is_runtime_exceeded(executor: RayExecutor, node: str) -> None:
    handle = executor.launch(replica("echo started; sleep 120", node, max_runtime_s=1))
    state = until_phase(executor, handle, "exited", timeout=20)
    assert (state.phase, state.reason) == ("exited", "runtime_exceeded"), state
    assert executor.logs(handle) == "started\n"


MAIN = """
import os, sys
print("cuda=" + os.environ["CUDA_VISIBLE_DEVICES"], "python=" + sys.executable)
with open(os.path.join(os.environ["AICC_OUTPUT_DIR"], "result.txt"), "w") as f:
    f.write("42\\n")
with open("ckpt/step", "w") as f:
    f.write(os.environ["AICC_ATTEMPT"])
print(open("data.txt").read().strip())
"""


def test_a_job_through_aicc_serve_runs_on_ray(cluster: dev_ray.RayCluster, tmp_path: Path) -> None:
    """`aicc serve --executor ray` (from config.yaml): nodes come from Ray, a job submitted with
    the SDK (workdir, checkpoint_dir, one GPU) runs as a Ray job and succeeds, its logs come back,
    the GPU AICC records is the one Ray set in CUDA_VISIBLE_DEVICES, and outputs and the
    checkpoint are kept."""
    from aicc.sdk.client import Client
    from aicc.testing.servers import ServerProcess

    home = tmp_path / "home"
    home.mkdir()
    config = {
        "executor": "ray",
        "ray": {"address": cluster.address, "simulated_gpus": True, "default_model": "A100-80GB"},
        "loop_interval_s": 0.2,
    }
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    work = tmp_path / "work"
    (work / "ckpt").mkdir(parents=True)
    (work / "main.py").write_text(MAIN)
    (work / "data.txt").write_text("from the workdir\n")
    server = ServerProcess(home=home, port=free_port()).start()
    try:
        with Client(server.url, server.token) as api:
            [node] = [n.model_dump() for n in api.nodes() if n.executor == "ray"]
            assert node["simulated"] and len(node["devices"]) == 2
            assert {d["model"] for d in node["devices"]} == {"A100-80GB"}
            spec = {
                "command": "python main.py",
                "checkpoint_dir": "ckpt",
                "resources": {"cpu": 0.5, "memory": "128MiB", "accelerator": {"count": 1}},
            }
            job = api.submit(spec, workdir=work).model_dump()
            done = api.wait(job["id"], timeout=60, poll=0.2).model_dump()
            assert done["state"] == "succeeded", done
            log = api.logs(job["id"])
            assert "from the workdir" in log
            assert f"python={Path(sys.executable).parent}" in log  # the venv's interpreter
            seen = log.split("cuda=")[1].split()[0]
            assert [d["index"] for d in done["replicas"][0]["devices"]] == [int(seen)], log
            out = api.download_outputs(job["id"], tmp_path / "out")
            assert (out / "result.txt").read_text() == "42\n"
        checkpoint = home / "ray-runs" / job["id"] / "checkpoint" / "step"
        assert checkpoint.read_text() == "0"
    finally:
        server.stop()


DATA_PROBE = (
    'cat "$AICC_DATA_DIR/corpus/a.txt"; '
    '(echo x > "$AICC_DATA_DIR/corpus/a.txt") 2>/dev/null && echo WROTE || echo DENIED; '
    'touch "$AICC_DATA_DIR/corpus/new" 2>/dev/null && echo MADE || echo DENIED'
)


def test_a_replica_on_ray_reads_its_data_set_read_only(
    cluster: dev_ray.RayCluster, tmp_path: Path
) -> None:
    """The spec's data sets are mounted for Ray replicas too: from the node data cache, at
    $AICC_DATA_DIR/NAME, read-only in the sandbox."""
    source = ChunkServer(tmp_path / "store")
    mount = source.push("corpus-1", {"a.txt": b"ray data\n"})
    ex = RayExecutor(
        address=cluster.address,
        base_dir=tmp_path / "runs",
        simulated=True,
        grace_s=1.0,
        timeout_s=30.0,
        sandbox=sandbox.detect("bwrap"),
        data=DataCache(tmp_path / "cache", 64 * 1024 * 1024, source),
    )
    handle = ex.launch(replica(DATA_PROBE, ex.discover()[0].name, datasets=(mount,)))
    state = until_phase(ex, handle, "exited", timeout=120)
    log = ex.logs(handle)
    assert state.reason == "succeeded", (state, log, ex.logs(handle, "stderr"))
    assert log.splitlines() == ["ray data", "DENIED", "DENIED"], log
    assert source.served == 1


RESUMED = re.compile(r"^resumed at step (\d+)$", re.MULTILINE)


def test_a_lost_ray_head_requeues_a_checkpointing_job_that_resumes_through_aicc(
    cluster: dev_ray.RayCluster, tmp_path: Path
) -> None:
    """`aicc serve --executor ray`, max_retries: 1, and the Ray head is lost under a running
    checkpointing job (every process of the node SIGKILLed), then started again on the same
    ports, empty. Meanwhile AICC keeps the replica as it last saw it; once Ray answers without
    the job, the replica is lost with its node and the job requeued; the next attempt resumes
    from the checkpoint, does the remaining steps once and succeeds; each attempt is billed
    once. Last in the module: the cluster it leaves is a new one."""
    from aicc.sdk.client import Client
    from aicc.store.db import database_url
    from aicc.testing.chaos_checks import usage_problems
    from aicc.testing.servers import ServerProcess

    home, total = tmp_path / "home", 12
    home.mkdir()
    config = {
        "executor": "ray",
        "ray": {"address": cluster.address, "simulated_gpus": True, "request_timeout_s": 5},
        "loop_interval_s": 0.2,
    }
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    server = ServerProcess(home=home, port=free_port()).start()
    try:
        with Client(server.url, server.token) as api:
            spec = {
                "command": checkpoints.command(total, 0.5, resumed_step_s=0.2),
                "checkpoint_dir": "ckpt",
                "max_retries": 1,
                "resources": {"cpu": 0.5, "memory": "128MiB"},
            }
            job = api.submit(spec).model_dump()
            kept = home / "ray-runs" / job["id"]

            def progress() -> int | None:
                step = checkpoints.saved_step(kept / "checkpoint")
                return step if step >= 3 else None

            saved = wait("the checkpoint at step 3", progress, timeout=60)
            assert cluster.kill_head() > 0
            time.sleep(1)  # a few passes of the loops with Ray away
            away = api.jobs.get(job["id"]).model_dump()
            assert (away["state"], away["attempt"]) == ("running", 0), away
            cluster.restart()
            done = api.wait(job["id"], timeout=120, poll=0.2).model_dump()
            assert done["state"] == "succeeded", (done["reason"], done["message"], done["attempt"])
            assert done["attempt"] == 1, done
            log = api.logs(job["id"])
            resumed = [int(k) for k in RESUMED.findall(log)]
            assert len(resumed) == 1 and resumed[0] >= saved, log
            assert log.endswith(f"finished at step {total}\n"), log
            steps = checkpoints.Progress.read(kept / "outputs")
            assert steps.problems(total, resumed[0]) == [], steps
            events = [e.model_dump() for e in api.jobs.events(job["id"])]
            requeued = [e for e in events if e.get("reason") == "node_lost"]
            assert len(requeued) == 1, events
        usage = usage_problems(database_url(None, home), {job["id"]}, timeout=30)
        assert not usage.double_billed and not usage.unmetered, usage
        assert len(usage.billed) == 2, usage  # attempt 0 until the head was lost, and attempt 1
    finally:
        server.stop()


def test_jobs_in_images_on_ray(
    cluster: dev_ray.RayCluster,
    tmp_path: Path,
) -> None:
    box = podman_or_skip()
    executor: Any = RayExecutor(
        address=cluster.address,
        base_dir=tmp_path / "runs",
        simulated=True,
        grace_s=1.0,
        timeout_s=30.0,
        sandbox=sandbox.detect("bwrap"),
        container=lambda: containers.detected("auto", ()),
    )
    nodes = [n.name for n in executor.discover()]
    with engine_images(box.podman, tmp_path) as made:
        check_engine(executor, nodes, box.podman, made)
