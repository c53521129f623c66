"""How often the control loop runs: a lone submit is scheduled at once, a burst of submits does
not turn the loop into a busy loop that takes the server from the API."""

from __future__ import annotations

import time
from pathlib import Path

from aicc.config import Settings
from aicc.loops.controller import BURST_PERIOD
from aicc.server import build


def test_a_lone_wake_runs_a_pass_at_once_and_a_burst_of_wakes_is_paced(tmp_path: Path) -> None:
    _, state = build(Settings(home=tmp_path, loop_interval_s=3.0, sandbox="off"))
    controller = state.controller
    passes: list[float] = []

    def tick() -> None:  # a pass that takes 5 ms, as a short real one does
        passes.append(time.monotonic())
        time.sleep(0.005)

    controller.tick = tick  # type: ignore[method-assign]
    controller.start()
    try:
        deadline = time.monotonic() + 10
        while not passes and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # the first pass has rested; the next is 3 s away unless woken
        woken = time.monotonic()
        controller.wake()
        while len(passes) < 2 and time.monotonic() < woken + 2.5:
            time.sleep(0.005)
        assert len(passes) == 2 and passes[1] - woken < 1.0  # long before the 3 s interval

        burst = time.monotonic()
        while time.monotonic() < burst + 1.0:  # a submit every millisecond for a second
            controller.wake()
            time.sleep(0.001)
        during = [t for t in passes if burst <= t < burst + 1.0]
        assert 3 <= len(during) <= 1.0 / BURST_PERIOD + 2, len(during)
    finally:
        controller.stop()
        state.db.dispose()
