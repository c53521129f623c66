"""Jobs in images on the real Slurm cluster (scripts/slurm-dev.sh, test_slurm.py's session
cluster) and on a real one-node Ray cluster (test_ray.py's): two tenants' jobs in two images
each see their own libraries, a missing image fails `image_unavailable`, and a cancel reaches
the command through podman, its container removed after."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_ray import cluster as ray_cluster  # noqa: F401 (the fixture)
from test_slurm import cluster  # noqa: F401 (the fixture)

from aicc.executors import container as containers
from aicc.executors import sandbox
from aicc.executors.base import Executor, ReplicaLaunch, ReplicaState
from aicc.executors.ray import RayExecutor
from aicc.executors.slurm import SlurmCommands, SlurmExecutor
from aicc.services.common import new_id
from aicc.testing import ray as dev_ray
from aicc.testing.images import cleaned, containers_of, make_image, podman_or_skip

pytestmark = pytest.mark.slow

LIBS = ["/bin/sh", "-c", "cat /usr/lib/libdemo.so.*; ls /usr/lib"]
TRAP = 'trap "echo got TERM; exit 0" TERM; echo up; while :; do sleep 0.1; done'


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    box = podman_or_skip()
    tmp = tmp_path_factory.mktemp("engine-images")
    made = {
        "v1": make_image(box.podman, tmp, "1", {"usr/lib/libdemo.so.1": b"libdemo 1.0\n"}),
        "v2": make_image(box.podman, tmp, "2", {"usr/lib/libdemo.so.2": b"libdemo 2.0\n"}),
    }
    with cleaned(box.podman, list(made.values()), []):
        yield box.podman, made


def _replica(argv: list[str], node: str, image: str) -> ReplicaLaunch:
    return ReplicaLaunch(
        new_id("job"), 0, 0, argv, {"CUDA_VISIBLE_DEVICES": ""}, node, (), 500, 128, None,
        image=image,
    )  # fmt: skip


def _ended(executor: Executor, handle: str, timeout: float = 120) -> ReplicaState:
    deadline = time.monotonic() + timeout
    while (state := executor.poll(handle)).phase not in ("exited", "lost"):
        assert time.monotonic() < deadline, f"{handle} never ended"
        time.sleep(0.2)
    return state


def _check(executor: Executor, nodes: list[str], podman: str, made: dict[str, str]) -> None:
    launched = [_replica(LIBS, nodes[i % len(nodes)], made[v]) for i, v in enumerate(made)]
    jobs = [r.job_id for r in launched]
    with cleaned(podman, [], jobs):
        handles = [executor.launch(r) for r in launched]
        ended = [_ended(executor, h) for h in handles]
        logs = [executor.logs(h) for h in handles]
        assert [s.reason for s in ended] == ["succeeded", "succeeded"], logs
        assert logs == ["libdemo 1.0\nlibdemo.so.1\n", "libdemo 2.0\nlibdemo.so.2\n"]

        missing = _replica(["/bin/sh", "-c", "echo ran"], nodes[0], "localhost/aicc-no-such:1")
        jobs.append(missing.job_id)
        handle = executor.launch(missing)
        state = _ended(executor, handle)
        assert state.reason == "image_unavailable", state
        assert "localhost/aicc-no-such:1" in state.message and executor.logs(handle) == ""

        stopped = _replica(["/bin/sh", "-c", TRAP], nodes[-1], made["v1"])
        jobs.append(stopped.job_id)
        handle = executor.launch(stopped)
        deadline = time.monotonic() + 120
        while "up" not in executor.logs(handle):
            assert time.monotonic() < deadline, executor.logs(handle, "stderr")
            time.sleep(0.2)
        assert containers_of(podman, [stopped.job_id])
        executor.cancel(handle)
        deadline = time.monotonic() + 60
        while (state := executor.poll(handle)).phase not in ("exited", "lost"):
            assert time.monotonic() < deadline
            executor.cancel(handle)  # past the grace, the engine ends it
            time.sleep(0.3)
        assert state.reason == "cancelled" and executor.logs(handle) == "up\ngot TERM\n"
        assert containers_of(podman, [stopped.job_id]) == []


def test_jobs_in_images_on_slurm(
    cluster: SlurmCommands,  # noqa: F811
    images: tuple[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    podman, made = images
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
    _check(executor, nodes, podman, made)


def test_jobs_in_images_on_ray(
    ray_cluster: dev_ray.RayCluster,  # noqa: F811
    images: tuple[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    podman, made = images
    executor: Any = RayExecutor(
        address=ray_cluster.address,
        base_dir=tmp_path / "runs",
        simulated=True,
        grace_s=1.0,
        timeout_s=30.0,
        sandbox=sandbox.detect("bwrap"),
        container=lambda: containers.detected("auto", ()),
    )
    nodes = [n.name for n in executor.discover()]
    _check(executor, nodes, podman, made)
