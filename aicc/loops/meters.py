"""The facility meters step: every meter read at its interval over Modbus TCP or SNMP, what
it said kept, and the hours that are over closed with their measured PUE or their gap
(services/billing/facility.py).

Reading a meter may hang, so the step never waits for one: it starts the readings that are due
on a bounded pool of threads (executors/meters.py `Pool`) and, at a later pass, keeps those that
finished. A meter that hangs holds one thread for its timeout; the others are read and kept
meanwhile, and the pass goes on at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from aicc.config import METER_PORTS, MeterSettings
from aicc.core.meters import Oid, Register, Target, Usm
from aicc.executors import meters as modbus
from aicc.loops.registry import Declared
from aicc.loops.steps import Every, Pass, Periodic
from aicc.services.billing import facility
from aicc.services.common import utcnow

log = logging.getLogger(__name__)
CHECK_EVERY = timedelta(seconds=1)  # how often the step looks for due meters and finished ones
PRUNE_EVERY = timedelta(hours=1)


def target(meter: MeterSettings) -> Target:
    """The reader's view of a configured meter: its register map (Modbus) or OID (SNMP)."""
    point: Register | Oid
    if meter.oid is not None:
        o = meter.oid
        point = Oid(o.oid.lstrip("."), o.type, o.scale, o.unit)
    else:
        r = meter.registers
        assert r is not None  # config: a modbus meter has its registers
        point = Register(r.address, r.type, r.word_order, r.scale, r.unit, r.table)
    return Target(
        name=meter.name,
        role=meter.role,
        host=meter.host,
        port=meter.port or METER_PORTS[meter.protocol],
        unit_id=meter.unit_id,
        register=point,
        timeout_s=meter.timeout_s,
        community=meter.community.get_secret_value() if meter.community else "",
        usm=_usm(meter),
    )


def _usm(meter: MeterSettings) -> Usm | None:
    v3 = meter.snmpv3
    if v3 is None:
        return None
    return Usm(
        user=v3.user,
        auth_protocol=v3.auth_protocol,
        auth_key=v3.auth_key.get_secret_value(),
        priv_protocol=v3.priv_protocol,
        priv_key=v3.priv_key.get_secret_value() if v3.priv_key else "",
        context=v3.context,
    )


class Meters(Periodic):
    """The `meters` step (center context); built only when `meters:` lists some."""

    name = "meters"

    def __init__(self, meters: Sequence[MeterSettings]) -> None:
        self.meters = list(meters)
        self.targets = [target(m) for m in self.meters]
        self.listed = [(t.name, t.role, t.register.measures) for t in self.targets]
        self.pool = modbus.Pool(workers=min(len(self.meters), 16) or 1)
        self.when = Every(CHECK_EVERY, first=utcnow())
        self._last: dict[str, datetime] = {}
        self._pruned: datetime | None = None

    def run(self, pass_: Pass) -> None:
        self.when.ran()
        self.keep(pass_)
        self.start()

    def keep(self, pass_: Pass) -> None:
        """Store what finished, close the hours that are over, prune old samples."""
        outcomes = self.pool.done()
        if not outcomes:  # every reading ends in an outcome, an error too: hours close then
            return
        now = utcnow()
        with pass_.db.session() as session:
            pass_.lease.fence(session, now)
            facility.record(session, outcomes, now)
            closed = facility.close_hours(session, self.listed, now)
            if self._pruned is None or now - self._pruned >= PRUNE_EVERY:
                facility.prune(session, now)
                self._pruned = now
        for outcome in outcomes:
            if outcome.error:
                log.info("facility meter %s: %s", outcome.meter, outcome.error)
        if closed:
            log.info("facility meters: %d hour(s) closed", closed)

    def start(self) -> None:
        """Start the readings due; returns at once."""
        now = utcnow()
        due = []
        for meter, t in zip(self.meters, self.targets, strict=True):
            last = self._last.get(t.name)
            if self.pool.busy(t.name) or (
                last is not None and now - last < timedelta(seconds=meter.interval_s)
            ):
                continue
            self._last[t.name] = now
            due.append(t)
        self.pool.submit(due)

    def close(self) -> None:
        self.pool.close()


STEP = Declared(order=130, build=lambda context: context.meters)
