"""Waiting in tests for what a real engine does in its own time: poll, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from aicc.executors.base import Executor, ReplicaState

T = TypeVar("T")


def wait(what: str, probe: Callable[[], T | None], timeout: float = 30.0, every: float = 0.2) -> T:
    """The first truthy value `probe` returns; AssertionError naming `what` past `timeout` s.
    Probes come often at first and `every` s apart later (`pauses`)."""
    deadline, pause = time.monotonic() + timeout, pauses(every)
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(next(pause))


def pauses(every: float, first: float = 0.02, growth: float = 1.25) -> Iterator[float]:
    """The sleeps between probes: from `first`, growing to `every`. Most of what a test waits
    for (a job's state, a loop's pass) comes within a second: a fixed 0.2 s pause found it 0.1 s
    late on the mean, and the suite waits thousands of times."""
    pause = min(first, every)
    while True:
        yield pause
        pause = min(every, pause * growth)


def until_phase(executor: Executor, handle: str, *phases: str, timeout: float = 60) -> ReplicaState:
    """The replica's state once its phase is one of `phases`."""

    def probe() -> ReplicaState | None:
        state = executor.poll(handle)
        return state if state.phase in phases else None

    return wait(f"{handle} in {phases}", probe, timeout)
