"""A start is waited for while it makes progress, within one cap (aicc/testing/startup.py); a
fake clock stands in for real time."""

from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import threading

import pytest

from aicc.testing import startup


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def wait(clock: Clock, *, ready_at: float = 1e9, moving: bool = True, exit_at: float = 1e9,
         timeout: float = 180.0) -> float:  # fmt: skip
    return startup.wait_started(
        "the server",
        lambda: clock.now >= ready_at,
        exited=lambda: 3 if clock.now >= exit_at else None,
        progress=lambda: int(clock.now) if moving else 0,  # CPU time that grows, or not
        timeout=timeout,
        stall_s=60,
        every=1.0,
        clock=clock,
        sleep=clock.sleep,
    )


def test_a_slow_start_that_makes_progress_is_waited_for_past_the_old_deadline() -> None:
    clock = Clock()
    assert wait(clock, ready_at=70) == 70  # three servers on a loaded 2-core machine: 70 s


def test_the_first_answer_ends_the_wait() -> None:
    clock = Clock()
    assert wait(clock, ready_at=0) == 0


def test_a_start_that_makes_no_progress_fails_after_the_stall() -> None:
    clock = Clock()
    with pytest.raises(TimeoutError, match="made no progress for 60 s"):
        wait(clock, moving=False)
    assert 60 < clock.now <= 62


def test_progress_never_waits_past_the_cap() -> None:
    clock = Clock()
    with pytest.raises(TimeoutError, match="within 180 s"):
        wait(clock)
    assert 180 < clock.now <= 182


def test_a_process_that_exits_fails_at_once_with_its_status() -> None:
    clock = Clock()
    with pytest.raises(RuntimeError, match="the server exited with 3"):
        wait(clock, exit_at=5)
    assert clock.now == 5


def test_the_cap_is_one_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(startup.ENV, raising=False)
    assert startup.start_timeout_s() == 180
    monkeypatch.setenv(startup.ENV, "400")
    assert startup.start_timeout_s() == 400
    clock = Clock()
    with pytest.raises(TimeoutError, match=f"within 400 s \\({startup.ENV}\\)"):
        startup.wait_started(
            "x", lambda: False, exited=lambda: None, progress=lambda: clock.now,
            clock=clock, sleep=clock.sleep,
        )  # fmt: skip
    for bad in ("soon", "0", "-5"):
        monkeypatch.setenv(startup.ENV, bad)
        with pytest.raises(ValueError, match=startup.ENV):
            startup.start_timeout_s()


def test_a_url_answers_only_with_a_200() -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert startup.answers(url + "/health")
        assert not startup.answers(url + "/starting")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert not startup.answers(url + "/health", timeout=1)  # nothing listens any more


def test_stop_kills_what_ignores_sigterm_and_passes_over_what_is_gone() -> None:
    """`stop` ends a process that ignores SIGTERM (SIGKILL after its grace), and one already
    ended, or none at all, is left as it is."""
    ignores = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"  # noqa: E501
    # one process, no child: a shell's `sleep` would outlive the shell's SIGKILL
    stubborn = subprocess.Popen([sys.executable, "-c", ignores], stdout=subprocess.PIPE)
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"up\n"  # trap is set
    startup.stop(stubborn, grace_s=0.2)
    assert stubborn.returncode == -signal.SIGKILL
    stubborn.stdout.close()
    polite = subprocess.Popen(["sleep", "60"])
    startup.stop(polite)
    assert polite.returncode == -signal.SIGTERM
    startup.stop(polite)  # gone: nothing to do
    startup.stop(None)
    assert polite.returncode == -signal.SIGTERM
