"""The notify step: deliveries of committed events are claimed (committed, fenced), sent
outside any transaction with a short timeout, a few at once, then each outcome recorded
(services/notify/delivery.py); every so often, jobs waiting past a channel's minutes become
`job.waiting` events (services/notify/waiting.py). A pass waits for its sends at most
`notify.timeout_s` (each send's own limit); a request never waits for any."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from aicc.config import NotifySettings
from aicc.loops.steps import Every, Pass
from aicc.services.common import utcnow
from aicc.services.notify import delivery, senders, waiting

log = logging.getLogger(__name__)
SENDERS = 8  # sends at once
WAITING_EVERY = timedelta(seconds=15)


class Notify:
    """Sends what is due at every pass; checks waiting jobs every WAITING_EVERY."""

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

    def due(self, pass_: Pass) -> bool:
        return True

    def run(self, pass_: Pass) -> None:
        if self.waiting.due(pass_.now()):
            self.waiting.ran()
            with pass_.db.reader() as session:
                wanted = waiting.subscribed(session)
            if wanted:
                with pass_.db.session() as session:
                    pass_.lease.fence(session, pass_.now())
                    waiting.check(session, now=pass_.now())
        holder = pass_.lease.holder
        with pass_.db.reader() as session:
            if not delivery.due(session, now=pass_.now()):
                return
        with pass_.db.session() as session:
            pass_.lease.fence(session, pass_.now())
            claimed = delivery.claim(
                session, pass_.sealer, holder=holder, now=pass_.now(), policy=self.policy
            )
        if not claimed:
            return
        with ThreadPoolExecutor(min(SENDERS, len(claimed)), "aicc-notify") as pool:
            errors = list(pool.map(self._send, [out for _, out in claimed]))
        with pass_.db.session() as session:  # facts: recorded whoever leads now
            for (delivery_id, _), error in zip(claimed, errors, strict=True):
                delivery.record(
                    session,
                    delivery_id,
                    holder=holder,
                    error=error,
                    now=pass_.now(),
                    policy=self.policy,
                )

    def _send(self, out: senders.Outgoing) -> str | None:
        settings = self.settings
        error = senders.send(
            out,
            smtp=settings.smtp,
            timeout_s=settings.timeout_s,
            private_hosts=settings.private_hosts,
        )
        if error is not None:
            log.info("notification %s to %s failed: %s", out.message.delivery_id, out.kind, error)
        return error
