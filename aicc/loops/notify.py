"""Notifications' deliveries, in a thread of their own beside the controller's (as the
federation loop's): a send waits on the network (up to `notify.timeout_s`), and a pass of the
loops must not wait with it, nor deliveries wait for the next pass. The thread claims what is
due into the free senders (`notify.senders`; committed, fenced by the controller's lease; at
most `notify.per_org` of one organization at once, services/notify/delivery.py), and each
sender sends outside any transaction, hands its outcome back and wakes the thread, which
records what ended (one transaction for all of them) and claims more: no send waits for
another, so a tenant's receiver that never answers holds that tenant's senders until the
timeout and nobody else's. It wakes after each commit in this process that
emitted an event with a delivery (`events.EMITTED`, wired in api/state.py; a channel's test
message too), when a send ends, and every `RETRY_S` for retries that came due (and events
another process emitted). It acts only while this server leads.

The `notify` step of a pass turns jobs waiting past a channel's minutes into `job.waiting`
events every WAITING_EVERY; it sends deliveries itself only when the thread is not running (a
controller driven by `tick()` alone, as tests and benchmarks do). A request never waits for a
send."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from aicc.config import NotifySettings
from aicc.loops.lease import Lease, LostLease
from aicc.loops.registry import Declared
from aicc.loops.steps import Every, Pass
from aicc.services.common import utcnow
from aicc.services.jobs import waits_told
from aicc.services.notify import delivery, senders
from aicc.store.db import Database
from aicc.store.sealing import Sealer

log = logging.getLogger(__name__)
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
            per_org=settings.per_org,
        )
        self.waiting = Every(WAITING_EVERY, first=utcnow())
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = senders.Clients(settings.timeout_s)  # shared by the sends, thread-safe
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._busy: dict[str, str] = {}  # claimed and not yet recorded: id -> organization
        self._done: list[tuple[str, str | None]] = []  # sent, to record: (id, error)
        self._started: tuple[Database, Lease] | None = None  # the thread's, for `stop`
        # Something new to claim (a commit's wake, the retry timer); a send that ended only
        # frees a sender. Refilling after each one cost a claim transaction a send: at 100
        # events/s, SQLite's writers queued behind them (p99 59-347 ms before, 512 ms after).
        self._fresh = True

    # --- the step ---------------------------------------------------------------------------

    def due(self, pass_: Pass) -> bool:
        return self._thread is None or self.waiting.due(pass_.now())

    def run(self, pass_: Pass) -> None:
        if self.waiting.due(pass_.now()):
            self.waiting.ran()
            with pass_.db.reader() as session:
                wanted = waits_told.subscribed(session)
            if wanted:
                with pass_.db.session() as session:
                    pass_.lease.fence(session, pass_.now())
                    waits_told.check(session, now=pass_.now())
                self.wake()
        if self._thread is None:
            self.drain(pass_.db, pass_.lease, pass_.sealer, wait=True)

    # --- the thread -------------------------------------------------------------------------

    def start(self, db: Database, lease: Lease, sealer: Sealer) -> None:
        def run() -> None:
            while not self._stop.is_set():
                if not self._wake.wait(RETRY_S):
                    self._fresh = True  # retries come due, events of other processes
                self._wake.clear()
                if self._stop.is_set() or not lease.held:
                    continue
                try:
                    self.drain(db, lease, sealer, wait=False)
                except LostLease:
                    pass  # another server leads: it delivers
                except Exception:  # the database is away: the next wake tries again
                    log.warning("delivering notifications failed", exc_info=True)

        self._stop.clear()
        self._started = (db, lease)
        self._http = senders.Clients(self.settings.timeout_s)
        self._thread = threading.Thread(target=run, name="aicc-notify", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """New deliveries committed (or a test message queued): claim them at once."""
        self._fresh = True
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout_s + 30)
            self._thread = None
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:  # the sends in flight end within their timeout
            pool.shutdown(wait=True, cancel_futures=True)
        if self._started is not None:
            self._record(*self._started)
            self._started = None
        self._http.close()  # its connections; `start` opens others

    def drain(self, db: Database, lease: Lease, sealer: Sealer, *, wait: bool = True) -> int:
        """Claim what is due into the free senders and start each send; how many started.
        The thread's (`wait` False) returns once the senders are full or nothing is due: each
        send records itself and wakes the thread. A pass's (`wait`) waits for its sends and
        goes on until nothing is due."""
        started = 0
        refill = max(1, self.settings.senders // 2)
        while not self._stop.is_set():
            with self._lock:
                ended, running = len(self._done), len(self._busy) - len(self._done)
            if not wait and not self._fresh and ended < refill and running > 0:
                return started  # record and refill by halves while nothing new waits
            self._fresh = False
            self._record(db, lease)
            with self._lock:
                busy = dict(self._busy)
            room = self.settings.senders - len(busy)
            if room <= 0:
                return started
            with db.reader() as session:
                if not delivery.due(session, now=utcnow(), busy=busy):
                    return started
            with db.session() as session:
                lease.fence(session, utcnow())
                claimed = delivery.claim(
                    session,
                    sealer,
                    holder=lease.holder,
                    now=utcnow(),
                    policy=self.policy,
                    busy=busy,
                    room=room,
                )
            if not claimed:
                return started
            sends = self._start(db, lease, claimed)
            started += len(claimed)
            if wait:
                for sent in sends:
                    sent.result()
        self._record(db, lease)
        return started

    def _start(
        self, db: Database, lease: Lease, claimed: list[tuple[str, senders.Outgoing]]
    ) -> list[Future[None]]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.settings.senders, "aicc-notify-send")
            pool = self._pool
            for delivery_id, out in claimed:
                self._busy[delivery_id] = out.message.org_id
        return [pool.submit(self._deliver, db, lease, d, out) for d, out in claimed]

    def _deliver(self, db: Database, lease: Lease, delivery_id: str, out: senders.Outgoing) -> None:
        """Send one, hand back how it went and wake the thread to record it."""
        error = self._send(out)
        with self._lock:
            self._done.append((delivery_id, error))
        self._wake.set()

    def _record(self, db: Database, lease: Lease) -> None:
        """Record the sends that ended, in one transaction (facts: recorded whoever leads now).
        A record the database refused leaves them `sending`: the next claim takes them back
        and sends them again (at least once)."""
        with self._lock:
            done, self._done = self._done, []
        if not done:
            return
        try:
            with db.session() as session:
                for delivery_id, error in done:
                    delivery.record(
                        session,
                        delivery_id,
                        holder=lease.holder,
                        error=error,
                        now=utcnow(),
                        policy=self.policy,
                    )
        except Exception:
            log.warning("recording %d notifications failed", len(done), exc_info=True)
        finally:
            with self._lock:
                for delivery_id, _ in done:
                    self._busy.pop(delivery_id, None)

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


STEP = Declared(order=100, build=lambda context: context.notify)
