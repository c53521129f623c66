"""How often the control loop runs: a lone submit is scheduled at once, a burst of submits does
not turn the loop into a busy loop that takes the server from the API, and a replica slow to
start is looked at again soon."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from aicc.config import Settings
from aicc.executors.base import ReplicaState
from aicc.loops.controller import BURST_PERIOD
from aicc.server import build
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import kill_leftover_replicas, seeded


def test_a_lone_wake_runs_a_pass_at_once_and_a_burst_of_wakes_is_paced(tmp_path: Path) -> None:
    seeded(tmp_path, None)
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


def test_a_replica_slow_to_start_is_polled_again_soon_not_a_whole_interval_later(
    tmp_path: Path,
) -> None:
    """On a busy machine a replica's supervisor may not have started its command by the poll
    right after its launch: the job is then `scheduled`, and was until the next pass, a whole
    `loop_interval_s` later (30 s here; seen in CI). The real local executor, its first polls
    of each replica made to answer `starting` as such a supervisor would."""
    seeded(tmp_path, None)
    app, state = build(Settings(home=tmp_path, loop_interval_s=30.0, sandbox="off"))
    executor = state.executors["local"]
    real, polls = executor.poll, Counter[str]()

    def slow_to_start(handle: str) -> ReplicaState:
        seen = real(handle)
        polls[handle] += 1
        if polls[handle] <= 3 and seen.phase == "running":
            return replace(seen, phase="starting", started_at=None)
        return seen

    executor.poll = slow_to_start  # type: ignore[method-assign]
    state.controller.start()
    try:
        with TestClient(app) as api:
            api.headers["Authorization"] = "Bearer " + (tmp_path / "admin.token").read_text()
            job = submit(api, {"command": "sleep 20", "resources": {"cpu": "100m"}})
            ran = wait_state(api, job["id"], {"running"}, timeout=10)
            assert ran["state"] == "running"
            assert polls and max(polls.values()) >= 4  # it was seen starting, then running
            api.post(f"/api/v1/jobs/{job['id']}/cancel")
    finally:
        state.controller.stop()
        state.db.dispose()
        kill_leftover_replicas(tmp_path)
