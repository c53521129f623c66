"""The books loop: after each reconcile pass, record usage; now and then, storage (workdirs
and data sets), budget alerts, device utilization samples (read from NVML and the vendors'
tools by executors/local/devices.py every `site.sample_interval_s`, stored by
services/telemetry/samples.py) and this machine's RAPL power (executors/local/rapl.py), which
the meter shares among its node's CPU jobs. Only the leader runs it, and every write is fenced."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from aicc.core.pricing import PricePlan
from aicc.core.topology import DeviceReading
from aicc.executors.local import devices
from aicc.executors.local.rapl import Rapl
from aicc.loops.lease import Lease
from aicc.loops.registry import Declared
from aicc.loops.steps import EveryPass, Pass
from aicc.services.billing import budgets, meter
from aicc.services.common import utcnow
from aicc.services.jobs import metering, workdirs
from aicc.services.serving import metering as served
from aicc.services.telemetry import samples
from aicc.store.db import Database

log = logging.getLogger(__name__)


class Books(EveryPass):
    """Billing's step, after reconcile: `tick` at every pass, up to the pass's `observed`."""

    name = "metering"

    def __init__(
        self,
        db: Database,
        lease: Lease,
        *,
        zone: str,
        power: meter.PowerModel,
        pricing: PricePlan,
        slow_every: timedelta = timedelta(minutes=5),
        sample_every: timedelta | None = timedelta(minutes=1),
        read: Callable[[], list[DeviceReading]] = devices.readings,
        rapl: Rapl | None = None,
        rapl_node: str | None = None,
    ) -> None:
        self.db = db
        self.lease = lease
        self.zone = zone
        self.power = power
        self.pricing = pricing
        self.slow_every = slow_every
        self._next_slow = utcnow()
        self.context = budgets.Context(zone, pricing)  # budget admission (snapshots.build)
        self.sample_every = sample_every
        self.read = read
        # this machine's CPU and memory power (executors/local/rapl.py), for its node's CPU jobs
        self.rapl = rapl if rapl is not None and rapl.available else None
        self.rapl_node = rapl_node
        self._next_sample = utcnow()

    def run(self, pass_: Pass) -> None:
        self.tick(pass_.observed or pass_.started)

    def tick(self, observed_at: datetime) -> None:
        """`observed_at`: a time before the reconciler's last poll of every active replica."""
        with self.db.reader() as session:
            due = metering.due(session, observed_at)
        if due:
            with self.db.session() as session:
                self.lease.fence(session, utcnow())
                books = self._meter(session)
                if metering.meter(session, books, observed_at):
                    session.flush()
                    self._alert(session, utcnow())
        now = utcnow()
        if now >= self._next_slow:
            with self.db.session() as session:
                self.lease.fence(session, now)
                books = self._meter(session)
                books.storage(now, workdirs.archives_held(session))
                books.datasets(now)
                books.images(now)
                served.meter(session, books, now)
                self._alert(session, now)
            self._next_slow = now + self.slow_every
        if self.sample_every is not None and now >= self._next_sample:
            readings = self.read()  # outside the transaction: NVML may take a moment
            watts = self.rapl.watts() if self.rapl is not None else None
            if readings or watts is not None:
                with self.db.session() as session:
                    self.lease.fence(session, now)
                    samples.record(session, now, readings)
                    node_id = samples.node_id(session, self.rapl_node)
                    if watts is not None and node_id is not None:
                        samples.record_power(session, now, [(node_id, watts, "rapl", None)])
            self._next_sample = now + self.sample_every

    def _meter(self, session: Session) -> meter.Meter:
        """A pass's meter, reading the device samples through telemetry (above billing)."""
        return meter.Meter(
            session, zone=self.zone, power=self.power, samples=samples.Measured(session)
        )

    def _alert(self, session: Session, now: datetime) -> None:
        """Budget alerts, spending counted with jobs' running replicas (billing reads none)."""
        held = metering.running(session)
        budgets.alert(session, running=held, now=now, zone=self.zone, default=self.pricing)


STEP = Declared(order=70, build=lambda context: context.books)
