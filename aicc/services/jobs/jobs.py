"""Jobs: submit, read, cancel. Every state change goes through `transitions.change_state`.

What they return is the jobs context's read model (`views.Job`, `views.Event`), which the API
answers as it is; `Job`, `Replica`, `ReplicaDevice` and `Event` stay importable from here."""

from __future__ import annotations

import copy
import hashlib
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from aicc.config import RegistrySettings, Settings
from aicc.core import tes_peer
from aicc.core.jobspec import DEFAULT_MAX_REPLICAS, JobSpec, again, default_name
from aicc.core.mistakes import InputError, first_problem
from aicc.core.states import WAITING, JobState, Reason
from aicc.core.tenancy import Principal, can_read, can_write
from aicc.core.units import format_cpu, format_memory
from aicc.scheduler.explain import image_reason
from aicc.scheduler.feasible import Feasibility, lacks
from aicc.scheduler.snapshot import ReplicaRequest
from aicc.services import changes
from aicc.services.common import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooMany,
    from_row,
    new_id,
    utcnow,
)
from aicc.services.data import mounts
from aicc.services.data.views import Mounted, MountingJob
from aicc.services.images import builds, images
from aicc.services.jobs import snapshots, waiting
from aicc.services.jobs.transitions import change_state, hold
from aicc.services.jobs.views import Event as Event
from aicc.services.jobs.views import Job as Job
from aicc.services.jobs.views import Replica as Replica
from aicc.services.jobs.views import ReplicaDevice as ReplicaDevice
from aicc.services.nodes import census as node_census
from aicc.services.tenancy import audit, secrets, tenancy
from aicc.services.tenancy.views import Queue
from aicc.store import group_commit
from aicc.store.tables.base import table
from aicc.store.tables.jobs import EventRow, JobRow, ReplicaRow, WorkdirRow


@dataclass(frozen=True)
class SubmitLimits:
    max_pending_per_user: int = 1000
    # the center's bound on one job's replicas (`limits.max_replicas_per_job`)
    max_replicas: int = DEFAULT_MAX_REPLICAS
    # `federation.default_placement` where federation is on (a site is set), else "local"
    default_placement: str = "local"
    federation: bool = False  # this server is a site of a federation
    # the center's `egress`: a job's default, and the most it may ask (`internet` > `none`)
    egress: str = "none"
    # templates another organization published that the operator lets run with `egress`
    egress_templates: tuple[str, ...] = ()
    # the center registry a job's `image:` is resolved in, and the other registries it may name
    # (`registry.external`); None: the defaults' (no center registry, `localhost` only)
    registry: RegistrySettings | None = None
    # where uploaded workdirs lie (a build's Containerfile is read there at submit)
    blobs: Path | None = None
    # organizations whose `federation.org_sites` are all `tes` peers: (org, ((site, models),))
    tes_only: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = ()
    # the site environment a TES task on a generic base runs with (`generic_base_environment`)
    generic_base_environment: str | None = None

    @classmethod
    def of(cls, settings: Settings, *, local_only: bool = False) -> SubmitLimits:
        """The center's limits on a submit, from its settings: the one place the API and the
        portal build them, so that a page submits under the same bounds as the API (issue 35:
        the portal's were the defaults). `local_only` for a submit whose program lives on this
        server alone (a template's run): placed here whatever `federation.default_placement`."""
        federation = settings.federation
        federated = federation.site is not None
        return cls(
            max_pending_per_user=settings.limits.max_pending_per_user,
            max_replicas=settings.limits.max_replicas_per_job,
            default_placement=(
                federation.default_placement if federated and not local_only else "local"
            ),
            federation=federated,
            egress=settings.egress,
            egress_templates=tuple(settings.egress_templates),
            registry=settings.registry,
            blobs=settings.home / "blobs",
            tes_only=_tes_only(settings) if federated and not local_only else (),
            generic_base_environment=settings.generic_base_environment,
        )


def _tes_only(
    settings: Settings,
) -> tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]:
    tes = {p.site: tuple(p.accelerators) for p in settings.federation.peers if p.kind == "tes"}
    return tuple(
        (org, tuple((site, tes[site]) for site in sites))
        for org, sites in settings.federation.org_sites.items()
        if sites and all(site in tes for site in sites)
    )


