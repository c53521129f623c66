"""The forwarder of a listening replica: connections made in the node's network reach the
replica's port inside its job's network namespace (netns.py, "Reaching a listening replica").

Why a module of its own: netns.py's launcher starts it after joining the namespace (a socket
keeps the namespace it was made in, so the listener is made before), and it is the one part
that reads anything a caller sends: with a replica token (a replica on TCP, Slurm and Ray
nodes), a connection's first request head is read, within HEAD_MAX bytes and HEAD_TIMEOUT_S,
and passed on only if it carries the token once (`head_token`); nothing else is parsed, and
the bytes are piped both ways as they come. Standard library alone: netns.py, run as
`python -I -S`, loads it by its path.
"""

from __future__ import annotations

import contextlib
import ctypes
import hmac
import os
import signal
import socket
import threading
import time

TOKEN_HEADER = "X-AICC-Replica-Token"
HEAD_MAX = 16384  # the first request's head, token included, within this many bytes
HEAD_TIMEOUT_S = 10.0  # ... and within this time of the connection's accept
MAX_PENDING = 256  # connections whose head is still awaited; more are closed at once
BUFFER = 65536
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


def head_token(head: bytes) -> bytes | None:
    """The value of the one `X-AICC-Replica-Token` header of an HTTP request's head (the
    request line and header lines, each ending in CRLF), or None when it has none or several.
    Pure and of the standard library alone: the forwarder runs as `python -I -S`."""
    name = TOKEN_HEADER.lower().encode()
    found = [
        value.strip(b" \t")
        for key, sep, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])
        if sep and key.lower() == name
    ]
    return found[0] if len(found) == 1 else None


FORBIDDEN = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n"
    b"Connection: close\r\n\r\nthis replica answers AICC's gateway alone\n"
)


def _read_head(client: socket.socket) -> bytes | None:
    """What the client sent up to the end of its first request's head (a body or pipelined
    requests after it included), or None when no head ended within HEAD_MAX bytes and
    HEAD_TIMEOUT_S."""
    data = b""
    deadline = time.monotonic() + HEAD_TIMEOUT_S
    try:
        while b"\r\n\r\n" not in data[:HEAD_MAX]:
            left = deadline - time.monotonic()
            if len(data) >= HEAD_MAX or left <= 0:
                return None
            client.settimeout(left)
            chunk = client.recv(HEAD_MAX)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    client.settimeout(None)
    return data


def _forward(listener: socket.socket, port: int, token: bytes | None = None) -> None:
    """Accept in the node's network, connect to 127.0.0.1:`port` in the job's namespace (with
    `token`, for a connection whose first request carries it alone)."""
    pending = threading.BoundedSemaphore(MAX_PENDING)
    while True:
        client, _ = listener.accept()
        if token is not None and not pending.acquire(blocking=False):
            client.close()  # a flood of heads that never end holds no more threads
            continue
        args = (client, port, token, pending)
        threading.Thread(target=_pair, args=args, daemon=True).start()


def _pair(
    client: socket.socket,
    port: int,
    token: bytes | None = None,
    pending: threading.BoundedSemaphore | None = None,
) -> None:
    """One connection: with `token`, its first request's head is read and checked before
    anything reaches the replica (`pending` released once it is read); then both ways piped."""
    first = b""
    if token is not None:
        try:
            head = _read_head(client)
        finally:
            if pending is not None:
                pending.release()
        given = head_token(head[: head.index(b"\r\n\r\n") + 2]) if head else None
        if head is None or given is None or not hmac.compare_digest(given, token):
            with contextlib.suppress(OSError):
                if head is not None:
                    client.sendall(FORBIDDEN)
            client.close()  # nothing reached the replica
            return
        first = head  # passed on as it came, the token header included (see the docstring)
    try:
        inner = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        client.close()  # not listening yet: the caller sees a reset, as without us
        return
    try:
        inner.settimeout(None)
        inner.sendall(first)
    except OSError:
        inner.close()
        client.close()
        return
    # A relay passes each write on as it comes: Nagle's algorithm would hold a request's body
    # (written after its headers) for the peer's delayed ACK, 40 ms a request.
    for sock in (client, inner):
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=_pipe, args=(inner, client), daemon=True)
    back.start()
    _pipe(client, inner)
    back.join()
    client.close()
    inner.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(BUFFER):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def listen(forward: str) -> socket.socket:
    host, _, port = forward.rpartition(":")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host.strip("[]"), int(port)))
    listener.listen(128)
    return listener


def start(listener: socket.socket, port: int, token: bytes | None = None) -> None:
    """A child that forwards for as long as this process (the replica after exec) lives."""
    parent = os.getpid()
    if os.fork() != 0:
        listener.close()
        return
    try:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(0)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        _forward(listener, port, token)
    finally:
        os._exit(0)
