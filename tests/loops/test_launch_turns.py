"""The reconciler's launch budget (loops/reconcile.py, issue 35): a pass launches a bounded
number of replicas, the jobs taking turns, and stops launching once its time is spent; the
replicas left stay bound for the next pass. The clock is injected: nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from aicc.executors.base import ReplicaLaunch
from aicc.executors.local.executor import LocalExecutor
from aicc.loops.reconcile import act
from aicc.services.common import new_id
from aicc.services.jobs.launches import Work, _launch_turns
from aicc.store.blobs import BlobStore
from aicc.store.tables.jobs import ReplicaRow


def replicas(job_id: str, count: int) -> list[ReplicaRow]:
    return [ReplicaRow(id=f"{job_id}-r{i}", job_id=job_id, index=i) for i in range(count)]


def test_jobs_take_turns_and_the_smallest_goes_first_in_each_round() -> None:
    gang, small, pair = replicas("job-gang", 100), replicas("job-small", 1), replicas("job-pair", 2)
    turns = _launch_turns([*gang, *pair, *small], 6)
    order = sorted(turns, key=turns.__getitem__)
    assert order == [
        "job-small-r0",
        "job-pair-r0",
        "job-gang-r0",
        "job-pair-r1",
        "job-gang-r1",
        "job-gang-r2",
    ]


def test_no_more_than_the_limit_and_all_when_fewer() -> None:
    assert len(_launch_turns(replicas("job-gang", 1024), 32)) == 32
    assert len(_launch_turns(replicas("job-a", 3), 32)) == 3
    assert _launch_turns([], 32) == {}


def ticks(*values: float) -> Iterator[float]:
    yield from values
    while True:
        yield values[-1]


def test_launches_stop_when_the_budget_is_spent_and_the_rest_stay_bound(tmp_path: Path) -> None:
    """Two launches due; the clock reads past the budget before the second: it is left out of
    the answer (bound, launched by the next pass), the first ran."""
    local = LocalExecutor(home=tmp_path / "home", blobs=BlobStore(tmp_path / "blobs"), grace_s=1)
    job_id = new_id("job")
    work = []
    for index in (0, 1):
        launch = ReplicaLaunch(
            job_id=job_id,
            attempt=0,
            index=index,
            argv=["/bin/sh", "-c", "true"],
            env={},
            node="local",
            device_indices=(),
            cpu_milli=1,
            memory_mib=64,
            max_runtime_s=None,
        )
        work.append(Work(f"rep-{index}", job_id, "local", None, False, launch, turn=index))
    clock = ticks(0.0, 0.5, 3.0)  # the deadline is read at 0; the launches at 0.5, then 3.0
    seen = act(work, {"local": local}, budget_s=2.0, clock=lambda: next(clock))
    assert set(seen) == {"rep-0"}
    handle, _state = seen["rep-0"]
    assert handle is not None
