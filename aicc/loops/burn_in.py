"""The nodes' burn-in step (issue 40, docs/burn-in.md): start a burn-in on every node in
`burn_in` that runs none, and judge those whose job ended (services/center/burn_in.py). Every
server has it, `nodes.burn_in.enabled` or not (that says whether new nodes join in burn-in): an
operator's `aicc node burn-in` always runs.

While burn-ins run, the step keeps a network sink open: a TCP port that takes what a burn-in
sends and answers one byte once it has it all, so the program measures the node's network to
the control plane. Nodes of this machine reach it on 127.0.0.1; others at
`nodes.burn_in.network_host` where it is set, else they skip the network figure with that
reason. The sink closes once no burn-in runs.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import timedelta

from aicc.config import BurnInSettings
from aicc.loops.registry import Declared
from aicc.loops.steps import Every, Pass, Periodic
from aicc.services.center import burn_in
from aicc.services.common import ServiceError, utcnow
from aicc.services.nodes import burn_ins
from aicc.services.nodes import census as node_census
from aicc.store.blobs import BlobStore

log = logging.getLogger(__name__)
BURN_IN_EVERY = timedelta(seconds=1)
MAX_SENDERS = 8  # burn-ins measured at once; more wait in the backlog
MIB = 1 << 20


class Sink:
    """A TCP port that reads what each connection sends (at most `limit` bytes), then answers
    `!`: the far end's clock then covers delivery."""

    def __init__(self, host: str, limit: int) -> None:
        self.limit = limit
        self.sock = socket.create_server((host, 0), backlog=MAX_SENDERS)
        self.port = int(self.sock.getsockname()[1])
        self.slots = threading.BoundedSemaphore(MAX_SENDERS)
        self.thread = threading.Thread(target=self._accept, name="aicc-burn-in-sink", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.slots.acquire()
            threading.Thread(target=self._take, args=(conn,), daemon=True).start()

    def _take(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(60.0)
                taken = 0
                while taken <= self.limit:
                    chunk = conn.recv(MIB)
                    if not chunk:
                        conn.sendall(b"!")
                        return
                    taken += len(chunk)
        except OSError:
            return
        finally:
            self.slots.release()

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


class BurnIn(Periodic):
    """Every `BURN_IN_EVERY`: judge the burn-ins whose job ended, then start one on each node
    waiting for one. Writes fenced by the lease."""

    name = "burn_in"

    def __init__(
        self, settings: BurnInSettings, blobs: BlobStore, same_host: frozenset[str]
    ) -> None:
        self.settings = settings
        self.blobs = blobs
        self.same_host = same_host
        self.when = Every(BURN_IN_EVERY, first=utcnow())
        self.sink: Sink | None = None

    def run(self, pass_: Pass) -> None:
        """Read first, without a write: most runs find nothing to do, and take no lock."""
        self.when.ran()
        with pass_.db.reader() as session:
            ended = burn_in.any_ended(session)
            waiting = burn_ins.waiting(session)
            busy = bool(waiting) or burn_ins.any_running(session)
        if not busy:
            self._close_sink()
            return
        if ended:
            with pass_.db.session() as session:
                pass_.lease.fence(session, utcnow())
                for name in burn_in.finish(session, pass_.executors, self.settings, utcnow()):
                    log.info("node %s: burn-in judged", name)
        for name in waiting:
            self._start(pass_, name)

    def _start(self, pass_: Pass, name: str) -> None:
        """One node's burn-in, in its own transaction: a node that cannot start one (no
        admin, a spec refused) is logged and tried again at the next run."""
        try:
            with pass_.db.session() as session:
                pass_.lease.fence(session, utcnow())
                node = node_census.named(session, name)
                executor = node.executor if node is not None else ""
                started = burn_in.start(
                    session,
                    name,
                    settings=self.settings,
                    blobs=self.blobs,
                    peer=self._peer(executor),
                    same_host=self.same_host,
                )
            log.info("node %s: burn-in %s started", name, started)
        except (ServiceError, ValueError) as err:  # ValueError: a spec refused (pydantic's)
            log.warning("node %s: its burn-in could not start: %s", name, err)

    def _peer(self, executor: str) -> str | None:
        """HOST:PORT of the sink as a node of `executor` reaches it, or None."""
        host = self.settings.network_host
        if host is None and executor not in self.same_host:
            return None
        if self.sink is None:
            limit = (self.settings.network_mib + 1) * MIB
            self.sink = Sink("0.0.0.0" if host else "127.0.0.1", limit)
        return f"{host or '127.0.0.1'}:{self.sink.port}"

    def _close_sink(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None


STEP = Declared(order=140, build=lambda context: context.burn_in)
