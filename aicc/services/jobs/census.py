"""What the contexts above jobs ask of jobs as a whole, read through jobs (which alone reads
its tables): how many jobs per tenant and state or per kind, which replicas hold (or held)
resources, how long attempts waited, what state some jobs are in. Each answer is a frozen
read model, read in the caller's session; one function per question, whoever asks it."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.services.common import Forbidden, read
from aicc.services.images.views import JobImage
from aicc.services.nodes.nodes import Allocation
from aicc.store.tables.jobs import EventRow, JobRow, ReplicaRow

HOLDING = ("scheduled", "running")  # replica states that occupy resources


@dataclass(frozen=True)
class JobCount:
    """The number of jobs of one project in one state."""

    org_id: str
    project_id: str
    state: str
    number: int


@dataclass(frozen=True)
class KindCounts:
    """Jobs of a period by kind: submitted in it, and ended in it by their end state."""

    submitted: Counter[str]
    ended: Counter[tuple[str, str]]  # (kind, state) -> jobs


@dataclass(frozen=True)
class Held:
    """One replica's hold on a node: who holds what, since when, until when (None: still)."""

    id: str
    job_id: str
    job_name: str
    org_id: str
    project_id: str
    attempt: int
    index: int
    node_id: str
    devices: tuple[tuple[int, int], ...]  # (device index, milli)
    cpu_milli: int
    memory_mib: int
    state: str
    bound_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


def count(session: Session) -> int:
    """Every job stored."""
    return int(session.scalar(select(func.count()).select_from(JobRow)) or 0)


def job_ids(session: Session) -> set[str]:
    """The ids of every job stored (a backup keeps their run directories)."""
    return set(session.scalars(select(JobRow.id)))


def by_state(session: Session, *, org_id: str | None = None) -> list[JobCount]:
    """Jobs per project and state, of one organization when given."""
    query = select(JobRow.org_id, JobRow.project_id, JobRow.state, func.count()).group_by(
        JobRow.org_id, JobRow.project_id, JobRow.state
    )
    if org_id is not None:
        query = query.where(JobRow.org_id == org_id)
    return [JobCount(o, p, s, int(n)) for o, p, s, n in session.execute(query)]


def by_kind(session: Session, start: datetime, end: datetime, ends: Iterable[str]) -> KindCounts:
    """Jobs submitted in [start, end) by kind, and those that ended in it in one of the
    states `ends` by kind and state."""
    submitted = select(JobRow.kind).where(JobRow.created_at >= start, JobRow.created_at < end)
    ended = select(JobRow.kind, JobRow.state).where(
        JobRow.ended_at >= start, JobRow.ended_at < end, JobRow.state.in_(list(ends))
    )
    return KindCounts(
        Counter(session.scalars(submitted)),
        Counter((kind, state) for kind, state in session.execute(ended)),
    )


def _held() -> Select[ReplicaRow, str, str, str]:
    return select(ReplicaRow, JobRow.name, JobRow.org_id, JobRow.project_id).join(
        JobRow, JobRow.id == ReplicaRow.job_id
    )


def _of(rep: ReplicaRow, name: str, org_id: str, project_id: str) -> Held:
    return read(
        Held,
        rep,
        job_name=name,
        org_id=org_id,
        project_id=project_id,
        devices=tuple((int(d["index"]), int(d["milli"])) for d in rep.devices),
    )


def holding(
    session: Session, *, org_id: str | None = None, node_ids: Iterable[str] | None = None
) -> list[Held]:
    """The replicas holding resources now (bound or running), oldest bind first; of one
    organization, or on these nodes, when given."""
    query = _held().where(ReplicaRow.state.in_(HOLDING))
    if org_id is not None:
        query = query.where(JobRow.org_id == org_id)
    if node_ids is not None:
        query = query.where(ReplicaRow.node_id.in_(list(node_ids)))
    rows = session.execute(query.order_by(ReplicaRow.bound_at))
    return [_of(rep, name, org, project) for rep, name, org, project in rows]


def allocations(session: Session) -> dict[str, Allocation]:
    """node id -> what the replicas bound there hold now: the scheduler's snapshot and the node
    views (`nodes.infos`, handed it by their callers) read it."""
    result: dict[str, Allocation] = defaultdict(Allocation)
    for rep in session.scalars(select(ReplicaRow).where(ReplicaRow.state.in_(HOLDING))):
        alloc = result[rep.node_id]
        alloc.cpu_milli += rep.cpu_milli
        alloc.memory_mib += rep.memory_mib
        for pick in rep.devices:
            alloc.device_milli[pick["index"]] += pick["milli"]
            if pick.get("memory_mib") is not None:
                alloc.device_memory_mib[pick["index"]] += pick["memory_mib"]
            if pick.get("mig_slice") is not None:
                alloc.mig_slices[pick["index"]].add(pick["mig_slice"])
    return result


