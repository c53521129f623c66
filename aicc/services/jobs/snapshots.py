"""Build the scheduler's snapshot from the store: free capacity per node and the waiting jobs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import String, column, func, select, text, type_coerce
from sqlalchemy import table as table_of
from sqlalchemy.orm import Session

from aicc.core.jobspec import PRIORITIES, JobSpec
from aicc.core.mistakes import first_problem
from aicc.core.topology import WHOLE_DEVICES, NodeState
from aicc.scheduler.cluster import MILLI
from aicc.scheduler.plugins.fairshare import WEEK_S
from aicc.scheduler.snapshot import (
    DevicePick,
    DeviceView,
    JobView,
    MigSlice,
    NodeView,
    Placement,
    QueueView,
    ReplicaRequest,
    Snapshot,
    TenantView,
)
from aicc.services.billing import budgets
from aicc.services.data import mounts
from aicc.services.images import cached as images_held
from aicc.services.jobs import census, devenvs, metering, usage
from aicc.services.leases import leases
from aicc.services.nodes import census as node_census
from aicc.services.nodes import maintenance, nodes
from aicc.services.tenancy import directory, tenancy
from aicc.store.tables.base import table
from aicc.store.tables.jobs import JobChangesRow, JobRow, ReplicaRow

CENTER = "center"
NOTICE_S = 86400.0  # settings.maintenance.notice_s's default

# Of the running jobs given, those no preemption may take: each deployment's minimum of
# replicas, in one query (serving's `lifecycle.protected`). Serving is above jobs, so whoever
# reads a snapshot passes it down.
Protect = Callable[[Session, set[str]], set[str]]


def replica_request(spec: JobSpec) -> ReplicaRequest:
    """One replica's request. `needs` is what the spec's image needs of a node (the catalog's
    entry for it, services/jobs/devenvs.py), asked only of replicas that use accelerators: a
    CUDA image on a CPU-only replica needs no driver, and keeps the shape of any CPU job."""
    accel = spec.resources.accelerator
    uses = accel.count > 0 or accel.mig is not None
    return ReplicaRequest(
        cpu_milli=spec.resources.cpu_milli,
        memory_mib=spec.resources.memory_mib,
        accel_count=accel.count,
        accel_milli=accel.milli,
        accel_memory_mib=accel.memory_mib,
        models=tuple(accel.models) if accel.models else None,
        mig_profile=accel.mig,
        needs=devenvs.image_needs(spec.image) if spec.image and uses else (),
        within=spec.topology if spec.replicas > 1 else None,
    )


Earlier = tuple[float, datetime | None]  # device-seconds of earlier attempts, when the last ended


def job_view(job: JobRow, earlier: Earlier = (0.0, None)) -> JobView:
    spec = JobSpec.model_validate(job.spec)
    return JobView(
        id=job.id,
        replicas=spec.replicas,
        request=replica_request(spec),
        priority=job.priority,
        submitted_at=job.created_at,
        project_id=job.project_id,
        queue=job.queue_id,
        max_runtime_s=spec.max_runtime_s,
        deferrable=spec.deferrable,
        deadline=spec.deadline,
        attained_s=earlier[0],
        queued_at=earlier[1],
        elastic=spec.elastic,
    )


def data_shares(
    job: Any, cached: dict[str, dict[str, int]], images: dict[str, dict[str, int]] | None = None
) -> tuple[tuple[str, float], ...]:
    """(node, share of what a replica must fetch that the node holds: the job's data sets in
    its cache and its image in its engine's storage), by node name (`data_locality`). `cached`,
    `images`: {job: {node: bytes held}} (`mounts.cached_bytes`, `images_held.cached_bytes`); an
    image no node holds counts for nothing, as every node would fetch it alike."""
    image = (images or {}).get(job.id, {})
    total = sum(d["bytes"] for d in job.datasets or ()) + max(image.values(), default=0)
    held = dict(cached.get(job.id, {}))
    for node, size in image.items():
        held[node] = held.get(node, 0) + size
    return tuple((node, min(1.0, size / total)) for node, size in sorted(held.items()) if total)


def _alike(shares: tuple[tuple[str, float], ...], nodes: set[str]) -> bool:
    """Whether every node holds the same share of an image-only job (a base image every node
    pulled): no preference, so the job keeps the placer's fast path (`placer.covers` walks the
    jobs with `data`). Data sets' shares stay as they are."""
    if len(shares) < len(nodes) or not nodes:
        return False
    held = dict(shares)
    return nodes <= held.keys() and len({held[n] for n in nodes}) == 1