def _view(session: Session, job: JobRow, *, user: str | None = None, replicas: bool = True) -> Job:
    """The read model of a stored job: names instead of ids, and its latest replicas (a job
    just submitted has none, and its submitter's name is known: `user`, `replicas=False`)."""
    if user is None:
        user = tenancy.user_names(session, [job.user_id]).get(job.user_id, job.user_id)
    return from_row(
        Job,
        job,
        project=job.spec.get("project") or "",
        queue=job.spec.get("queue") or "",
        user=user,
        spec=copy.deepcopy(job.spec),
        replicas=_replica_views(session, _replicas(session, job.id)) if replicas else [],
    )


def _new_view(row: dict[str, Any], *, user: str) -> Job:
    """`_view` of a job just submitted, from the row it is written with: no replicas yet, its
    submitter known, and its spec made for it alone (no copy needed)."""
    spec = row["spec"]
    values = {name: row[name] for name in _VIEW_COLUMNS}
    project, queue = spec.get("project") or "", spec.get("queue") or ""
    return Job.model_validate(
        {**values, "project": project, "queue": queue, "user": user, "replicas": []}
    )


def _replica_views(session: Session, reps: Sequence[ReplicaRow]) -> list[Replica]:
    """The replicas' read models, their nodes by name and devices with their models (two
    reads for all of them, none when there are none)."""
    if not reps:
        return []
    on = {rep.node_id for rep in reps}
    names = node_census.names_by_id(session, on)
    models = {(d.node_id, d.index): d.model for d in node_census.devices(session, node_ids=on)}
    return [
        from_row(
            Replica,
            rep,
            node=names.get(rep.node_id, rep.node_id),
            devices=[
                ReplicaDevice(
                    index=d["index"],
                    milli=d["milli"],
                    model=models.get((rep.node_id, d["index"])),
                    memory_mib=d.get("memory_mib"),
                    mig_slice=d.get("mig_slice"),
                )
                for d in rep.devices
            ],
        )
        for rep in reps
    ]


def submit(
    session: Session,
    who: Principal,
    spec: JobSpec,
    *,
    idempotency_key: str | None,
    limits: SubmitLimits = SubmitLimits(),
) -> tuple[Job, bool]:
    """Accept a job, or return the one already accepted under the same idempotency key.

    Returns (job, created). Rejects, with what to fix, a spec that no node could ever run.
    """
    fingerprint = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
    # In a batch the key is the table's to check (unique per user), not a read per submit: a
    # key used before fails the batch's insert, and alone this submit finds its earlier job.
    if idempotency_key and not group_commit.batched(session):
        earlier = _submitted_before(session, who, idempotency_key, fingerprint)
        if earlier is not None:
            return earlier, False
    project = tenancy.resolve_project(session, who, spec.project)
    if not can_write(who, org_id=project.org_id, project_id=project.id):
        raise Forbidden("viewers cannot submit jobs")
    queue = tenancy.resolve_queue(session, project, spec.queue)
    _check_replicas(spec, queue, limits)
    _check_references(session, spec, project_id=project.id, org_id=project.org_id)
    if queue.max_runtime_s and (spec.max_runtime_s or 0) > queue.max_runtime_s:
        raise Invalid(
            "max_runtime: queue {queue} allows at most {limit} s",
            queue=queue.name,
            limit=queue.max_runtime_s,
        )
    waiting_limits = _waiting_limits(who, queue, limits)
    waiting.check(session, waiting_limits)
    spec = _with_images(session, who, spec, limits)
    _check_fits(session, spec)
    _check_scenario(spec)
    data, pinned, mounted = mounts.pin(session, who, spec.datasets, project_id=project.id)
    placement, egress = _placement_and_egress(spec, limits)
    if placement == "federation" and limits.tes_only:
        _check_tes_only(tenancy.get_org(session, who, project.org_id).name, spec, limits)
    now = utcnow()
    deadline = _deadline(spec, now, spec.max_runtime_s or queue.max_runtime_s)
    job_id = new_id("job")
    stored = stored_spec(
        spec,
        project=project.name,
        queue=queue.name,
        max_runtime_s=spec.max_runtime_s or queue.max_runtime_s,
        name=spec.name or default_name(spec.command, job_id[-6:].lower()),
        priority=spec.priority if "priority" in spec.model_fields_set else queue.priority,
        datasets=data,
        deadline=deadline,
        deadline_after_s=None,
        placement=placement,
        egress=egress,
    )
    row = {
        "id": job_id,
        "name": stored.name,
        "org_id": project.org_id,
        "project_id": project.id,
        "queue_id": queue.id,
        "user_id": who.user_id,
        "kind": spec.kind.value,
        "spec": stored.model_dump(mode="json", by_alias=True, exclude={"workdir"}),
        "priority": stored.priority,
        **_NEW_JOB,
        "idempotency_key": idempotency_key,
        "request_sha256": fingerprint,
        "datasets": pinned,
        "federation": "?" if placement == "federation" else None,
        "created_at": now,
        "updated_at": now,
    }
    # Written as statements, the job row first (its event references it): the ORM's unit of work
    # cost more than the rows themselves. In a batch of submits (the API's group commit), each
    # table's rows are written together before it commits (`group_commit.insert`).
    group_commit.insert(session, _INSERT_JOB, row)
    event = {"job_id": job_id, "kind": "submitted", "to_state": "pending", "reason": "submitted"}
    group_commit.insert(session, _INSERT_EVENT, {**event, "at": now})
    mounts.record(session, job_id, mounted)
    waiting.enter(session, waiting_limits)
    audit.record(session, who, "job.submit", "job", job_id, org_id=project.org_id, now=now)
    changes.changed(session)  # the loops place it once this commits
    return _new_view(row, user=who.name), True


