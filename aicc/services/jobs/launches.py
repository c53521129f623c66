"""What a reconcile pass is to do: every active replica to stop or poll, and the replicas to
launch now, each with what its executor needs (`ReplicaLaunch`: argv, environment, devices, data).

Read in one transaction without a fence (the loop, loops/reconcile.py, then acts outside any
transaction). A pass launches at most `MAX_LAUNCHES` replicas, taking the jobs in turn: each
job's next replica, jobs with fewer left first; the rest wait for the next pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.jobspec import ENVIRONMENT_LABEL, JobKind, JobSpec
from aicc.core.mistakes import first_problem
from aicc.core.states import JobState
from aicc.executors import environment
from aicc.executors.base import DataMount, ReplicaLaunch, ReplicaState
from aicc.services.common import Invalid, ServiceError
from aicc.services.data import mounts
from aicc.services.images.builds import Builds
from aicc.services.images.images import Pulls
from aicc.services.images.views import ActingJob
from aicc.services.jobs import elastic, notebooks
from aicc.services.nodes import census as node_census
from aicc.services.nodes.census import NodeFacts
from aicc.services.tenancy import secrets
from aicc.store.sealing import Sealer
from aicc.store.tables.jobs import JobRow, ReplicaRow

ACTIVE_REPLICA = ("scheduled", "running")
# Jobs the server makes to run code that may not be the owner's on the owner's data (a
# template's run, a model's predictions, a challenge's scoring), with `egress: none` so that
# it sends nothing out: no route to the server's S3 endpoint either, where a key of another
# tenant's would take the data to that tenant's data set (executors/serverroute.py).
SEALED_LABELS = frozenset({"aicc.io/template", "aicc.io/predictions", "aicc.io/challenge"})
MAX_LAUNCHES = 32  # replicas one pass launches at most


@dataclass
class Work:
    """One active replica and what is needed to act on it outside a transaction."""

    replica_id: str
    job_id: str
    executor: str
    handle: str | None
    cancel: bool
    launch: ReplicaLaunch | None
    refused: ReplicaState | None = None  # why it cannot be launched at all (its stored spec)
    # secret values the launch gives that the job does not keep yet: written with what was
    # observed (`reconciling.write`), never in the read transaction that gathers
    secrets_seen: tuple[str, ...] = ()
    turn: int = 0  # its place among the pass's launches (`_launch_turns`): earlier goes first


def gather(
    session: Session, sealer: Sealer, max_launches: int = MAX_LAUNCHES, pulls: Pulls | None = None
) -> tuple[list[Work], int]:
    """The pass's work: every active replica to stop or poll, and at most `max_launches` to
    launch, in turns across jobs (`_launch_turns`); and how many replicas it left for a later
    pass to launch. `pulls`: the center registry's pull credentials (None: there is none)."""
    rows = session.scalars(select(ReplicaRow).where(ReplicaRow.state.in_(ACTIVE_REPLICA))).all()
    jobs = {
        j.id: j
        for j in session.scalars(select(JobRow).where(JobRow.id.in_({r.job_id for r in rows})))
    }
    nodes = {n.id: n for n in node_census.listed(session, ids={r.node_id for r in rows})}
    broken = _gangs_with_a_failure(session, jobs)
    stops: dict[str, bool] = {}
    for rep in rows:
        job = jobs[rep.job_id]
        stops[rep.id] = (
            job.cancel_requested
            or JobState(job.state).is_terminal()
            or rep.attempt != job.attempt
            or job.id in broken  # a gang whose member failed or was lost cannot go on
            or job.state == JobState.PREEMPTED.value  # SIGTERM now, SIGKILL after the grace
            or rep.released_at is not None  # an elastic job's replica given back (a shrink)
        )
    unlaunched = [rep for rep in rows if not (rep.handle or stops[rep.id])]
    turns = _launch_turns(unlaunched, max_launches)
    work = []
    for rep in rows:
        job, node = jobs[rep.job_id], nodes[rep.node_id]
        stop = stops[rep.id]
        if not (rep.handle or stop) and rep.id not in turns:
            continue  # a later pass launches it
        launch, refused = None, None
        seen: list[str] = []
        if not (rep.handle or stop):
            try:
                launch, seen = _launch(session, sealer, job, rep, node, pulls)
            except ValidationError as err:  # bound by an older server, before today's limits
                refused = ReplicaState("exited", reason="invalid_spec", message=first_problem(err))
            except ServiceError as err:  # its image is gone, or no longer its tenant's to pull
                refused = ReplicaState("exited", reason="image_unavailable", message=str(err))
        turn = turns.get(rep.id, 0)
        work.append(
            Work(
                rep.id, job.id, node.executor, rep.handle, stop, launch, refused, tuple(seen), turn
            )
        )
    return work, len(unlaunched) - len(turns)


