"""Waiting in tests for what a real engine does in its own time: poll, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from aicc.executors.base import Executor, ReplicaState

T = TypeVar("T")


def wait(what: str, probe: Callable[[], T | None], timeout: float = 30.0, every: float = 0.2) -> T:
    """The first truthy value `probe` returns; AssertionError naming `what` past `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(every)


def until_phase(executor: Executor, handle: str, *phases: str, timeout: float = 60) -> ReplicaState:
    """The replica's state once its phase is one of `phases`."""

    def probe() -> ReplicaState | None:
        state = executor.poll(handle)
        return state if state.phase in phases else None

    return wait(f"{handle} in {phases}", probe, timeout)