_NEW_JOB: dict[str, Any] = {  # the columns every new job starts with
    "state": JobState.PENDING.value,
    "reason": Reason.SUBMITTED.value,
    "message": "waiting for admission",
    "attempt": 0,
    "exit_code": None,
    "cancel_requested": False,
    "started_at": None,
    "ended_at": None,
}


def _with_images(session: Session, who: Principal, spec: JobSpec, limits: SubmitLimits) -> JobSpec:
    """The spec with what the nodes will pull (its `image`, images.job_image) and, for a build,
    what it pushes and pulls (builds.check) resolved now: a 422 for an image the submitter may
    not use."""
    if spec.image is not None:
        image = images.job_image(
            session, who, spec.image, registry=limits.registry, project=spec.project
        )
        spec = spec.model_copy(update={"image": image})
    if spec.build is not None:
        spec = builds.check(session, who, spec, registry=limits.registry, blobs=limits.blobs)
    return spec


def _submitted_before(
    session: Session, who: Principal, idempotency_key: str, fingerprint: str
) -> Job | None:
    """The job this user already submitted under `idempotency_key`, if any; the same key with
    another spec is a 422."""
    seen = session.execute(_SEEN, {"user_id": who.user_id, "key": idempotency_key}).first()
    if seen is None:
        return None
    if seen.request_sha256 not in (None, fingerprint):
        raise Invalid(
            "Idempotency-Key: already used for a different job spec; send a new key for a new job"
        )
    job = session.get(JobRow, seen.id)
    assert job is not None
    return _view(session, job)


def _placement_and_egress(spec: JobSpec, limits: SubmitLimits) -> tuple[str, str]:
    """The job's placement and egress, its own or the center's defaults; a job may not ask for
    more network than the center gives, nor for other sites where there are none or with a
    workdir."""
    placement = spec.placement or limits.default_placement
    egress = spec.egress or limits.egress
    if egress == "internet" and limits.egress != "internet":
        raise Invalid(
            "egress: this center gives jobs no network beyond their own (egress: none); "
            "remove egress, or ask an operator to set egress: internet"
        )
    if placement == "federation" and not limits.federation:
        raise Invalid("placement: this server is not in a federation; use placement: local")
    if placement == "federation" and spec.workdir_sha256:
        raise Invalid(
            "placement: a job with a workdir cannot be routed to other sites yet; "
            "use placement: local, or put the files in a data set"
        )
    return placement, egress


def _check_tes_only(org: str, spec: JobSpec, limits: SubmitLimits) -> None:
    """A job whose organization may run only at `tes` peers, none of which can express it
    (`core/tes_peer`), is refused here, at once, rather than failing `unschedulable` when it
    is routed (docs/federation.md, "A TES server as a peer")."""
    sites = dict(limits.tes_only).get(org)
    if not sites:
        return
    problems = []
    for _site, models in sites:
        try:
            tes_peer.refuse_unexpressible(spec, accelerators=models)
        except tes_peer.NotExpressible as err:
            problems.append(str(err))
            continue
        return
    raise Invalid(
        "placement: organization {org} runs only at TES peers ({sites}), and a TES task "
        "cannot carry this job: {problem}",
        org=org,
        sites=", ".join(site for site, _ in sites),
        problem=problems[0],
    )


