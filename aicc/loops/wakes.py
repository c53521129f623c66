"""Waking the loops of another process.

With `workers`, the API runs in worker processes and the loops in the server's first process
(`server._serve_workers`), so a scheduling pass never holds the interpreter lock a request is
waiting for. A route's `wake()` after a submit reaches the loops as a datagram on loopback. It is
only a hint: the loops are level-triggered and pass every `loop_interval_s` anyway, so a lost
datagram costs at most one interval.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


class Listener:
    """Calls `wake` for each datagram that reaches its port (bound at once, on loopback)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((LOOPBACK, 0))
        self.port: int = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="aicc-wakes", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                got = self._socket.recv(16)
            except OSError:  # closed: the server is stopping
                return
            if not got:  # shut down: the server is stopping
                return
            self.wake()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()


class Sender:
    """Sends one datagram to a `Listener`'s port; never blocks, never raises."""

    def __init__(self, port: int) -> None:
        self.address = (LOOPBACK, port)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def __call__(self) -> None:
        try:
            self._socket.sendto(b"w", self.address)
        except OSError:  # a full buffer already holds a wake; a gone listener wakes no one
            log.debug("waking the loops at %s failed", self.address, exc_info=True)
