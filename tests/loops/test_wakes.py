"""The loops apart from the API (`workers`): a worker's controller never leads, says whether
its server does, relays the loops' figures to /metrics, and its wake reaches the loops of
another process as a datagram."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from aicc.config import Settings
from aicc.loops import wakes
from aicc.loops.timings import Relayed, Timings
from aicc.server import build
from aicc.services.common import utcnow
from aicc.testing.servers import seeded


def test_a_datagram_from_a_sender_wakes_the_listener() -> None:
    woken = threading.Event()
    listener = wakes.Listener(woken.set)
    listener.start()
    try:
        wakes.Sender(listener.port)()
        assert woken.wait(5)
    finally:
        listener.close()
    wakes.Sender(listener.port)()  # nobody listens: no error for the route that woke


def test_a_controller_apart_wakes_the_loops_elsewhere_and_never_takes_the_lease(
    tmp_path: Path,
) -> None:
    seeded(tmp_path, None)
    _, loops = build(Settings(home=tmp_path, sandbox="off"))
    _, api = build(Settings(home=tmp_path, sandbox="off"))
    woken: list[bool] = []
    port = loops.controller.timings.serve()
    api.controller.apart(lambda: woken.append(True), parent_pid=os.getpid(), metrics_port=port)
    try:
        api.controller.wake()
        assert woken == [True]
        api.controller.tick()
        assert api.controller.lease.current(utcnow()) is None  # no pass took it
        assert not api.controller.leading
        loops.controller.tick()  # the loops of "this process" lead: so does the API's server
        assert loops.controller.leading and api.controller.leading
        relayed = {m.name: m for m in api.controller.metrics.collect()}  # for the API's /metrics
        assert relayed["aicc_controller_leading"].samples[0].value == 1.0
        counts = [
            s for s in relayed["aicc_controller_step_seconds"].samples if s.name.endswith("_count")
        ]
        assert any(s.labels["step"] == "schedule" and s.value >= 1 for s in counts)
    finally:
        loops.db.dispose()
        api.db.dispose()


def test_the_loops_figures_are_relayed_past_a_proxy_the_server_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server started with HTTP_PROXY (for its downloads) reads its loops' figures on
    loopback directly: through the proxy, /metrics lost them (aicc_controller_leading gone)."""
    timings = Timings(lambda: True)
    relayed = Relayed(timings.serve())
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nobody listens there
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    found = {m.name: m for m in relayed.collect()}
    assert found["aicc_controller_leading"].samples[0].value == 1.0