def _check_replicas(spec: JobSpec, queue: Queue, limits: SubmitLimits) -> None:
    """A gang is bounded by its queue's `max_replicas_per_job`, never above the center's; an
    elastic job by the most replicas it may grow to."""
    asked = max(spec.replicas, spec.replicas_max or 0)
    if asked > limits.max_replicas:
        raise Invalid(
            "replicas: this center runs at most {limit} replicas per job (asked {replicas}); "
            "split the work into smaller jobs, or ask an operator to raise "
            "limits.max_replicas_per_job",
            limit=limits.max_replicas,
            replicas=asked,
        )
    bound = queue.max_replicas_per_job
    if bound is not None and asked > bound:
        raise Invalid(
            "replicas: queue {queue} runs at most {limit} replicas per job (asked {replicas}); "
            "split the work into smaller jobs, or submit to a queue with a larger "
            "max_replicas_per_job",
            queue=queue.name,
            limit=bound,
            replicas=asked,
        )


def _waiting_limits(
    who: Principal, queue: Queue, limits: SubmitLimits
) -> dict[str, waiting.Limit | None]:
    """The user's limit on their waiting jobs, and the queue's where it has one."""
    mine = waiting.Limit(
        limits.max_pending_per_user,
        lambda: TooMany(
            "you have {count} jobs waiting already; wait or cancel some",
            count=limits.max_pending_per_user,
        ),
    )
    most = queue.max_pending
    queued = None
    if most is not None:
        queued = waiting.Limit(
            most,
            lambda: TooMany(
                "queue {queue} holds its maximum of {count} waiting jobs",
                queue=queue.name,
                count=most,
            ),
        )
    return {waiting.of_user(who.user_id): mine, waiting.of_queue(queue.id): queued}


# A submit's statements, built once: building one (and its cache key) costs more than running it.
# As plain table statements: the ORM's compile and loading steps cost more than the queries.
_JOBS = table(JobRow)
_SEEN = select(_JOBS.c.id, _JOBS.c.request_sha256).where(
    _JOBS.c.user_id == bindparam("user_id"), _JOBS.c.idempotency_key == bindparam("key")
)
_INSERT_JOB, _INSERT_EVENT = insert(_JOBS), insert(table(EventRow))
# the view's fields a new job's row holds (the others, `_new_view` fills in)
_VIEW_COLUMNS = [name for name in Job.model_fields if name in _JOBS.c]


def _deadline(spec: JobSpec, now: datetime, runtime_s: int | None) -> datetime | None:
    """The absolute deadline the job is stored with (a duration after submit counts from
    `now`); refused when it has passed or leaves less than the declared runtime."""
    deadline = spec.resolve_deadline(now)
    if deadline is None:
        return None
    if deadline <= now:
        raise Invalid("deadline: {at} has passed; give a later time", at=deadline.isoformat())
    if runtime_s and (deadline - now).total_seconds() < runtime_s:
        raise Invalid(
            "deadline: {at} leaves less than max_runtime ({runtime} s) from now; "
            "give a later deadline or a shorter max_runtime",
            at=deadline.isoformat(),
            runtime=runtime_s,
        )
    return deadline


def stored_spec(spec: JobSpec, **filled: object) -> JobSpec:
    """The spec as it will be stored, with what submit fills in (name, project, queue, the
    queue's defaults), validated again by the same model the scheduler's snapshot reads it
    with: a job is stored only if the scheduler can read it back."""
    data = {**spec.model_dump(mode="json", by_alias=True, exclude={"workdir"}), **filled}
    try:
        return JobSpec.model_validate(data)
    except ValidationError as err:
        raise Invalid(first_problem(err)) from None


def _check_references(session: Session, spec: JobSpec, *, project_id: str, org_id: str) -> None:
    if spec.secrets:
        known = secrets.existing(session, project_id, spec.secrets)
        missing = sorted(set(spec.secrets) - known)
        if missing:
            raise Invalid(
                "secrets: {names} not found in this project; add them with `aicc secret set`",
                names=", ".join(missing),
            )
    if spec.workdir_sha256 and session.get(WorkdirRow, (spec.workdir_sha256, org_id)) is None:
        raise Invalid(
            "workdir_sha256: no such upload in your organization; upload the workdir first"
        )


def _check_scenario(spec: JobSpec) -> None:
    """A job's `scenario` (for its estimate) must be one the estimator understands."""
    if spec.scenario is None:
        return
    from aicc.estimate import parse_scenario

    try:
        parse_scenario(spec.scenario)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        loc = [str(part) for part in first["loc"]][1:]
        where = ".".join(["scenario", *loc])
        raise Invalid(f"{where}: {str(first['msg']).removeprefix('Value error, ')}") from None