class _Attempt(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def attempt(self) -> int: ...


def attained(session: Session, jobs: Iterable[_Attempt]) -> dict[str, Earlier]:
    """Device-seconds each job ran in its earlier attempts, and when the last of them ended
    (least-attained-service policies count them; a requeued job does not start over at the
    front, and its wait for promotion counts from its last attempt)."""
    current = {j.id: j.attempt for j in jobs if j.attempt > 0}
    if not current:
        return {}
    out: dict[str, Earlier] = {}
    query = select(ReplicaRow).where(
        ReplicaRow.job_id.in_(current), ReplicaRow.started_at.is_not(None)
    )
    for rep in session.scalars(query):
        if rep.attempt >= current[rep.job_id] or rep.started_at is None:
            continue
        ended = rep.ended_at or rep.started_at
        ran = (ended - rep.started_at).total_seconds()
        devices = sum(d["milli"] for d in rep.devices) / MILLI if rep.devices else 1.0
        total, last = out.get(rep.job_id, (0.0, None))
        out[rep.job_id] = (total + max(0.0, ran) * devices, max(ended, last or ended))
    return out


def node_views(session: Session, *, empty: bool = False) -> list[NodeView]:
    """Every node that is not down; `empty=True` asks "could it ever fit?": allocations are
    ignored, and down nodes count (a lost node or a restarting engine comes back, and a job
    submitted meanwhile must wait for it, not be refused)."""
    rows = node_census.listed(session, up=not empty)
    devices: dict[str, list[node_census.DeviceFacts]] = defaultdict(list)
    for device in node_census.devices(session, node_ids=[r.id for r in rows]):
        devices[device.node_id].append(device)
    used = {} if empty else census.allocations(session)
    views = []
    for row in rows:
        alloc = used.get(row.id, nodes.Allocation())
        outside = {} if empty else row.engine_held
        device_views = [
            DeviceView(
                d.index,
                d.model,
                d.memory_mib,
                free_milli=1000 - alloc.device_milli.get(d.index, 0),
                free_memory_mib=d.memory_mib - alloc.device_memory_mib.get(d.index, 0),
                mig=tuple(
                    MigSlice(s["index"], s["profile"], s["index"] in alloc.mig_slices[d.index])
                    for s in d.mig
                ),
            )
            for d in devices.get(row.id, [])
            if d.healthy
        ]
        _hold_outside(device_views, int(outside.get("gpus", 0)))
        views.append(
            NodeView(
                name=row.name,
                free_cpu_milli=row.cpu_milli - alloc.cpu_milli - int(outside.get("cpu_milli", 0)),
                free_memory_mib=row.memory_mib
                - alloc.memory_mib
                - int(outside.get("memory_mib", 0)),
                devices=device_views,
                labels=dict(row.labels),
                schedulable=empty or row.state == NodeState.READY.value,
                total_cpu_milli=row.cpu_milli,
                total_memory_mib=row.memory_mib,
                shares=row.labels.get(WHOLE_DEVICES) != "true",
            )
        )
    return views


def restrict(
    session: Session,
    now: datetime,
    views: list[NodeView],
    pending: list[JobView],
    running: list[JobView],
    notice_s: float = NOTICE_S,
) -> tuple[list[JobView], list[JobView]]:
    """Mark on the node views the maintenance windows ahead and the leases in force (issue 40),
    and give the waiting jobs' requests what fit.admits asks of them then: their runtime, their
    organization, whether they are preemptible. Running work of others on a lease's capacity
    counts as borrowed, so the lessee's waiting job preempts it (the `priority` rule). Without
    a window or a lease nothing changes, so requests (and what the scheduler memoizes by them)
    stay as they were. Returns (pending, running)."""
    windows = maintenance.upcoming(session, now)
    held = leases.held(session, now)
    if not windows and not held:
        return pending, running
    for node in views:
        ahead = windows.get(node.name)
        if ahead is not None:
            node.open_for_s, node.notice_s = ahead[0], notice_s
        lease = held.nodes.get(node.name)
        if lease is not None:
            node.leased_to, node.lends = lease
        for device in node.devices:
            on = held.devices.get((node.name, device.index))
            if on is not None:
                device.leased_to, device.lends = on
                node.device_leases = True
    orgs = directory.project_orgs(session)
    if held:
        running = [_borrowing(job, orgs.get(job.project_id), held) for job in running]
    low = PRIORITIES["low"]
    waiting = [
        replace(
            job,
            request=replace(
                job.request,
                runtime_s=job.max_runtime_s,
                org=orgs.get(job.project_id),
                preemptible=job.priority <= low,
            ),
        )
        for job in pending
    ]
    return waiting, running


def _borrowing(job: JobView, org: str | None, held: leases.Held) -> JobView:
    """The job as borrowed where it runs on capacity leased to another organization."""
    for p in job.placements:
        on = held.nodes.get(p.node)
        if on is not None and on[0] != org:
            return replace(job, borrowed=True)
        for pick in p.devices:
            dev = held.devices.get((p.node, pick.index))
            if dev is not None and dev[0] != org:
                return replace(job, borrowed=True)
    return job


def _hold_outside(devices: list[DeviceView], count: int) -> None:
    """Mark `count` free devices taken by jobs outside AICC. The engine chose which (Slurm's
    GRES); AICC only needs the number right, since the engine picks again for AICC's jobs."""
    for device in reversed(devices):
        if count <= 0:
            return
        if device.free_milli >= 1000 and not device.mig:
            device.free_milli, device.free_memory_mib = 0, 0
            count -= 1


WAITING = ("pending", "admitted")
PLACED = ("scheduled", "running", "preempted")


def _placed_jobs(session: Session, protect: Protect) -> list[JobView]:
    """Jobs holding resources now, with where: their current attempt's active replicas. A job
    whose stored spec the model no longer reads (stored by an older server) is left out: its
    replicas still count against their nodes, and it is quarantined if it ever waits again."""
    jobs = {j.id: j for j in session.scalars(select(JobRow).where(JobRow.state.in_(PLACED)))}
    if not jobs:
        return []
    names = node_census.names_by_id(session)
    held: dict[str, list[ReplicaRow]] = {}
    query = select(ReplicaRow).where(
        ReplicaRow.job_id.in_(jobs), ReplicaRow.state.in_(census.HOLDING)
    )
    for rep in session.scalars(query.order_by(ReplicaRow.index)):
        if rep.attempt == jobs[rep.job_id].attempt:
            held.setdefault(rep.job_id, []).append(rep)
    views = []
    earlier = attained(session, jobs.values())
    kept = protect(session, set(held))
    for job_id, reps in held.items():
        job = jobs[job_id]
        placements = tuple(
            Placement(
                r.index,
                names[r.node_id],
                tuple(
                    DevicePick(d["index"], d["milli"], d.get("memory_mib"), d.get("mig_slice"))
                    for d in r.devices
                ),
            )
            for r in reps
        )
        started = [r.started_at for r in reps if r.started_at]
        try:
            view = job_view(job, earlier.get(job_id, (0.0, None)))
        except ValidationError:
            continue
        if view.elastic is not None:  # placed: as many as it has now
            releasing = tuple(r.index for r in reps if r.released_at is not None)
            view = replace(view, replicas=len(placements), releasing=releasing)
        views.append(
            replace(
                view,
                started_at=min(started) if started else job.updated_at,
                placements=placements,
                borrowed=job.borrowed,
                terminating=job.state == "preempted",
                preempted_by=tuple(job.preempted_by or ()),
                protected=job_id in kept,
            )
        )
    return views


def placed(session: Session, *, protect: Protect) -> tuple[JobView, ...]:
    """The jobs holding resources now, as a snapshot has them (`Snapshot.running`)."""
    return tuple(_placed_jobs(session, protect))


def queue_views(session: Session) -> tuple[QueueView, ...]:
    """Every queue and how many of its jobs may run at once (its lane)."""
    return tuple(QueueView(id_, limit) for id_, limit in tenancy.queue_lanes(session))


# The triggers of migration 0035 that count the writes to `jobs` (SQLite only).
_COUNTED_BY = ("job_changes_insert", "job_changes_update", "job_changes_delete")
_MASTER = table_of("sqlite_master", column("type"), column("tbl_name"), column("name"))
_TRIGGERS = (
    select(func.count())
    .select_from(_MASTER)
    .where(
        _MASTER.c.type == "trigger",
        _MASTER.c.tbl_name == "jobs",
        _MASTER.c.name.in_(_COUNTED_BY),
    )
)


def changes(session: Session) -> int | None:
    """How many times a job row was written (inserted, updated or deleted), by any process: two
    equal reads mean no job changed between them. None where the writes are not counted (on
    PostgreSQL, or where a rebuilt `jobs` table lost migration 0035's triggers): the caller
    must then assume everything changed."""
    if session.get_bind().dialect.name != "sqlite" or session.scalar(_TRIGGERS) != 3:
        return None
    return session.scalar(select(JobChangesRow.seq).where(JobChangesRow.name == "jobs"))


# Migration 0037's trigger that stamps each job row with its transaction's id (PostgreSQL).
_STAMPED_PG = text(
    "SELECT count(*) FROM pg_trigger WHERE tgname = 'jobs_change_xact' "
    "AND tgrelid = 'jobs'::regclass"
)
_SINCE_PG = text(
    "jobs.change >= pg_snapshot_xmin(CAST(:since AS pg_snapshot))::text::bigint "
    "AND NOT pg_visible_in_snapshot(jobs.change::text::xid8, CAST(:since AS pg_snapshot))"
)

Mark = int | str  # where the job writes stood: a count (SQLite), a snapshot (PostgreSQL)


def mark(session: Session) -> Mark | None:
    """Where the job writes stand now, for `written` to read the rows written since: on SQLite
    the count of job writes (`changes`), on PostgreSQL the transaction snapshot
    (`pg_current_snapshot()`, taken before anything else is read). None where job rows are not
    stamped (migration 0037's triggers missing): the caller must assume everything changed."""
    if session.get_bind().dialect.name == "sqlite":
        return changes(session)
    if session.scalar(_STAMPED_PG) != 1:
        return None
    return str(session.scalar(text("SELECT pg_current_snapshot()::text")))


@dataclass(frozen=True)
class Written:
    """A job row written since a mark, as the scheduling loop weighs it (loops/quiet.py): where
    it waits, whether it could go another way than its lane's, and what it shows."""

    id: str
    queue: str
    state: str
    message: str | None
    elsewhere: bool  # routed to a peer center (federation): not this scheduler's
    preempted: bool  # a preemption's victim: it may nominate its preemptor
    view: JobView | None  # None: its spec is not valid (a full pass quarantines it)


def written(session: Session, since: Mark) -> list[Written]:
    """The job rows written since `mark` read `since`: each row's last write stamps it (`jobs.
    change`, migration 0037), on SQLite with the count of job writes it made (those above
    `since`), on PostgreSQL with its transaction's id (those `since`'s snapshot did not see:
    committed after it, or then in progress), by an index. Deleted rows are not among them; on
    PostgreSQL, a row written after `since` may be read again by the next `written`."""
    if isinstance(since, str):
        query = select(JobRow).where(_SINCE_PG.bindparams(since=since))
    else:
        query = select(JobRow).where(JobRow.change > since)
    return [_written(row) for row in session.scalars(query.order_by(JobRow.change, JobRow.id))]


def _written(row: JobRow) -> Written:
    try:
        view: JobView | None = job_view(row)
    except ValidationError:
        view = None
    return Written(
        row.id,
        row.queue_id,
        row.state,
        row.message,
        elsewhere=row.federation is not None,
        preempted=bool(row.preempted_by),
        view=view,
    )


def tenants(session: Session) -> tuple[TenantView, ...]:
    """The quota tree: the center, its organizations, their projects."""
    out = [TenantView(CENTER)]
    out += [TenantView(o.id, CENTER, o.quota) for o in directory.org_quotas(session)]
    out += [TenantView(p.id, p.org_id, p.quota) for p in directory.project_quotas(session)]
    return tuple(out)


@dataclass(frozen=True)
class Read:
    """A snapshot, and the waiting jobs left out of it because their stored spec is not one
    the job spec model accepts (job id -> what is wrong), for the loop to quarantine. `shown`:
    each waiting job's state and message as read, so the pass writes only what changed."""

    snapshot: Snapshot
    invalid: dict[str, str]
    shown: dict[str, tuple[str, str | None]] = field(default_factory=dict)


def build(
    session: Session,
    now: datetime,
    *,
    protect: Protect,
    half_life_s: float = WEEK_S,
    billing: budgets.Context | None = None,
) -> Snapshot:
    """Everything the scheduler needs, read in one transaction (see `read`)."""
    return read(session, now, protect=protect, half_life_s=half_life_s, billing=billing).snapshot


class Parsed:
    """Waiting jobs' views as parsed from their stored specs, kept between passes by the loop
    that owns this, by job and the row's `updated_at` as stored (a job's spec and data sets never
    change; its state changes move `updated_at`). A pass over a long queue then reads a few
    columns of each job, not its spec nor its data sets, and parses only the jobs that are new
    or changed."""

    def __init__(self) -> None:
        # job -> (version, view or problem, its data sets, its image's full reference)
        self._views: dict[str, tuple[object, JobView | str, list[Any] | None, str | None]] = {}

    def views(self, session: Session, waiting: Sequence[Any]) -> dict[str, JobView | str]:
        """Job id -> its view without earlier attempts, or what is wrong with its spec.
        `waiting`: rows of the jobs' `id` and `version` (`updated_at` as stored)."""
        stale = [w.id for w in waiting if self._views.get(w.id, (None,))[0] != w.version]
        versions = {w.id: w.version for w in waiting}
        for start in range(0, len(stale), 500):
            query = select(JobRow).where(JobRow.id.in_(stale[start : start + 500]))
            for job in session.scalars(query):
                version = versions.get(job.id)
                try:
                    view = job_view(job)
                except ValidationError as err:
                    self._views[job.id] = (version, first_problem(err), None, None)
                    continue
                image = job.spec.get("image")  # a spec the view accepted: a mapping
                self._views[job.id] = (
                    version,
                    view,
                    job.datasets,
                    image if isinstance(image, str) else None,
                )
        self._views = {w.id: self._views[w.id] for w in waiting if w.id in self._views}
        return {job_id: view for job_id, (_, view, _, _) in self._views.items()}

    def with_data(self) -> list[_Data]:
        """The waiting jobs (as of the last `views`) that mount data sets or run in an image:
        the ones locality may prefer some nodes for."""
        return [
            _Data(job_id, data or [], image)
            for job_id, (_, _, data, image) in self._views.items()
            if data or image
        ]


@dataclass(frozen=True)
class _Data:
    id: str
    datasets: list[Any]
    image: str | None = None


_JOBS = table(JobRow)
# The waiting jobs, as few columns as a pass needs, read as plain tuples: with thousands behind a
# full lane the pass's cost was the rows themselves (SQLAlchemy's ORM rows, each `updated_at`
# parsed to a datetime and each `datasets` JSON decoded: 18 µs a job a pass). `version` is
# `updated_at` as the database gives it, compared only for equality.
_WAITING = (
    select(
        _JOBS.c.id,
        type_coerce(_JOBS.c.updated_at, String).label("version"),
        _JOBS.c.state,
        _JOBS.c.message,
        _JOBS.c.attempt,
    )
    .where(_JOBS.c.state.in_(WAITING), _JOBS.c.federation.is_(None))
    .order_by(_JOBS.c.created_at)
)


def read(
    session: Session,
    now: datetime,
    *,
    protect: Protect,
    half_life_s: float = WEEK_S,
    billing: budgets.Context | None = None,
    parsed: Parsed | None = None,
    notice_s: float = NOTICE_S,
) -> Read:
    """Everything the scheduler needs, read in one transaction. With `billing`, the money left
    of each budget and the price rates of waiting jobs under a budget (budget admission). Each
    job is read on its own, so one unreadable job never stops the others being scheduled.
    `protect`: which running jobs no preemption may take (`Protect`). `parsed`: the loop's
    views of waiting jobs from earlier passes (a fresh one otherwise)."""
    waiting = session.connection().execute(_WAITING).all()  # not a peer's to run
    parsed = parsed or Parsed()
    views = parsed.views(session, waiting)
    running = _placed_jobs(session, protect)
    nodes = node_views(session)
    earlier = attained(session, waiting)
    pending: list[JobView] = []
    invalid: dict[str, str] = {}
    mounting = {job.id: job for job in parsed.with_data()}
    cached = mounts.cached_bytes(session, mounting.values())
    images = images_held.cached_bytes(session, mounting.values())
    names = {n.name for n in nodes}
    for job_id, view in views.items():
        if isinstance(view, str):
            invalid[job_id] = view
            continue
        if job_id in earlier:
            view = replace(view, attained_s=earlier[job_id][0], queued_at=earlier[job_id][1])
        if job_id in cached or job_id in images:
            shares = data_shares(mounting[job_id], cached, images)
            if job_id in cached or not _alike(shares, names):
                view = replace(view, request=replace(view.request, data=shares))
        pending.append(view)
    pending, running = restrict(session, now, nodes, pending, running, notice_s)
    left: dict[str, float] = {}
    if billing is not None:
        models = {d.model for n in nodes for d in n.devices}
        concerned = budgets.budgeted_orgs(session, pending)
        held = metering.running(session, concerned) if concerned else []
        left, rates = budgets.admission_inputs(
            session, now, pending, models, billing, concerned=concerned, running=held
        )
        pending = [replace(j, price_rates=rates[j.id]) if j.id in rates else j for j in pending]
    snapshot = Snapshot(
        now=now,
        nodes=nodes,
        pending=pending,
        running=running,
        tenants=tenants(session),
        queues=queue_views(session),
        usage=usage.decayed(session, now, half_life_s=half_life_s),
        budget_left=left,
    )
    return Read(snapshot, invalid, {id_: (state, said) for id_, _, state, said, _ in waiting})


def node_ids(session: Session) -> dict[str, str]:
    return node_census.ids_by_name(session)
