"""A send is pinned to the address that was checked (issue 57): the name is resolved once, and
the connection goes to that address with the name as `Host`; a name that answers a public
address to the check and 127.0.0.1 next never reaches 127.0.0.1 (DNS rebinding), shown in a
network namespace of its own, where a public address is unreachable and nothing leaves the
machine. A failed send says what happened in a few words, never the receiver's: a status, a
timeout after `timeout_s` (a receiver that accepts and never answers), a refused connection."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from aicc.config import SmtpSettings
from aicc.services.notify import formats, senders, targets

SMTP = SmtpSettings()


class Receiver:
    """A real HTTP receiver on 127.0.0.1: records who connected and the Host asked for, and
    answers `status` with words of its own."""

    def __init__(self, status: int = 200) -> None:
        self.got: list[tuple[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.got.append((self.client_address[0], self.headers["Host"]))
                body = b"the receiver's own secret words"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    try:
        yield made
    finally:
        made.close()


def outgoing(url: str) -> senders.Outgoing:
    message = formats.Message(
        "ndl_1", "nev_1", "test", "subject", "body", datetime.now(UTC), "o", None
    )
    return senders.Outgoing("webhook", url, None, message)


def test_the_connection_goes_to_the_address_that_was_checked(receiver: Receiver) -> None:
    """The resolver answers 127.0.0.1 (listed for this name) once, a metadata address after:
    one lookup, and the receiver gets the send with the name as its Host."""
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"] if len(asked) == 1 else ["169.254.169.254"]

    url = f"http://hooks.rebind.test:{receiver.port}/hook"
    error = senders.send(
        outgoing(url),
        smtp=SMTP,
        timeout_s=5,
        private_hosts=["hooks.rebind.test"],
        resolve=rebinding,
    )
    assert error is None and asked == ["hooks.rebind.test"]
    assert receiver.got == [("127.0.0.1", f"hooks.rebind.test:{receiver.port}")]
    pin = targets.pinned("https://hooks.example.com/x?a=1", [], lambda h, p: ["2606:2800::1"])
    assert pin.url == "https://[2606:2800::1]/x?a=1" and pin.headers == {
        "Host": "hooks.example.com"
    }
    assert pin.extensions == {"sni_hostname": "hooks.example.com"}  # TLS checks the name


def test_a_name_with_one_inside_address_is_refused_before_any_connection(
    receiver: Receiver,
) -> None:
    def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]

    url = f"http://mixed.test:{receiver.port}/hook"
    error = senders.send(outgoing(url), smtp=SMTP, timeout_s=5, resolve=mixed)
    assert (
        error == "mixed.test resolves to 127.0.0.1, a private address not in notify.private_hosts"
    )
    assert receiver.got == []


REBIND = textwrap.dedent(
    """
    import json, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from datetime import UTC, datetime
    from aicc.config import SmtpSettings
    from aicc.services.notify import formats, senders

    got = []
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(self.headers["Host"])
            self.send_response(200)
            self.end_headers()
        def log_message(self, *args):
            pass
    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    asked = []
    def rebinding(host, port):  # public for the check, this machine after
        asked.append(host)
        return ["93.184.216.34"] if len(asked) == 1 else ["127.0.0.1"]
    url = f"http://rebind.test:{http.server_address[1]}/hook"
    message = formats.Message("ndl_1", "nev_1", "test", "s", "b", datetime.now(UTC), "o", None)
    out = senders.Outgoing("webhook", url, None, message)
    error = senders.send(out, smtp=SmtpSettings(), timeout_s=5, resolve=rebinding)
    print(json.dumps({"error": error, "asked": asked, "got": got}))
    """
)


def test_dns_rebinding_never_reaches_this_machine() -> None:
    """In an empty network namespace (only its loopback: the public address is unreachable at
    once, and nothing leaves), the send goes to the public address the check saw and fails;
    the receiver on 127.0.0.1 gets nothing. (A second lookup would have reached it.)"""
    unshare = shutil.which("unshare")
    probe = [unshare, "-rn", "true"] if unshare else []
    if not probe or subprocess.run(probe, capture_output=True).returncode != 0:
        pytest.skip("no user network namespaces here (unshare -rn)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    ran = subprocess.run(
        [unshare, "-rn", "sh", "-c", f"ip link set lo up 2>/dev/null; exec {sys.executable} -"],
        input=REBIND,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    said = json.loads(ran.stdout.strip().splitlines()[-1])
    assert said["asked"] == ["rebind.test"] and said["got"] == [], said
    assert said["error"] in ("network unreachable", "could not connect"), said


def test_a_failed_send_says_what_happened_not_what_the_receiver_said() -> None:
    refusing = Receiver(status=500)
    try:
        url = f"http://127.0.0.1:{refusing.port}/hook"
        said = senders.send(outgoing(url), smtp=SMTP, timeout_s=5, private_hosts=["127.0.0.1"])
        assert said == "HTTP 500" and len(refusing.got) == 1
    finally:
        refusing.close()
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    said = senders.send(
        outgoing(f"http://127.0.0.1:{port}/hook"),
        smtp=SMTP,
        timeout_s=5,
        private_hosts=["127.0.0.1"],
    )
    assert said == "connection refused"


def test_a_receiver_that_never_answers_times_out_after_timeout_s() -> None:
    stall = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    accepting = threading.Thread(target=lambda: held.append(stall.accept()[0]), daemon=True)
    accepting.start()
    try:
        started = time.monotonic()
        said = senders.send(
            outgoing(f"http://127.0.0.1:{stall.getsockname()[1]}/hook"),
            smtp=SMTP,
            timeout_s=0.5,
            private_hosts=["127.0.0.1"],
        )
        assert said == "timed out after 0.5 s" and time.monotonic() - started < 3
    finally:
        stall.close()
        accepting.join(timeout=5)
        for conn in held:
            conn.close()


def test_kept_clients_are_one_per_host_and_the_idle_ones_are_closed() -> None:
    kept = senders.Clients(timeout_s=1, most=2)
    try:
        with kept.of("http://127.0.0.1:1/a") as first, kept.of("http://127.0.0.1:1/b") as again:
            assert first is again
        with kept.of("https://[::1]:2/") as other:
            assert other is not first
        with kept.of("http://127.0.0.3/"):
            assert first.is_closed  # the least recently used idle one
    finally:
        kept.close()
