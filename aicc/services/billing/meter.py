"""Metering: usage records from the replicas' own start and end times, exactly once.

A replica's resources are billed from its start to its end as the supervisor recorded them
(its `started_at` / `ended_at`, written by the reconciler from the engine's status, so a server
that was down when a replica ended still bills the right end). Usage is cut at every whole
hour: one record per (replica, clock hour, accelerator model), keyed so that writing it twice
is impossible (`UsageRow.key` is unique); the replica's `metered_to` remembers how far it has
been recorded. Replicas are jobs' tables: jobs hands the meter their facts (`ReplicaUse`) and
writes back the `metered_to` that `Meter.compute` returns, in the same transaction as the
records (services/jobs/metering.py).

A running replica is recorded only for hours that closed before `observed_at`, a time at which
the reconciler had just seen it running; the rest follows once it ends. So a restart, a lost
pass or a second leader can neither record a second time nor drop an interval.

Storage: each organization's uploaded workdirs (jobs hands them over), one record per archive
and billing day, once the day is over (bytes × the share of the day it was held). Each
project's data sets, from the levels written as they change (services/data/storage.py): one
record per stretch of a level within a billing day, once the day is over, keyed by the project
and the stretch's start.

Requests through the gateway: the request log (`GatewayRequestRow`, one row per request with
its own id, written before the answer's last bytes) is rolled up once an hour has closed
(`LATE` after it): one `requests` record per deployment, adapter (`model: "BASE:NAME"`, or
none) and clock hour with the answered requests and their prompt and completion tokens; the
rows get that record's id in the same transaction, so each answered request is on one record,
once.

Energy (kWh) of a record on real devices: Σ devices TDP × (idle + (1 − idle) × busy) × share
× hours × PUE / 1000, where busy is the mean NVML utilization sampled on those devices during
the record's interval, else the site's `assumed_utilization`; simulated devices use none. A
record without accelerators: the node's measured mean power in the interval (RAPL or its BMC)
× the replica's share of the node's CPU and memory (core/energy.py `node_share`) × hours × PUE.
Each record names its method (`energy_method`: rapl, bmc, nvml, estimated). PUE is the
record's clock hour's as the facility meters measured it where they did (`pue_method`
measured; services/billing/facility.py), else the site's energy profile's or constant
(`configured`), and the record keeps the PUE it used (`pue`); the grid's carbon intensity is
the hour's too (the site's energy profile, else its constant); carbon (kg CO₂) = kWh ×
gCO₂/kWh / 1000, written with the record and never recomputed: a pass that finds the
record's key written leaves it as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aicc.config import SiteSettings
from aicc.core import accelerator_names, periods
from aicc.core import energy as energy_model
from aicc.core.energy import EnergyProfile
from aicc.services.billing import facility
from aicc.services.billing.rating import BATCH, DATASETS, IMAGES
from aicc.services.billing.views import Archive, ReplicaUse
from aicc.services.tenancy import directory
from aicc.store.tables import (
    NODE_INDEX,
    DeviceRow,
    DeviceSampleRow,
    GatewayRequestRow,
    ImageStorageLevelRow,
    NodeRow,
    StorageLevelRow,
    UsageRow,
)

US = timedelta(microseconds=1)
LATE = timedelta(minutes=5)  # a data set change commits within this of the time it records


@dataclass(frozen=True)
class PowerModel:
    """The site's power and carbon model (`site` settings): the profile's figure for an hour
    where it has one, else the constant."""

    pue: float = 1.3
    idle_fraction: float = 0.15
    assumed_utilization: float = 1.0
    carbon_intensity: float = 536.6  # gCO₂/kWh (config.SiteSettings says where it comes from)
    profile: EnergyProfile | None = None

    @classmethod
    def of_site(cls, site: SiteSettings, profile: EnergyProfile | None) -> PowerModel:
        """The model the `site` settings describe, with the site's energy profile (loaded by
        the caller, which knows what a bad one means to it)."""
        return cls(
            site.pue,
            site.idle_power_fraction,
            site.assumed_utilization,
            carbon_intensity=site.carbon_intensity,
            profile=profile,
        )

    def pue_at(self, hour: datetime) -> float:
        found = self.profile.pue_at(hour) if self.profile is not None else None
        return self.pue if found is None else found

    def carbon_at(self, hour: datetime) -> float:
        """gCO₂ per kWh of the grid in the clock hour holding `hour`."""
        found = self.profile.carbon_at(hour) if self.profile is not None else None
        return self.carbon_intensity if found is None else found


@dataclass(frozen=True)
class _Group:
    model: str
    simulated: bool
    milli: int
    picks: tuple[tuple[int, int], ...]  # (device index, milli)


@dataclass
class Metered:
    """A compute pass's outcome: the records written, and how far each replica is now
    recorded (what jobs writes back as its `metered_to`, in the same transaction)."""

    written: int = 0
    metered_to: dict[str, datetime] = field(default_factory=dict)


def _groups(rep: ReplicaUse, devices: dict[tuple[str, int], tuple[str, bool]]) -> list[_Group]:
    by_model: dict[tuple[str, bool], list[tuple[int, int]]] = {}
    for index, milli in rep.devices:
        model, simulated = devices.get((rep.node_id, index), ("", False))
        by_model.setdefault((model, simulated), []).append((index, milli))
    return [
        _Group(model, simulated, sum(m for _, m in picks), tuple(picks))
        for (model, simulated), picks in sorted(by_model.items())
    ]


def _tdp(model: str) -> float:
    try:
        return float(accelerator_names.lookup(model).tdp_w)
    except KeyError:
        return 0.0


class Meter:
    """One metering pass over the store (the caller owns the transaction and its fence)."""

    def __init__(self, session: Session, *, zone: str, power: PowerModel) -> None:
        self.session = session
        self.zone = zone
        self.power = power
        self.devices = {
            (n, i): (m, bool(s))
            for n, i, m, s in session.execute(
                select(DeviceRow.node_id, DeviceRow.index, DeviceRow.model, DeviceRow.simulated)
            )
        }
        self.sampled = session.scalar(select(func.count()).select_from(DeviceSampleRow)) or 0
        self.nodes = {
            n: (c, m)
            for n, c, m in session.execute(
                select(NodeRow.id, NodeRow.cpu_milli, NodeRow.memory_mib)
            )
        }
        self.metered = facility.any_meter(session)
        self._pues: dict[datetime, tuple[float, str]] = {}
        self.measured = (
            self.sampled
            and session.scalar(
                select(DeviceSampleRow.id).where(DeviceSampleRow.index == NODE_INDEX).limit(1)
            )
            is not None
        )

    def compute(self, replicas: Iterable[ReplicaUse], observed_at: datetime) -> Metered:
        """Record what these replicas (started, not yet recorded to their end) used up to
        their end, or to the last whole hour before `observed_at` while they run."""
        out = Metered()
        closed = periods.hour_floor(observed_at)
        for rep in replicas:
            assert rep.started_at is not None
            start = rep.metered_to or rep.started_at
            upto = rep.ended_at if rep.ended_at is not None else closed
            if upto <= start:
                if rep.ended_at is not None:  # ended as it started (an engine's whole seconds)
                    out.metered_to[rep.id] = rep.ended_at  # nothing to bill, never asked again
                continue
            for seg_start, seg_end in periods.hour_segments(start, upto):
                out.written += self._record(rep, seg_start, seg_end)
            out.metered_to[rep.id] = upto
        return out

    def _pue(self, start: datetime) -> tuple[float, str]:
        """The PUE of the clock hour holding `start` and how it was found: measured by the
        facility meters, else configured (their hour was a gap, or there are none)."""
        hour = periods.hour_floor(start)
        if hour not in self._pues:
            found = facility.pue_of_hour(self.session, hour) if self.metered else None
            configured = (self.power.pue_at(hour), "configured")
            self._pues[hour] = (found, "measured") if found is not None else configured
        return self._pues[hour]

    def _exists(self, key: str) -> bool:
        return self.session.scalar(select(UsageRow.id).where(UsageRow.key == key)) is not None

    def _record(self, rep: ReplicaUse, start: datetime, end: datetime) -> int:
        hour = periods.hour_floor(start).strftime("%Y%m%dT%H")
        groups = _groups(rep, self.devices) or [_Group("", False, 0, ())]
        duration_us = (end - start) // US
        hours = duration_us / 3.6e9
        written = 0
        for n, group in enumerate(groups):
            key = f"c:{rep.id}:{hour}:{group.model}"
            if self._exists(key):  # recorded by an earlier pass that lost its bookkeeping
                continue
            busy = None if group.simulated else self._busy(rep.node_id, group.picks, start, end)
            energy = 0.0
            method: str | None = None
            pue, pue_method = self._pue(start)
            if group.model and not group.simulated:
                util = busy if busy is not None else self.power.assumed_utilization
                watts = _tdp(group.model) * (
                    self.power.idle_fraction + (1 - self.power.idle_fraction) * util
                )
                energy = watts * group.milli / 1000 * hours * pue / 1000
                method = "nvml" if busy is not None else "estimated"
            elif not group.model and rep.node_id:
                energy, method = self._cpu_energy(rep, start, end, hours, pue)
            self._add(
                key,
                "compute",
                (start, end),
                end,
                org_id=rep.org_id,
                project_id=rep.project_id,
                job_id=rep.job_id,
                replica_id=rep.id,
                node_id=rep.node_id,
                accelerator=group.model,
                simulated=group.simulated,
                devices=len(group.picks),
                milli=group.milli,
                cpu_milli=rep.cpu_milli if n == 0 else 0,
                memory_mib=rep.memory_mib if n == 0 else 0,
                utilization=busy,
                energy_kwh=energy,
                carbon_kg=energy * self.power.carbon_at(start) / 1000,
                energy_method=method,
                pue=pue if method is not None else None,
                pue_method=pue_method if method is not None else None,
            )
            written += 1
        return written

    def _cpu_energy(
        self, rep: ReplicaUse, start: datetime, end: datetime, hours: float, pue: float
    ) -> tuple[float, str | None]:
        """kWh of a replica without accelerators: the node's measured mean power over the
        interval (RAPL or its BMC, whichever sampled it most) times the replica's share of the
        node's CPU and memory, PUE included; (0, None) where the node was never measured."""
        node = self.nodes.get(rep.node_id)
        if node is None or not self.measured:
            return 0.0, None
        found = node_power_w(self.session, [rep.node_id], start, end).get(rep.node_id)
        if found is None:
            return 0.0, None
        source, watts = found
        share = energy_model.node_share(rep.cpu_milli, rep.memory_mib, *node)
        kwh = energy_model.shared_kwh(watts, share, hours, pue)
        return kwh, source

    def _busy(
        self, node_id: str, picks: tuple[tuple[int, int], ...], start: datetime, end: datetime
    ) -> float | None:
        """Mean measured utilization of these devices over [start, end), or None (never
        measured: no sample in the interval)."""
        if not self.sampled or not picks:
            return None
        mean = self.session.scalar(
            select(func.avg(DeviceSampleRow.utilization)).where(
                DeviceSampleRow.node_id == node_id,
                DeviceSampleRow.index.in_([i for i, _ in picks]),
                DeviceSampleRow.at >= start,
                DeviceSampleRow.at < end,
            )
        )
        return None if mean is None else float(mean)

    def storage(self, now: datetime, archives: Iterable[Archive]) -> int:
        """One record per uploaded workdir archive (`archives`, as jobs hands them over) and
        billing day that ended before `now`."""
        today = periods.day_of(now, self.zone)
        midnight, _ = periods.day_bounds(today, self.zone)
        last = {
            (org, sha): end
            for org, sha, end in self.session.execute(
                select(UsageRow.org_id, UsageRow.replica_id, func.max(UsageRow.end))
                .where(UsageRow.kind == "storage")
                .group_by(UsageRow.org_id, UsageRow.replica_id)
            )
        }
        written = 0
        for row in (a for a in archives if a.created_at < midnight):
            since = max(row.created_at, last.get((row.org_id, row.sha256), row.created_at))
            day = periods.day_of(since, self.zone)
            while True:
                day_start, day_end = periods.day_bounds(day, self.zone)
                if day_end > midnight:
                    break
                begin = max(since, day_start)
                key = f"s:{row.org_id}:{row.sha256}:{day.isoformat()}"
                if begin < day_end and not self._exists(key):
                    self._stored(
                        key,
                        org_id=row.org_id,
                        project_id=None,
                        replica_id=row.sha256,  # the archive, for grouping
                        size=row.size,
                        span=(begin, day_end),
                        now=now,
                    )
                    written += 1
                day += timedelta(days=1)
        return written

    def datasets(self, now: datetime) -> int:
        """Data set storage of each project for the billing days that ended (`LATE` before
        `now`): one record per stretch of a constant level within a day, none while a project
        stores nothing. Passes resume from the end of the last record, so each stretch is
        recorded once."""
        return self._levels(now, StorageLevelRow, DATASETS)

    def images(self, now: datetime) -> int:
        """Image storage of each project (the center registry's blobs its repositories refer
        to, `image_storage_levels`), recorded as `datasets` records data set storage."""
        return self._levels(now, ImageStorageLevelRow, IMAGES)

    def _levels(
        self, now: datetime, levels: type[StorageLevelRow] | type[ImageStorageLevelRow], item: str
    ) -> int:
        midnight, _ = periods.day_bounds(periods.day_of(now - LATE, self.zone), self.zone)
        metered = {
            project_id: end
            for project_id, end in self.session.execute(
                select(UsageRow.project_id, func.max(UsageRow.end))
                .where(UsageRow.kind == "storage", UsageRow.replica_id == item)
                .group_by(UsageRow.project_id)
            )
        }
        orgs = directory.project_orgs_joined()
        projects = self.session.execute(
            select(levels.project_id, orgs.c.org_id, func.min(levels.at))
            .join(orgs, orgs.c.id == levels.project_id)
            .where(levels.at < midnight)
            .group_by(levels.project_id, orgs.c.org_id)
        ).all()
        written = 0
        for project_id, org_id, first in projects:
            since = metered.get(project_id) or first
            if since >= midnight:
                continue
            level = self.session.scalar(
                select(levels.bytes)
                .where(levels.project_id == project_id, levels.at <= since)
                .order_by(levels.at.desc(), levels.id.desc())
                .limit(1)
            )
            changes = self.session.execute(
                select(levels.at, levels.bytes)
                .where(
                    levels.project_id == project_id,
                    levels.at > since,
                    levels.at < midnight,
                )
                .order_by(levels.at, levels.id)
            )
            steps = [(since, level or 0), *((at, n) for at, n in changes), (midnight, 0)]
            for (start, held), (end, _) in pairwise(steps):
                if held and start < end:
                    written += self._held(project_id, org_id, held, start, end, now, item)
        return written

    def requests(self, now: datetime, *, limit: int = 100_000) -> int:
        """Roll the gateway's answered requests of closed hours into usage records, one per
        deployment, adapter and clock hour (a request written late gets a record of its
        own)."""
        cutoff = periods.hour_floor(now - LATE)
        rows = self.session.execute(
            select(
                GatewayRequestRow.id,
                GatewayRequestRow.org_id,
                GatewayRequestRow.project_id,
                GatewayRequestRow.deployment_id,
                GatewayRequestRow.adapter,
                GatewayRequestRow.at,
                GatewayRequestRow.prompt_tokens,
                GatewayRequestRow.completion_tokens,
                GatewayRequestRow.route,
            )
            .where(
                GatewayRequestRow.usage_id.is_(None),
                GatewayRequestRow.billable.is_(True),
                GatewayRequestRow.at < cutoff,
            )
            .order_by(GatewayRequestRow.at, GatewayRequestRow.id)
            .limit(limit)
        ).all()
        # A batch's requests (route `batch:...`, gateway/batches.py) are records of their own,
        # `replica_id` BATCH, which rating prices at the plan's batch discount; each adapter's
        # requests (`model: "BASE:NAME"`) are records of their own too.
        groups: dict[tuple[str, str | None, datetime, bool], list[Any]] = {}
        for row in rows:
            batch = row.route.startswith("batch:")
            group = (row.deployment_id, row.adapter, periods.hour_floor(row.at), batch)
            groups.setdefault(group, []).append(row)
        for (deployment_id, adapter, hour, batch), members in groups.items():
            first = members[0]
            tag = "b" if batch else "q"
            # the groups share no request: the first one's id keeps each key its own
            key = f"{tag}:{deployment_id}:{hour:%Y%m%dT%H}:{min(r.id for r in members)}"
            usage = self.session.scalar(select(UsageRow).where(UsageRow.key == key))
            if usage is None:
                usage = self._add(
                    key,
                    "requests",
                    (hour, hour + timedelta(hours=1)),
                    now,
                    org_id=first.org_id,
                    project_id=first.project_id,
                    deployment_id=deployment_id,
                    replica_id=BATCH if batch else None,
                    adapter=adapter,
                    requests=len(members),
                    prompt_tokens=sum(r.prompt_tokens for r in members),
                    completion_tokens=sum(r.completion_tokens for r in members),
                    energy_kwh=0.0,
                    carbon_kg=0.0,
                )
                self.session.flush()
            ids = [r.id for r in members]
            for at in range(0, len(ids), 500):
                self.session.execute(
                    update(GatewayRequestRow)
                    .where(GatewayRequestRow.id.in_(ids[at : at + 500]))
                    .values(usage_id=usage.id)
                )
        return len(groups)

    def _held(
        self,
        project_id: str,
        org_id: str,
        held: int,
        start: datetime,
        end: datetime,
        now: datetime,
        item: str = DATASETS,
    ) -> int:
        """Records of `held` bytes over [start, end), cut at the billing days' ends."""
        written = 0
        while start < end:
            _, day_end = periods.day_bounds(periods.day_of(start, self.zone), self.zone)
            stop = min(end, day_end)
            key = f"{'d' if item == DATASETS else 'i'}:{project_id}:{start.isoformat()}"
            if not self._exists(key):
                self._stored(
                    key,
                    org_id=org_id,
                    project_id=project_id,
                    replica_id=item,
                    size=held,
                    span=(start, stop),
                    now=now,
                )
                written += 1
            start = stop
        return written

    def _stored(
        self,
        key: str,
        *,
        org_id: str,
        project_id: str | None,
        replica_id: str,
        size: int,
        span: tuple[datetime, datetime],
        now: datetime,
    ) -> None:
        """Add the storage record `key`: `size` bytes held over `span` [start, end); storage
        draws no energy the meter counts."""
        self._add(
            key,
            "storage",
            span,
            now,
            org_id=org_id,
            project_id=project_id,
            replica_id=replica_id,
            storage_bytes=size,
            energy_kwh=0.0,
            carbon_kg=0.0,
        )

    def _add(
        self,
        key: str,
        kind: str,
        span: tuple[datetime, datetime],
        created_at: datetime,
        **columns: Any,
    ) -> UsageRow:
        """Add the usage record `key` of `kind` over `span` [start, end), in the month of its
        start, with the other `columns` of a `UsageRow` as given."""
        start, end = span
        row = UsageRow(
            key=key,
            kind=kind,
            start=start,
            end=end,
            duration_us=(end - start) // US,
            period=periods.month_of(start, self.zone),
            created_at=created_at,
            **columns,
        )
        self.session.add(row)
        return row


