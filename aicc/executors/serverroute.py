"""A job's route to the server's S3 endpoint: inside the job's network namespace, a listener on
127.0.0.1:PORT whose every connection is relayed, byte for byte, to the server's job socket.

Why: a client that assumes no shared file system (Snakemake's TES executor runs `snakemake` in
each task) reads its inputs from and writes its outputs to remote storage, and the center's is
`SERVER/s3`; but a job's namespace (netns.py) has no route to the server. The relay parses
nothing: the server's job socket (`socket_path`, 0600 in a 0700 directory of the server's
account, which no sandbox shows) serves the S3 routes alone, any other path 404
(`aicc/api/jobroute.py`), and each request is authenticated there exactly as from outside
(AWS SigV4 with the user's own S3 keys): the route gives a job no identity and no right of its
own. PORT is the server's own port, so a URL `http://127.0.0.1:PORT/s3` given to a client
outside works unchanged inside; the job is told `AICC_S3_ENDPOINT` (`endpoint`).

It runs in netns.py's holder (`python -I -S`: the standard library alone), in the namespace,
for as long as the holder lives: the listener and every relayed connection end with the job's
last replica on the node. A path socket is reached from any network namespace; the holder
runs outside the sandbox, where the server's home exists. At most MAX_CONNECTIONS at once: a
job that opens more gets them closed, not a thread each nor a connection of the server each.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

ENDPOINT_ENV = "AICC_S3_ENDPOINT"  # what the job is told: http://127.0.0.1:PORT/s3
SOCKET_DIR = ("run", "route")  # $AICC_HOME/run/route/PORT.sock: the server's job socket
MAX_CONNECTIONS = 128
BUFFER = 65536
SUN_PATH = 107  # the bytes a Unix socket's address holds


@dataclass(frozen=True)
class Route:
    """What the local executor gives its jobs: the server's port and job socket, and the
    endpoint a job without a namespace (no sandbox: the machine's network) reaches directly,
    the server's own URL."""

    port: int
    socket: Path
    direct: str  # http://HOST:PORT/s3


def socket_path(home: Path, port: int) -> Path:
    """The job socket of the server on `port` with this home (one per port: a standby on
    another port keeps its own)."""
    return home.joinpath(*SOCKET_DIR, f"{port}.sock")


def endpoint(port: int) -> str:
    """The S3 endpoint as a job inside its namespace reaches it."""
    return f"http://127.0.0.1:{port}/s3"


def start(port: int, path: str) -> socket.socket:
    """Listen on 127.0.0.1:`port` (in the caller's network namespace) and relay each
    connection to the Unix socket `path`, in a daemon thread; the listener is returned."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    threading.Thread(target=_accept, args=(listener, path), daemon=True).start()
    return listener


def _accept(listener: socket.socket, path: str) -> None:
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # closed
        if not slots.acquire(blocking=False):
            client.close()
            continue
        threading.Thread(target=_relay, args=(client, path, slots), daemon=True).start()


def _connect(path: str) -> socket.socket:
    """A connection to the Unix socket `path`, however long (through `/proc/self/fd/N/NAME`
    of its directory, as netns.reachable does)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(os.fsencode(path)) <= SUN_PATH:
            server.connect(path)
            return server
        fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            server.connect(f"/proc/self/fd/{fd}/{os.path.basename(path)}")
        finally:
            os.close(fd)
        return server
    except OSError:
        server.close()
        raise


def _relay(client: socket.socket, path: str, slots: threading.BoundedSemaphore) -> None:
    """One connection, both ways, until both sides are done; a server that does not listen
    (stopped, restarting) closes the client's connection at once."""
    try:
        try:
            server = _connect(path)
        except OSError:
            return
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms per request
        back = threading.Thread(target=_pipe, args=(server, client), daemon=True)
        back.start()
        _pipe(client, server)
        back.join()
        server.close()
    finally:
        client.close()
        slots.release()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(BUFFER):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
