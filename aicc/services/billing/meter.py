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

Requests through the gateway: serving's request log (one row per request with its own id,
written before the answer's last bytes) is rolled up once an hour has closed (`LATE` after it):
one `requests` record per deployment, adapter (`model: "BASE:NAME"`, or none) and clock hour
with the answered requests and their prompt and completion tokens; serving hands the requests
over (`RequestUse`) and writes each one's record id back in the same transaction, so each
answered request is on one record, once (services/serving/metering.py).

Nodes, devices and storage levels are read through their owners (nodes' census, data's and
images' `level_starts` / `level_steps`); the device samples through telemetry's `Measured`,
which the meter's builder hands down (`Samples`: telemetry sits above billing).

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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Protocol

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from aicc.config import SiteSettings
from aicc.core import accelerator_names, periods
from aicc.core import energy as energy_model
from aicc.core.energy import EnergyProfile
from aicc.services.billing import facility
from aicc.services.billing.rating import BATCH, DATASETS, IMAGES
from aicc.services.billing.views import Archive, ReplicaUse, RequestUse
from aicc.services.data import storage as data_storage
from aicc.services.images import images as image_store
from aicc.services.nodes import census
from aicc.services.tenancy import directory
from aicc.store.tables.billing import UsageRow

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


class Samples(Protocol):
    """The measured samples a pass reads (telemetry's `samples.Measured`, handed down by the
    meter's builder: telemetry sits above billing)."""

    def busy(
        self, node_id: str, indices: Sequence[int], start: datetime, end: datetime
    ) -> float | None: ...

    def node_power(
        self, node_id: str, start: datetime, end: datetime
    ) -> tuple[str, float] | None: ...


# a storage level's owner: the first levels before a time (a select), a project's steps
Levels = tuple[
    Callable[[datetime], Select[str, datetime]],
    Callable[[Session, str, datetime, datetime], list[tuple[datetime, int]]],
]
DATASET_LEVELS: Levels = (data_storage.level_starts, data_storage.level_steps)
IMAGE_LEVELS: Levels = (image_store.level_starts, image_store.level_steps)


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


@dataclass
class Rolled:
    """A requests pass's outcome: the records it rolled, and the requests each record holds
    (usage record id -> request ids), which serving writes back in the same transaction."""

    records: int = 0
    usage_of: dict[int, list[str]] = field(default_factory=dict)


def requests_closed(now: datetime) -> datetime:
    """Requests before this are rolled at `now`: their clock hour closed `LATE` ago."""
    return periods.hour_floor(now - LATE)


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

    def __init__(self, session: Session, *, zone: str, power: PowerModel, samples: Samples) -> None:
        self.session = session
        self.zone = zone
        self.power = power
        self.samples = samples
        self.devices = {
            (d.node_id, d.index): (d.model, d.simulated) for d in census.devices(session)
        }
        self.nodes = {n.id: (n.cpu_milli, n.memory_mib) for n in census.listed(session)}
        self.metered = facility.any_meter(session)
        self._pues: dict[datetime, tuple[float, str]] = {}

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
                device_indexes=[index for index, _ in rep.devices],
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
        if node is None:
            return 0.0, None
        found = self.samples.node_power(rep.node_id, start, end)
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
        return self.samples.busy(node_id, [i for i, _ in picks], start, end)

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
        return self._levels(now, DATASET_LEVELS, DATASETS)

    def images(self, now: datetime) -> int:
        """Image storage of each project (the center registry's blobs its repositories refer
        to, `image_storage_levels`), recorded as `datasets` records data set storage."""
        return self._levels(now, IMAGE_LEVELS, IMAGES)

    def _levels(self, now: datetime, levels: Levels, item: str) -> int:
        midnight, _ = periods.day_bounds(periods.day_of(now - LATE, self.zone), self.zone)
        metered = {
            project_id: end
            for project_id, end in self.session.execute(
                select(UsageRow.project_id, func.max(UsageRow.end))
                .where(UsageRow.kind == "storage", UsageRow.replica_id == item)
                .group_by(UsageRow.project_id)
            )
        }
        starts, steps_of = levels
        orgs = directory.project_orgs_joined()
        first = starts(midnight).subquery()
        projects = self.session.execute(
            select(first.c.project_id, orgs.c.org_id, first.c.first).join(
                orgs, orgs.c.id == first.c.project_id
            )
        ).all()
        written = 0
        for project_id, org_id, began in projects:
            since = metered.get(project_id) or began
            if since >= midnight:
                continue
            steps = [*steps_of(self.session, project_id, since, midnight), (midnight, 0)]
            for (start, held), (end, _) in pairwise(steps):
                if held and start < end:
                    written += self._held(project_id, org_id, held, start, end, now, item)
        return written

    def requests(self, now: datetime, requests: Iterable[RequestUse]) -> Rolled:
        """Roll the gateway's answered requests of closed hours (`requests`, as serving hands
        them over, not yet on a record) into usage records, one per deployment, adapter and
        clock hour (a request written late gets a record of its own). Returns the records and
        which requests each holds, for serving to write back in the same transaction."""
        cutoff = requests_closed(now)
        rows = sorted((r for r in requests if r.at < cutoff), key=lambda r: (r.at, r.id))
        # A batch's requests (route `batch:...`, gateway/batches.py) are records of their own,
        # `replica_id` BATCH, which rating prices at the plan's batch discount; each adapter's
        # requests (`model: "BASE:NAME"`) are records of their own too.
        groups: dict[tuple[str, str | None, datetime, bool], list[RequestUse]] = {}
        for row in rows:
            batch = row.route.startswith("batch:")
            group = (row.deployment_id, row.adapter, periods.hour_floor(row.at), batch)
            groups.setdefault(group, []).append(row)
        out = Rolled()
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
            out.usage_of.setdefault(usage.id, []).extend(r.id for r in members)
        out.records = len(groups)
        return out

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
