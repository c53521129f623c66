"""How long a test waits for a process it started to answer: while it makes progress, within a cap.

On a loaded two-core machine three federation servers took 70 s to start where one alone takes a
few: a fixed 60 s deadline failed a start that was only slow (issue 36). A start is now waited
for while the process lives and makes progress (its CPU time, its children's or its log's size
grows); it fails when it made none for `stall_s` (hung: a lock never released, a port never
bound), or past one cap for the whole suite, `AICC_TEST_START_TIMEOUT_S` (180 s unless set),
whatever its progress. The first answer ends the wait, so the happy path waits no longer than
before.

Blocking; `clock` and `sleep` are injected so the rule itself is tested without real time. The
caller stops what it started when the wait raises (`ServerProcess.start` does; the emulators
use `stop`).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import httpx
import psutil

ENV = "AICC_TEST_START_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 180.0
STALL_S = 60.0  # the old fixed deadline: a start that does nothing for that long is hung


def start_timeout_s() -> float:
    """The cap on any one start: `AICC_TEST_START_TIMEOUT_S`, else 180 s."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{ENV}={raw!r}: give a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{ENV}={raw!r}: give a number of seconds above 0")
    return value


def get(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.get(url)` on a new connection, without the TLS context httpx builds for every
    such call where the URL is plain http (loading the CA bundle: 30 ms of CPU, ten times the
    request, and 0.4 s on a loaded two-core machine, taken from the server a wait polls)."""
    if url.startswith("http://"):
        kwargs.setdefault("verify", False)  # nothing to verify: no TLS on this connection
    return httpx.get(url, **kwargs)


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether a GET of `url` answers 200 now; False as well when nothing answers."""
    try:
        return get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def progress_of(pid: int, *logs: Path) -> Callable[[], Hashable]:
    """What changes while process `pid` works: its CPU time and its live children's (to a
    hundredth of a second), and the sizes of `logs`."""
    try:
        process: psutil.Process | None = psutil.Process(pid)
    except psutil.Error:
        process = None

    def probe() -> Hashable:
        cpu = 0.0
        if process is not None:
            try:
                for each in [process, *process.children(recursive=True)]:
                    times = each.cpu_times()
                    cpu += times.user + times.system
            except psutil.Error:
                pass
        sizes = tuple(log.stat().st_size if log.exists() else -1 for log in logs)
        return (round(cpu, 2), sizes)

    return probe


def wait_started(
    what: str,
    ready: Callable[[], bool],
    *,
    exited: Callable[[], int | None],
    progress: Callable[[], Hashable],
    timeout: float | None = None,
    stall_s: float = STALL_S,
    every: float = 0.1,
    progress_every: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Until `ready()` is true; returns the seconds waited. RuntimeError when `exited()` gives
    an exit status first; TimeoutError when `progress()` stayed the same for `stall_s`, or past
    `timeout` (default: `start_timeout_s()`) in all. `progress()` is asked at most every
    `progress_every` s (a process's children are found by reading every process of the
    machine: 12 ms of CPU, a start's own CPU while it is polled every `every`)."""
    cap = start_timeout_s() if timeout is None else timeout
    began = clock()
    last, moved = progress(), began
    asked = began
    while True:
        code = exited()
        if code is not None:
            raise RuntimeError(f"{what} exited with {code}")
        if ready():
            return clock() - began
        now = clock()
        if now - asked >= progress_every:
            asked, seen = now, progress()
            if seen != last:
                last, moved = seen, now
        if now - began > cap:
            raise TimeoutError(f"{what} did not answer within {cap:.0f} s ({ENV})")
        if now - moved > stall_s:
            raise TimeoutError(f"{what} did not answer and made no progress for {stall_s:.0f} s")
        sleep(every)


def stop(process: subprocess.Popen[Any] | None, grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL once `grace_s` has passed: what a test started has nothing to save,
    and one that hangs on its way out must not hang the session. Nothing for a process gone."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
