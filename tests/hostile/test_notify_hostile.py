"""Notifications against a hostile tenant (issue 57), on a real `aicc serve` process: tenant A
keeps 50 channel tests in flight to a receiver that accepts the connection and never answers,
and another tenant's `GET /me` stays as quick as it was (before: each test held a server worker
until `notify.timeout_s`, and B's median went from milliseconds to seconds); A's queue is
bounded (a 429 that says why), another tenant's test comes back while A's still hang, and a
test's result says the receiver's status and never its words."""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aicc.testing.servers import TEST_RATE_LIMIT, ServerProcess, free_port
from aicc.testing.tenants import Tenant, make_tenant

TIMEOUT_S = 3.0  # notify.timeout_s: how long a stalled send holds whatever waits on it
IN_FLIGHT = 50
CALLS = 20
SECRET_WORDS = "internal-db-password-in-the-receivers-answer"


class Stall:
    """A TCP receiver on 127.0.0.1 that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.held: list[socket.socket] = []
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        for conn in self.held:
            conn.close()
        self.thread.join(timeout=5)


class Refusing:
    """An HTTP receiver that answers 500 with words of its own (what a tenant must not read)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = SECRET_WORDS.encode()
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/hook"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One `aicc serve` for the module, its channels allowed to reach this machine's receivers."""
    home: Path = tmp_path_factory.mktemp("notify-hostile") / "home"
    home.mkdir()
    config = {
        "loop_interval_s": 0.2,
        "limits": {"rate_limit": TEST_RATE_LIMIT},
        "notify": {"private_hosts": ["127.0.0.1"], "timeout_s": TIMEOUT_S},
    }
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    server = ServerProcess(home, free_port())
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def stall() -> Iterator[Stall]:
    receiver = Stall()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def refusing() -> Iterator[Refusing]:
    receiver = Refusing()
    try:
        yield receiver
    finally:
        receiver.close()


def webhook(admin: httpx.Client, who: Tenant, url: str) -> str:
    made = admin.post(
        "/api/v1/notify/channels",
        json={"name": "hook", "kind": "webhook", "target": url, "events": ["quota.*"]},
        headers=who.headers,
    )
    assert made.status_code == 201, made.text
    channel_id: str = made.json()["id"]
    return channel_id


def p50_of_me(client: httpx.Client, calls: int = CALLS) -> float:
    """The median seconds of `calls` `GET /me` in a row; one not answered in 3 s counts 3 s."""
    took = []
    for _ in range(calls):
        started = time.perf_counter()
        try:
            assert client.get("/api/v1/me", timeout=3.0).status_code == 200
            took.append(time.perf_counter() - started)
        except httpx.TimeoutException:
            took.append(3.0)
    return statistics.median(took)


def result_of(admin: httpx.Client, who: Tenant, queued: httpx.Response, within: float) -> Any:
    """The test's result once it is sent or failed (polled, as the CLI does)."""
    deadline = time.monotonic() + within
    while True:
        answer = admin.get(queued.headers["Location"], headers=who.headers)
        assert answer.status_code == 200, answer.text
        if answer.json()["state"] in ("sent", "failed") or time.monotonic() > deadline:
            return answer.json()
        time.sleep(0.1)


def test_one_tenants_stalled_tests_do_not_slow_another_tenant(
    served: ServerProcess, stall: Stall, refusing: Refusing
) -> None:
    with served.client() as admin, httpx.Client(base_url=served.url, timeout=30) as calls:
        a = make_tenant(admin, "hostile-notify-a")
        b = make_tenant(admin, "hostile-notify-b")
        c = make_tenant(admin, "hostile-notify-c")
        a_channel = webhook(admin, a, stall.url)
        c_channel = webhook(admin, c, refusing.url)
        calls.headers.update(b.headers)
        for _ in range(3):  # connections and caches warm
            calls.get("/api/v1/me")
        quiet = p50_of_me(calls)

        stop = threading.Event()
        answers: list[httpx.Response] = []

        def keep_one_in_flight() -> None:
            """One of A's 50: a test, then the next once `notify.timeout_s` is over (a call
            that hangs that long is in flight all the time)."""
            with httpx.Client(base_url=served.url, headers=a.headers, timeout=60) as mine:
                while not stop.is_set():
                    started = time.monotonic()
                    with contextlib.suppress(httpx.HTTPError):  # old code: a client timeout
                        answers.append(mine.post(f"/api/v1/notify/channels/{a_channel}/test"))
                    stop.wait(TIMEOUT_S - (time.monotonic() - started))

        hammers = [threading.Thread(target=keep_one_in_flight) for _ in range(IN_FLIGHT)]
        try:
            for hammer in hammers:
                hammer.start()
            time.sleep(1.0)  # all 50 sent (before: 40 of them held every worker)
            loaded = p50_of_me(calls)
            assert loaded <= 2 * quiet + 0.05, (
                f"B's GET /me p50: {quiet:.4f} s quiet, {loaded:.4f} s"
            )
            # C's test comes back while A's hang: the senders are shared fairly
            c_started = time.monotonic()
            c_queued = admin.post(f"/api/v1/notify/channels/{c_channel}/test", headers=c.headers)
            c_result = result_of(admin, c, c_queued, within=2 * TIMEOUT_S)
            c_took = time.monotonic() - c_started
        finally:
            stop.set()
            for hammer in hammers:
                hammer.join(timeout=60)

        # A's queue is bounded: the rest of the 50 are told why, at once
        codes = [answer.status_code for answer in answers]
        assert set(codes) <= {202, 429}, codes
        first_round = codes[:IN_FLIGHT]  # later rounds find some of A's tests done
        assert 1 <= first_round.count(202) <= 10 and first_round.count(429) >= 40, codes
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert "test messages of your organization are still waiting" in refused.text
        assert c_queued.status_code == 202, c_queued.text
        assert c_result["state"] == "failed" and c_took < 2 * TIMEOUT_S, (c_result, c_took)
        assert (c_result["status_code"], c_result["error"]) == (500, "HTTP 500")
        assert SECRET_WORDS not in c_queued.text + str(c_result)

        # A's own tests end, each after the timeout, saying so in a few words
        first = next(answer for answer in answers if answer.status_code == 202)
        a_result = result_of(admin, a, first, within=10 * TIMEOUT_S)
        assert a_result["state"] == "failed", a_result
        assert a_result["error"] == f"timed out after {TIMEOUT_S:g} s"
        assert a_result["status_code"] is None
