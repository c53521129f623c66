"""The route's relay (`executors/serverroute.py`) with real sockets: bytes pass both ways as
they are, to a job socket at a path too long for a Unix address too; a server that is not
listening closes the job's connection at once; closing the listener ends the accepting."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aicc.executors import serverroute
from aicc.testing.servers import free_port


@contextlib.contextmanager
def echo_server(path: Path) -> Iterator[list[bytes]]:
    """A Unix socket at `path` that answers each connection with what it read, reversed,
    once the client has shut its side; what it read is recorded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"/proc/self/fd/{fd}/{path.name}")
    os.close(fd)
    listener.listen(8)
    seen: list[bytes] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
                seen.append(data)
                conn.sendall(data[::-1])
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield seen
    finally:
        listener.close()


def _ask(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := conn.recv(65536):
            got += chunk
        return got


@pytest.mark.parametrize("deep", [False, True])
def test_bytes_pass_both_ways_as_they_are(tmp_path: Path, deep: bool) -> None:
    folder = tmp_path / ("d" * 120 if deep else "run")
    path = folder / "8080.sock"
    assert (len(str(path)) > serverroute.SUN_PATH) is deep
    body = b"GET /s3/b/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + os.urandom(300_000)
    with echo_server(path) as seen:
        port = free_port()
        listener = serverroute.start(port, str(path))
        try:
            assert [_ask(port, body), _ask(port, b"x")] == [body[::-1], b"x"]
            assert seen == [body, b"x"]
        finally:
            listener.close()


def test_a_server_that_does_not_listen_closes_the_jobs_connection(tmp_path: Path) -> None:
    port = free_port()
    listener = serverroute.start(port, str(tmp_path / "absent.sock"))
    try:
        try:
            answer = _ask(port, b"GET / HTTP/1.1\r\n\r\n")
        except ConnectionResetError:  # closed with the request unread: a reset, as without us
            answer = b""
        assert answer == b""
    finally:
        listener.close()


def test_the_endpoint_and_socket_follow_the_servers_port(tmp_path: Path) -> None:
    assert serverroute.endpoint(8090) == "http://127.0.0.1:8090/s3"
    assert serverroute.socket_path(tmp_path, 8090) == tmp_path / "run" / "route" / "8090.sock"
