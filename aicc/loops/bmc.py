"""The nodes' BMCs step: every BMC read at its node's interval, power limits written, and what
they said kept (services/nodes/bmc.py: health cordons; services/telemetry/samples.py: power,
with the limit in force; samples past `nodes.bmc.history_days` pruned hourly, RAPL's too).

Reading a BMC is slow and may hang, so the step never waits for one: it starts the readings
that are due on a bounded pool of threads (executors/bmc.py `Pool`) and, at a later pass,
keeps those that finished. A BMC that hangs holds one thread for its timeout; the others are
read and kept meanwhile, and the pass goes on at once.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from datetime import timedelta

from aicc.config import BmcSettings
from aicc.core.redfish import Target
from aicc.executors import bmc as redfish_client
from aicc.loops.registry import Declared
from aicc.loops.steps import Every, Pass, Periodic
from aicc.services.common import utcnow
from aicc.services.nodes import bmc
from aicc.services.telemetry import samples

log = logging.getLogger(__name__)
CHECK_EVERY = timedelta(seconds=1)  # how often the step looks for due BMCs and finished ones
PRUNE_EVERY = timedelta(hours=1)  # how often nodes' power samples past the retention go


class Bmcs(Periodic):
    """The `bmc` step (nodes' context)."""

    name = "bmc"

    def __init__(self, settings: BmcSettings) -> None:
        self.settings = settings
        self.pool = redfish_client.Pool(workers=settings.concurrency, timeout_s=settings.timeout_s)
        self.when = Every(CHECK_EVERY, first=utcnow())
        self.pruned = Every(PRUNE_EVERY, first=utcnow())
        self._limits: dict[str, tuple[Target, float | None, Future[str]]] = {}

    def run(self, pass_: Pass) -> None:
        self.when.ran()
        self.keep(pass_)
        self.start(pass_)
        self.prune(pass_)

    def prune(self, pass_: Pass) -> None:
        """Hourly, drop nodes' power samples (BMC and RAPL) older than `history_days`."""
        now = utcnow()
        if not self.pruned.due(now):
            return
        self.pruned.ran()
        with pass_.db.session() as session:
            pass_.lease.fence(session, now)
            samples.prune_power(session, now, timedelta(days=self.settings.history_days))

    def keep(self, pass_: Pass) -> None:
        """Store what finished: readings, power samples, limits written."""
        outcomes = self.pool.done()
        written = [(n, t, w, f.result()) for n, (t, w, f) in self._limits.items() if f.done()]
        for node_id, *_ in written:
            del self._limits[node_id]
        if not outcomes and not written:
            return
        now = utcnow()
        with pass_.db.session() as session:
            pass_.lease.fence(session, now)
            for node_id, _target, watts, error in written:
                bmc.limit_written(session, node_id, watts, error, watts)
            moved = bmc.observe(session, outcomes, now)
            samples.record_power(
                session,
                now,
                [
                    (o.node_id, o.reading.watts, "bmc", o.reading.limit_w)
                    for o in outcomes
                    if o.reading is not None and o.reading.watts is not None
                ],
            )
        for name in moved:
            log.info("node %s: state changed by its BMC's health", name)

    def start(self, pass_: Pass) -> None:
        """Start the readings due and the limits to write; returns at once."""
        now = utcnow()
        with pass_.db.reader() as session:
            targets = bmc.targets(session, pass_.sealer)
            limits = bmc.limits_due(session, pass_.sealer)
        self.pool.submit(
            t
            for t, interval, last in targets
            if bmc.due(interval, last, now) and not self.pool.busy(t.node_id)
        )
        for target, watts in limits:
            if target.node_id not in self._limits:
                future = self.pool.run(
                    redfish_client.set_limit, target, watts, timeout_s=self.settings.timeout_s
                )
                self._limits[target.node_id] = (target, watts, future)

    def close(self) -> None:
        self.pool.close()


STEP = Declared(order=120, build=lambda context: context.bmc)