def _launch_turns(unlaunched: list[ReplicaRow], limit: int) -> dict[str, int]:
    """The replicas this pass launches, by id, with their turn: at most `limit`, each job's
    replicas in index order, the jobs in turn (round after round; in a round, jobs with fewer
    replicas left first), so a job bound after a big gang starts in the gang's next pass."""
    by_job: dict[str, list[ReplicaRow]] = {}
    for rep in sorted(unlaunched, key=lambda r: (r.job_id, r.index)):
        by_job.setdefault(rep.job_id, []).append(rep)
    queues = sorted(by_job.values(), key=lambda reps: (len(reps), reps[0].job_id))
    chosen: list[str] = []
    turn = 0
    while len(chosen) < limit and queues:
        queues = [reps for reps in queues if len(reps) > turn]
        for reps in queues:
            if len(chosen) >= limit:
                break
            chosen.append(reps[turn].id)
        turn += 1
    return {rep_id: i for i, rep_id in enumerate(chosen)}


def _gangs_with_a_failure(session: Session, jobs: dict[str, JobRow]) -> set[str]:
    """Jobs whose current attempt lost a replica below its elastic minimum: a gang's any."""
    ended = session.execute(
        select(ReplicaRow.job_id, ReplicaRow.attempt, ReplicaRow.index).where(
            ReplicaRow.job_id.in_(jobs),
            ReplicaRow.state.in_(("exited", "lost")),
            ReplicaRow.reason != "succeeded",
        )
    )
    broken = set()
    for job_id, attempt, index in ended:
        job = jobs[job_id]
        least = elastic.minimum(job)
        if job.attempt == attempt and (least is None or index < least):
            broken.add(job_id)
    return broken


def _launch(
    session: Session,
    sealer: Sealer,
    job: JobRow,
    rep: ReplicaRow,
    node: NodeFacts,
    pulls: Pulls | None = None,
) -> tuple[ReplicaLaunch, list[str]]:
    """The launch, and the secret values it gives that the job does not keep yet."""
    spec = JobSpec.model_validate(job.spec)
    env = dict(spec.env)
    seen: list[str] = []
    if spec.secrets:
        given, seen = secrets.launched_with(
            session, sealer, project_id=job.project_id, names=spec.secrets, kept=job.secrets_seen
        )
        env.update(given)
    env.update({k: str(v) for k, v in rep.rendezvous.items()})
    env["AICC_JOB_ID"] = job.id
    env["AICC_ATTEMPT"] = str(job.attempt)
    env["AICC_REPLICA"] = str(rep.index)
    notebook = job.kind == JobKind.NOTEBOOK.value
    if notebook:  # JupyterLab's token, known only to it and to the server (services/notebooks)
        env["JUPYTER_TOKEN"] = notebooks.token(sealer, job.id, job.attempt)
    indices = tuple(d["index"] for d in rep.devices)
    mig_profile = spec.resources.accelerator.mig
    if indices:
        on = node_census.devices(session, node_ids=[node.id], indices=indices)
        devices = {d.index: d.device() for d in on}
        env.update(environment.device_env(rep.devices, devices, mig_profile))
    elif spec.resources.accelerator.count == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU job must not grab a GPU it was not given
    build = None
    acting = ActingJob(id=job.id, user_id=job.user_id, project_id=job.project_id)
    if spec.build is not None:  # its push and pull credential, asked again at every launch
        if pulls is None:
            raise Invalid("build: this center has no registry to push the image to")
        build = Builds(pulls.registry, pulls.home).launch(session, acting, spec)
    launch = ReplicaLaunch(
        job_id=job.id,
        attempt=job.attempt,
        index=rep.index,
        argv=spec.argv(),
        env=env,
        node=node.name,
        device_indices=indices,
        cpu_milli=rep.cpu_milli,
        memory_mib=rep.memory_mib,
        max_runtime_s=spec.max_runtime_s,
        workdir_sha256=spec.workdir_sha256,
        checkpoint_subdir=spec.checkpoint_dir,
        labels={**spec.labels, "aicc.io/org": job.org_id, "aicc.io/project": job.project_id},
        image=spec.image,
        image_pull_token=(
            pulls.credential(session, acting, spec.image) if pulls and spec.image else None
        ),
        priority=spec.priority,
        devices=tuple(dict(d) for d in rep.devices),
        mig_profile=mig_profile,
        datasets=tuple(
            DataMount(d["name"], d["version_id"], d["ref"], d["bytes"]) for d in job.datasets or ()
        ),
        data_grant=mounts.grant(sealer, job.id, job.attempt) if job.datasets else None,
        home=notebooks.home_of(job) if notebook else None,
        egress=spec.egress or "none",  # filled in at submit: the center's default then
        s3_route=spec.egress == "internet" or not SEALED_LABELS & spec.labels.keys(),
        build=build,
        environment=None if spec.image else spec.labels.get(ENVIRONMENT_LABEL),
    )
    return launch, seen
