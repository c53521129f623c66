"""The scheduler's decisions as SHA-256 hashes: the safety net of a refactoring that must not move
a single bind.

Each run replays a trace through the scheduler and hashes every decision it makes, in order:
binds with their node and device picks, waits with reasons, positions and estimated starts,
reservations and preemptions (the `repr` of each decision or placement choice).

- `openb/NAME`: the FGD paper's openb protocol (`aicc sim openb`, seed 42, the default pod list)
  with every placement policy and every scheduler profile;
- `synthetic-pods/NAME`: the same protocol on the small generated cluster and pods
  (`aicc.sim.synthetic`, as the tests use it);
- `synthetic-jobs/PROFILE`: the Philly-shaped generated trace (400 jobs, 32 GPUs, seed 1, as
  tests/sim/test_jobs.py) through the job simulator (`aicc sim jobs`) and every profile;
- `philly/PROFILE`: one day of the Philly trace (2017-10-02, 320 GPUs) through the job simulator;
- `bench/PROFILE[-steady]`: one `aicc bench scheduler` cycle at 2,000 nodes and 20,000 jobs.

The decisions are tapped where the simulators hand them out (a policy's `choose`, `Cycle.offer`,
the job simulator's and the bench's `schedule`): the tap records what the real call returned.

    .venv/bin/python benchmarks/decision_hashes.py                 # every run, prints JSON
    .venv/bin/python benchmarks/decision_hashes.py --only openb/fgd,philly/default
    .venv/bin/python benchmarks/decision_hashes.py --check tests/scheduler/decision_hashes.json

The hashes recorded at main 247c2d4 (before issue 17's scheduler refactoring) are in
tests/scheduler/decision_hashes.json; tests/scheduler/test_decision_hashes.py checks the fast ones.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

TRACES = Path(__file__).resolve().parents[3] / "shared" / "data" / "traces"
OPENB = TRACES / "alibaba-gpu-v2023-openb" / "csv"
PHILLY = TRACES / "philly-sia" / "philly.csv"
PROFILES = ("default", "fifo", "easy", "las", "spread")
SEED = 42


class Recorder:
    """A running SHA-256 over the decisions' `repr`s, and their count."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.count = 0

    def add(self, item: object) -> None:
        self.digest.update(repr(item).encode())
        self.digest.update(b"\n")
        self.count += 1

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


@contextmanager
def tapped(owner: Any, name: str, wrap: Callable[[Any], Any]) -> Iterator[None]:
    """`owner.name` replaced by `wrap(owner.name)` for the duration."""
    original = getattr(owner, name)
    setattr(owner, name, wrap(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


class _RecordingPolicy:
    """A placement policy whose choices are recorded."""

    def __init__(self, policy: Any, record: Recorder) -> None:
        self.policy = policy
        self.record = record

    def choose(self, state: Any, demand: Any, rng: Any) -> Any:
        choice = self.policy.choose(state, demand, rng)
        self.record.add(choice)
        return choice


def _openb(nodes: Any, pods: Any, name: str, record: Recorder) -> None:
    from aicc.scheduler import framework
    from aicc.scheduler.placement import POLICIES
    from aicc.sim import openb

    def get_policy(original: Any) -> Any:
        return lambda *a, **k: _RecordingPolicy(original(*a, **k), record)

    def offer(original: Any) -> Any:
        def recorded(self: Any, job: Any) -> Any:
            start = len(self.decisions)  # the Bind or Wait, then its preemptions or reservation
            decision = original(self, job)
            for item in self.decisions[start:]:
                record.add(item)
            return decision

        return recorded

    if name in POLICIES:
        with tapped(openb, "get_policy", get_policy):
            openb.simulate(nodes, pods, name, SEED)
    else:
        with tapped(framework.Cycle, "offer", offer):
            openb.simulate(nodes, pods, name, SEED)


def _jobs(trace: list[Any], gpus: int, profile: str, record: Recorder) -> None:
    from aicc.sim import jobs

    def schedule(original: Any) -> Any:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            decisions = original(*args, **kwargs)
            record.add(("cycle", args[0].now))
            for d in decisions:
                record.add(d)
            return decisions

        return recorded

    with tapped(jobs, "schedule", schedule):
        jobs.simulate(trace, jobs.SimConfig(gpus=gpus, policy=profile))


def _bench(profile: str, steady: bool, record: Recorder) -> None:
    from aicc.bench import scheduler

    def schedule(original: Any) -> Any:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            decisions = original(*args, **kwargs)
            record.add("cycle")
            for d in decisions:
                record.add(d)
            return decisions

        return recorded

    settings = scheduler.Settings(
        nodes=2_000, pending=20_000, projects=100, policy=profile, steady=steady
    )
    with tapped(scheduler, "schedule", schedule):
        scheduler.run(settings)


@functools.cache
def _openb_lists() -> tuple[Any, Any]:
    from aicc.sim import openb

    return (
        openb.load_nodes(OPENB / "openb_node_list_gpu_node.csv"),
        openb.load_pods(OPENB / "openb_pod_list_default.csv"),
    )


def _openb_trace(name: str, record: Recorder) -> None:
    _openb(*_openb_lists(), name, record)


def _synthetic_pods(name: str, record: Recorder) -> None:
    from aicc.sim import synthetic

    _openb(synthetic.nodes(), synthetic.pods(), name, record)


def _synthetic_jobs(profile: str, record: Recorder) -> None:
    from aicc.sim import synthetic

    _jobs(synthetic.trace_jobs(400, gpus=32, load=0.9, seed=1), 32, profile, record)


def _philly(profile: str, record: Recorder) -> None:
    from aicc.sim import philly

    _jobs(philly.load(PHILLY, datetime(2017, 10, 2), datetime(2017, 10, 3)), 320, profile, record)


def runs() -> dict[str, Callable[[Recorder], None]]:
    """Every run by name, each a function of the recorder it feeds."""
    from aicc.scheduler.placement import POLICIES

    out: dict[str, Callable[[Recorder], None]] = {}
    for name in (*POLICIES, *PROFILES):
        out[f"openb/{name}"] = functools.partial(_openb_trace, name)
        out[f"synthetic-pods/{name}"] = functools.partial(_synthetic_pods, name)
    for profile in PROFILES:
        out[f"synthetic-jobs/{profile}"] = functools.partial(_synthetic_jobs, profile)
    for profile in PROFILES:
        out[f"philly/{profile}"] = functools.partial(_philly, profile)
    for profile in PROFILES:
        out[f"bench/{profile}"] = functools.partial(_bench, profile, False)
    out["bench/default-steady"] = functools.partial(_bench, "default", True)
    return out


def hash_of(name: str) -> tuple[str, int, float]:
    """The hash of one run's decisions, their count, and the seconds it took."""
    record = Recorder()
    started = time.perf_counter()
    runs()[name](record)
    return record.hexdigest(), record.count, time.perf_counter() - started