def node_power_w(
    session: Session, node_ids: list[str], start: datetime, end: datetime
) -> dict[str, tuple[str, float]]:
    """Each node's measured mean power over [start, end) and its source, the one that sampled
    it most (RAPL on a tie): what a CPU job's share is taken of, by the meter for its energy and
    by the power cap for its watts (services/center/power.py). Nodes never measured are absent."""
    counted: dict[str, tuple[int, bool, str, float]] = {}
    for node_id, source, watts, count in session.execute(
        select(
            DeviceSampleRow.node_id,
            DeviceSampleRow.source,
            func.avg(DeviceSampleRow.power_w),
            func.count(),
        )
        .where(
            DeviceSampleRow.node_id.in_(node_ids),
            DeviceSampleRow.index == NODE_INDEX,
            DeviceSampleRow.power_w.is_not(None),
            DeviceSampleRow.at >= start,
            DeviceSampleRow.at < end,
        )
        .group_by(DeviceSampleRow.node_id, DeviceSampleRow.source)
    ):
        if watts is None:
            continue
        rank = (int(count), source == "rapl", source or "", float(watts))
        if node_id not in counted or rank > counted[node_id]:
            counted[node_id] = rank
    return {node: (source, watts) for node, (_, _, source, watts) in counted.items()}
