"""Notifications' deliveries, in a thread of their own beside the controller's (as the
federation loop's): a send waits on the network (up to `notify.timeout_s`), and a pass of the
loops must not wait with it, nor deliveries wait for the next pass. The thread drains what is
due: it claims a batch (committed, fenced by the controller's lease), sends it outside any
transaction a few at once, records each outcome (services/notify/delivery.py), and goes on
until nothing is due. It wakes after each commit in this process that emitted an event with a
delivery (`events.EMITTED`, wired in api/state.py) and every `RETRY_S` for retries that came
due (and events another process emitted). It acts only while this server leads.

The `notify` step of a pass turns jobs waiting past a channel's minutes into `job.waiting`
events every WAITING_EVERY; it sends deliveries itself only when the thread is not running (a
controller driven by `tick()` alone, as tests and benchmarks do). A request never waits for a
send."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from aicc.config import NotifySettings
from aicc.loops.lease import Lease, LostLease
from aicc.loops.steps import Every, Pass
from aicc.services.common import utcnow
from aicc.services.notify import delivery, senders, waiting
from aicc.store.db import Database
from aicc.store.sealing import Sealer

log = logging.getLogger(__name__)
SENDERS = 8  # sends at once
WAITING_EVERY = timedelta(seconds=15)
RETRY_S = 1.0  # how often the thread looks for retries come due without a wake


class Notify:
    """The deliveries' thread (`start`, `wake`, `stop`) and the `notify` step."""

    name = "notify"

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self.policy = delivery.Policy(
            backoff_s=settings.backoff_s,
            backoff_max_s=settings.backoff_max_s,
            max_attempts=settings.max_attempts,
            batch=settings.batch,
        )
        self.waiting = Every(WAITING_EVERY, first=utcnow())
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = senders.client(settings.timeout_s)  # shared by the sends, thread-safe

    # --- the step ---------------------------------------------------------------------------

    def due(self, pass_: Pass) -> bool:
        return self._thread is None or self.waiting.due(pass_.now())

    def run(self, pass_: Pass) -> None:
        if self.waiting.due(pass_.now()):
            self.waiting.ran()
            with pass_.db.reader() as session:
                wanted = waiting.subscribed(session)
            if wanted:
                with pass_.db.session() as session:
                    pass_.lease.fence(session, pass_.now())
                    waiting.check(session, now=pass_.now())
                self.wake()
        if self._thread is None:
            self.drain(pass_.db, pass_.lease, pass_.sealer)

    # --- the thread -------------------------------------------------------------------------

    def start(self, db: Database, lease: Lease, sealer: Sealer) -> None:
        def run() -> None:
            while not self._stop.is_set():
                self._wake.wait(RETRY_S)
                self._wake.clear()
                if self._stop.is_set() or not lease.held:
                    continue
                try:
                    self.drain(db, lease, sealer)
                except LostLease:
                    pass  # another server leads: it delivers
                except Exception:  # the database is away: the next wake tries again
                    log.warning("delivering notifications failed", exc_info=True)

        self._stop.clear()
        self._http = senders.client(self.settings.timeout_s)
        self._thread = threading.Thread(target=run, name="aicc-notify", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout_s + 30)
            self._thread = None
        self._http.close()  # its connections; `start` opens another

    def drain(self, db: Database, lease: Lease, sealer: Sealer) -> int:
        """Send what is due, a batch after another, until nothing is; how many were sent."""
        sent = 0
        while not self._stop.is_set():
            with db.reader() as session:
                if not delivery.due(session, now=utcnow()):
                    return sent
            with db.session() as session:
                lease.fence(session, utcnow())
                claimed = delivery.claim(
                    session, sealer, holder=lease.holder, now=utcnow(), policy=self.policy
                )
            if not claimed:
                return sent
            with ThreadPoolExecutor(min(SENDERS, len(claimed)), "aicc-notify-send") as pool:
                errors = list(pool.map(self._send, [out for _, out in claimed]))
            with db.session() as session:  # facts: recorded whoever leads now
                for (delivery_id, _), error in zip(claimed, errors, strict=True):
                    delivery.record(
                        session,
                        delivery_id,
                        holder=lease.holder,
                        error=error,
                        now=utcnow(),
                        policy=self.policy,
                    )
            sent += len(claimed)
        return sent

    def _send(self, out: senders.Outgoing) -> str | None:
        settings = self.settings
        error = senders.send(
            out,
            smtp=settings.smtp,
            timeout_s=settings.timeout_s,
            private_hosts=settings.private_hosts,
            http=self._http,
        )
        if error is not None:
            log.info("notification %s to %s failed: %s", out.message.delivery_id, out.kind, error)
        return error