# The fit check's view of the center, per database: (read at, its answers). Reading every node and
# device on each submit would make a big center's submits slow; a view a few seconds old can
# only accept a job it should have refused (it then waits, `unschedulable`), never the reverse:
# a refusal reads the nodes again first.
_FLEET_S = 5.0
_fleets: weakref.WeakKeyDictionary[Any, tuple[float, Feasibility]] = weakref.WeakKeyDictionary()


def _fleet(session: Session, *, fresh: bool) -> Feasibility:
    engine = session.get_bind()
    kept = _fleets.get(engine)
    if not fresh and kept is not None and time.monotonic() - kept[0] < _FLEET_S:
        return kept[1]
    fleet = Feasibility(snapshots.node_views(session, empty=True))
    _fleets[engine] = (time.monotonic(), fleet)
    return fleet


def _check_fits(session: Session, spec: JobSpec) -> None:
    """A job that no node could hold even when the center is empty would wait forever: refuse it.
    The scheduler's own test (its `unschedulable` reason), so MIG slices and whole-device-only
    nodes count here as they do there."""
    request = snapshots.replica_request(spec)
    for fresh in (False, True):
        if _fleet(session, fresh=fresh).ever_fits(
            spec.replicas, [request], (spec.replicas, request)
        ):
            return
    views = _fleet(session, fresh=False).nodes
    res = spec.resources
    want = f"{format_cpu(res.cpu_milli)} CPU, {format_memory(res.memory_mib)} memory"
    if res.accelerator.count:
        share = res.accelerator.milli
        if res.accelerator.mig:
            what = f"one MIG slice {res.accelerator.mig}"
        elif share and share < 1000:
            what = f"{share / 1000:g} of an accelerator"
        else:
            what = f"{res.accelerator.count} accelerators"
        models = f" of model {'/'.join(res.accelerator.models)}" if res.accelerator.models else ""
        want += f", {what}{models}"
    if request.needs:
        _check_image(session, spec, request, want)
    has = lacks(views, replace(request, needs=()), spec.replicas)
    if request.within is not None:
        raise Invalid(
            "topology: no {within} of this center can ever hold this job's {replicas} replicas "
            "together ({want}); what each {within} holds when empty: {has}",
            within=request.within,
            replicas=spec.replicas,
            want=want,
            has=has,
        )
    raise Invalid(
        "resources: no node of this center can ever run this job ({replicas} x {want}); "
        "what each node has of what one replica needs: {has}",
        replicas=spec.replicas,
        want=want,
        has=has,
    )


def _check_image(session: Session, spec: JobSpec, request: ReplicaRequest, want: str) -> None:
    """Refuse, with what each node has, a job that would fit but for what its image needs of a
    node (a newer driver than any node has, or one only nodes too small for it have). The
    resources' words, under `image` (the portal's catalog translates them by what follows)."""
    plain = replace(request, needs=())
    fleet = _fleet(session, fresh=False)
    if not fleet.ever_fits(spec.replicas, [plain], (spec.replicas, plain)):
        return  # it does not fit even without its image's needs: the resources say why
    why = image_reason(fleet.nodes, request)
    raise Invalid(
        "image: no node of this center can ever run this job ({replicas} x {want}); {has}",
        replicas=spec.replicas,
        want=f"{want}, image {spec.image}",
        has=why.message if why is not None else "no node meets what its image needs",
    )


check_fits = _check_fits  # deployments check their replicas' spec when made


def get(session: Session, who: Principal, job_id: str) -> Job:
    return _view(session, _readable(session, who, job_id))


def find(session: Session, job_id: str) -> Job | None:
    """The job, for the server's own work on it (a loop, a context above jobs acting on a
    job it started), or None where it is gone: no tenant asks through this."""
    job = session.get(JobRow, job_id)
    return None if job is None else _view(session, job)


def pinned_datasets(session: Session, job_id: str) -> list[dict[str, Any]]:
    """The data set versions the job was submitted with (`{"name", "ref", "version_id",
    "bytes"}` each, copies), none where the job is gone: the lineage of what it made."""
    job = session.get(JobRow, job_id)
    return [dict(d) for d in job.datasets or ()] if job is not None else []