def orgs_holding(session: Session, node_ids: Select[tuple[str]]) -> set[str]:
    """The organizations whose replicas hold resources now on the nodes `node_ids` selects
    (nodes' census `ids_named`): one query."""
    query = (
        select(JobRow.org_id)
        .join(ReplicaRow, ReplicaRow.job_id == JobRow.id)
        .where(ReplicaRow.node_id.in_(node_ids), ReplicaRow.state.in_(HOLDING))
    )
    return set(session.scalars(query))


def holders(session: Session, who: Principal) -> dict[str, dict[int, list[tuple[str, str, int]]]]:
    """node id -> device index -> (job id, job name, milli) of every replica holding a share of
    that device now: the slices of the operators' heat map. Center admins only, since it names
    every tenant's jobs."""
    if not who.is_admin:
        raise Forbidden("only center admins see who holds each device")
    out: dict[str, dict[int, list[tuple[str, str, int]]]] = defaultdict(lambda: defaultdict(list))
    for rep in holding(session):
        for index, milli in rep.devices:
            out[rep.node_id][index].append((rep.job_id, rep.job_name, milli))
    return out


def held_between(session: Session, lo: datetime, hi: datetime) -> list[Held]:
    """The replicas that held resources at some time in [lo, hi): bound before `hi`, not
    ended by `lo`."""
    query = _held().where(
        ReplicaRow.bound_at < hi, or_(ReplicaRow.ended_at.is_(None), ReplicaRow.ended_at > lo)
    )
    return [_of(rep, name, org, project) for rep, name, org, project in session.execute(query)]


def ended_ids(session: Session, *, skip: Select[Any], most: int) -> list[str]:
    """Up to `most` ended jobs (succeeded, failed, cancelled) whose ids `skip` (the caller's
    query of the jobs it has dealt with) does not return, oldest first."""
    query = (
        select(JobRow.id)
        .where(JobRow.state.in_(("succeeded", "failed", "cancelled")), JobRow.id.not_in(skip))
        .order_by(JobRow.created_at)
        .limit(most)
    )
    return list(session.scalars(query))


def waits(session: Session) -> list[float]:
    """Seconds from entering `pending` to `running`, one per attempt that started."""
    entered = select(EventRow.job_id, EventRow.attempt, func.min(EventRow.at)).where(
        EventRow.to_state == "pending"
    )
    first = {
        (job, attempt): at
        for job, attempt, at in session.execute(entered.group_by(EventRow.job_id, EventRow.attempt))
    }
    started = select(EventRow.job_id, EventRow.attempt, EventRow.at).where(
        EventRow.to_state == "running"
    )
    out = []
    for job, attempt, at in session.execute(started):
        begin = first.get((job, attempt))
        if begin is not None:
            out.append(max(0.0, (at - begin).total_seconds()))
    return out


def states(session: Session, job_ids: Iterable[str]) -> dict[str, str]:
    """job id -> its state, for those of these jobs that exist."""
    ids = list(job_ids)
    if not ids:
        return {}
    return dict(session.execute(select(JobRow.id, JobRow.state).where(JobRow.id.in_(ids))).all())


def waiting_held_by(session: Session, prefix: str, *, limit: int = 100) -> list[str]:
    """The waiting jobs (pending, admitted) whose last pass held them with a message starting
    with `prefix` (a hold's own, as the power cap's), oldest first."""
    query = (
        select(JobRow.id)
        .where(JobRow.state.in_(("pending", "admitted")))
        .where(JobRow.message.startswith(prefix, autoescape=True))
        .order_by(JobRow.created_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def rehome(session: Session, old: str, new: str) -> None:
    """Replace the prefix `old` of the replicas' handles with `new` (the local executor's
    handles are absolute run directories: a restore under another home moves them)."""
    session.execute(
        update(ReplicaRow)
        .where(ReplicaRow.handle.startswith(old, autoescape=True))
        .values(handle=new + func.substr(ReplicaRow.handle, len(old) + 1))
    )


def images_named(
    session: Session, project_id: str, prefix: str, *, limit: int = 100
) -> list[JobImage]:
    """The project's latest jobs whose spec names an image starting with `prefix` (one of the
    project's own images: images' `used_prefix`), newest first."""
    image = JobRow.spec["image"].as_string()
    rows = session.execute(
        select(JobRow.id, JobRow.name, JobRow.state, JobRow.created_at, image)
        .where(JobRow.project_id == project_id, image.startswith(prefix, autoescape=True))
        .order_by(JobRow.created_at.desc())
        .limit(limit)
    )
    return [
        JobImage(job_id=i, job_name=n, state=s, created_at=at, image=ref)
        for i, n, s, at, ref in rows
    ]
