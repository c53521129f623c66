"""Reading many slow devices at once (facility meters, BMCs): what `meters.Pool` and `bmc.Pool`
share. A device on the plant or management network may be slow or gone, so its reads go side by
side on a bounded number of threads, never two at once of the same device: one that hangs holds
one thread for its timeout and delays no other device's sample.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")  # what is read: a meter's or a BMC's target
R = TypeVar("R")  # what a read gives: its outcome


def why(err: BaseException) -> str:
    """A failure in one line: its type and the first line of its message (never a traceback,
    which may hold a device's address or credentials)."""
    name = type(err).__name__
    message = str(err).splitlines()[0] if str(err) else ""
    return f"{name}: {message}" if message else name


class ReadPool(ABC, Generic[T, R]):
    """Reads of targets of type `T`, each to an outcome `R`, on at most `workers` threads:
    `submit` starts a read of each target not being read now and returns at once; `done` hands
    back what finished. A subclass says how to read one (`_read`, which never raises) and which
    device a target is (`_device`)."""

    def __init__(self, *, workers: int, thread_name_prefix: str) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=thread_name_prefix
        )
        self._running: dict[str, Future[R]] = {}

    @abstractmethod
    def _device(self, target: T) -> str: ...

    @abstractmethod
    def _read(self, target: T) -> R: ...

    def submit(self, targets: Iterable[T]) -> int:
        """Start reading each target that is not being read now; how many were started."""
        started = 0
        for target in targets:
            device = self._device(target)
            if device in self._running:
                continue
            self._running[device] = self._executor.submit(self._read, target)
            started += 1
        return started

    def busy(self, device: str) -> bool:
        return device in self._running

    def done(self) -> list[R]:
        """The readings that finished since the last call."""
        finished = [n for n, f in self._running.items() if f.done()]
        return [self._running.pop(n).result() for n in finished]

    def close(self) -> None:
        """Stop: the reads not started are dropped, those under way end on their timeouts."""
        self._executor.shutdown(wait=False, cancel_futures=True)