def mounting(session: Session, job_id: str) -> MountingJob | None:
    """What the data mounts need of the job (services/data/mounts.py), None where it is gone:
    the caller hands it to them, as data sits below jobs."""
    job = session.get(JobRow, job_id)
    if job is None:
        return None
    sets = [
        Mounted(name=d["name"], ref=d["ref"], version_id=d["version_id"], bytes=d["bytes"])
        for d in job.datasets or ()
    ]
    return from_row(MountingJob, job, datasets=sets)


def spec_again(session: Session, who: Principal, job_id: str) -> JobSpec:
    """The spec to run a job again from, or to clone (`jobspec.again`): its stored spec in its
    own project. Another tenant's job is a 404; a deployment's or notebook's replica job, or a
    spec an older server stored that today's rules refuse, a 422 saying what to do."""
    job = _readable(session, who, job_id)
    try:
        return again(job.spec, job.project_id)
    except InputError as err:
        raise Invalid(err.template, **err.params) from None
    except ValidationError as err:
        raise Invalid(
            "the job's spec no longer passes today's rules ({problem}): clone it and edit it",
            problem=first_problem(err),
        ) from None


def _readable(session: Session, who: Principal, job_id: str) -> JobRow:
    job = session.get(JobRow, job_id)
    if job is None or not can_read(who, org_id=job.org_id, project_id=job.project_id):
        raise NotFound("job {job_id} not found", job_id=job_id)
    return job


def list_jobs(
    session: Session,
    who: Principal,
    *,
    state: str | None,
    project: str | None,
    limit: int,
    before_id: str | None,
) -> list[Job]:
    """Newest first (ids sort by creation time); a page ends before `before_id`."""
    query = select(JobRow).order_by(JobRow.id.desc()).limit(limit)
    if project is not None:
        query = query.where(JobRow.project_id == tenancy.resolve_project(session, who, project).id)
    elif not who.is_admin:
        query = query.where(JobRow.org_id == who.org_id)
        if who.role.value not in ("org_admin",):
            query = query.where(JobRow.project_id.in_(who.project_ids or {""}))
    if state:
        query = query.where(JobRow.state == state)
    if before_id:
        query = query.where(JobRow.id < before_id)
    return [_view(session, row) for row in session.scalars(query)]


def cancel(session: Session, who: Principal, job_id: str) -> Job:
    """Waiting jobs end at once; placed ones are stopped by the reconciler (TERM, grace, KILL).
    A job already cancelled (or being cancelled) is answered as it is, so a retried cancel is
    harmless; a job that ended otherwise (succeeded, failed) is a Conflict, as `scancel` of an
    ended job is an error: the caller asked for an outcome that can no longer happen."""
    job = _readable(session, who, job_id)
    if not can_write(who, org_id=job.org_id, project_id=job.project_id):
        raise Forbidden("viewers cannot cancel jobs")
    hold(session, job)  # the scheduler may be binding it
    state = JobState(job.state)
    if state is JobState.CANCELLED or job.cancel_requested:
        return _view(session, job)
    if state.is_terminal():
        raise Conflict(
            "job {job} already ended ({state}): there is nothing to cancel",
            job=job.id,
            state=state.value,
        )
    audit.record(session, who, "job.cancel", "job", job.id, org_id=job.org_id)
    changes.changed(session)  # a placed job's replicas are stopped by the next pass
    if state in WAITING:
        change_state(
            session,
            job,
            JobState.CANCELLED,
            reason=Reason.CANCELLED_BY_USER,
            message=f"cancelled by {who.name}",
        )
    else:
        job.cancel_requested = True
        job.message = f"cancelling (requested by {who.name})"
    return _view(session, job)


def events(session: Session, who: Principal, job_id: str) -> list[Event]:
    job = _readable(session, who, job_id)
    query = select(EventRow).where(EventRow.job_id == job.id).order_by(EventRow.id)
    return [from_row(Event, e, data=copy.deepcopy(e.data)) for e in session.scalars(query)]


def _replicas(session: Session, job_id: str, *, attempt: int | None = None) -> list[ReplicaRow]:
    """The replicas of one attempt (the latest that has any, by default)."""
    query = select(ReplicaRow).where(ReplicaRow.job_id == job_id)
    if attempt is None:
        attempt = session.scalar(
            select(func.max(ReplicaRow.attempt)).where(ReplicaRow.job_id == job_id)
        )
        if attempt is None:
            return []
    return list(
        session.scalars(query.where(ReplicaRow.attempt == attempt).order_by(ReplicaRow.index))
    )
