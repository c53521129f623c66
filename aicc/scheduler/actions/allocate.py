"""Allocate: filter and score nodes and place every replica of the job (a gang in one
statement, committed whole or discarded), and bind it. A job that does not fit goes to the
`unfit` stage with the reason (resources, a gang not whole) or is `blocked` (it could never
fit, or the space is held for the reservation)."""

from __future__ import annotations

from dataclasses import replace

from aicc.scheduler import reserve
from aicc.scheduler.actions.base import Action
from aicc.scheduler.allocate import Spot, place_job
from aicc.scheduler.cluster import Statement
from aicc.scheduler.cycle import FAIRSHARE, Attempt, CycleState, Trial
from aicc.scheduler.snapshot import JobView, ReplicaRequest, WaitReason


def prepare(cycle: CycleState, trial: Trial) -> None:
    """The requests to try and the key of their fate in this cycle, once per trial."""
    if not trial.key:
        trial.attempts, trial.key = cycle.trial_of(trial.job, trial.models, trial.accel)


def run(cycle: CycleState, trial: Trial) -> bool:
    prepare(cycle, trial)
    job, attempts, key = trial.job, trial.attempts, trial.key
    placed = place(cycle, job, attempts, key)
    if placed is not None:
        cycle.bind(job, placed)
        return True
    reason = why(cycle, job, attempts, key)
    trial.reason, trial.reasons = reason, [reason]
    if reason.code not in ("resources", "gang"):
        trial.stage = "blocked"
        return False
    trial.stage = "unfit"
    if cycle.behind_fair_share(job):
        trial.reasons.append(FAIRSHARE)
    return False


def place(
    cycle: CycleState, job: JobView, attempts: list[Attempt], key: tuple[object, ...]
) -> tuple[list[Spot], ReplicaRequest] | None:
    if key in cycle.failed:
        return None
    fitted = 0
    placed_as = cycle.placed_as.get(key)  # `by_policy` follows from the key: once per key
    if placed_as is None:
        placed_as = cycle.placed_as[key] = by_policy(cycle, job, attempts)
    for req, model in placed_as:
        statement = Statement(cycle.cluster)
        spots, count = place_job(
            cycle.cluster, statement, req, model, job.replicas, cycle.profile.place
        )
        if spots is not None:
            statement.commit()
            return spots, req
        fitted = max(fitted, count)
    cycle.failed[key] = fitted  # capacity only shrinks in a cycle: it fails again
    return None


def by_policy(cycle: CycleState, job: JobView, attempts: list[Attempt]) -> list[Attempt]:
    """The attempts as placed: one replica that the profile's placement policy covers is one
    attempt over every model it may use (their union, `model` None), since which model is
    part of what the policy weighs; model choice then orders only what the policy does not
    place. Preemption and reservation keep the per-model attempts (and their demands)."""
    placer = cycle.cluster.placer
    if len(attempts) <= 1 or job.replicas != 1 or placer is None:
        return attempts
    request = job.request
    if not placer.covers(request):
        return attempts
    if request.accel_count > 1 and cycle.mixed_nodes():
        return attempts  # a replica never mixes models on a node: one model at a time
    models = tuple(m for _, m in attempts if m is not None)
    key = (cycle.shape(request), models)
    union = cycle.unions.get(key)
    if union is None:
        union = cycle.unions[key] = replace(request, models=models)
    return [(union, None)]


def why(
    cycle: CycleState, job: JobView, attempts: list[Attempt], key: tuple[object, ...]
) -> WaitReason:
    """Why a job that was tried did not fit."""
    within = job.request.within if job.replicas > 1 else None
    if not cycle.feasible.ever_fits(job.replicas, [req for req, _ in attempts], key):
        if within is not None:
            why = f"no {within} could hold its {job.replicas} replicas together even empty"
            return WaitReason("unschedulable", why)
        return WaitReason(
            "unschedulable", "no node could hold it even empty (or the gang is too large)"
        )
    res = cycle.reservation
    if (
        res is not None
        and not cycle.is_short(job)
        and reserve.fits_reserved(cycle, job, attempts, key)
    ):
        if res.at is None:
            text = (
                f"space is held for {res.job.id} until jobs without a declared runtime "
                "end; nothing may backfill into it"
            )
        else:
            runtime = (
                "declares no max_runtime" if job.max_runtime_s is None else "would still run then"
            )
            text = f"space is held for {res.job.id} from {res.at.isoformat()}; this job {runtime}"
        return WaitReason("reservation", text)
    fitted = cycle.failed.get(key, 0)
    if within is not None:
        return WaitReason(
            "gang",
            f"no {within} has room for its {job.replicas} replicas together now "
            f"(at most {fitted} in one)",
        )
    if job.replicas > 1 and fitted > 0:
        return WaitReason(
            "gang", f"{fitted} of {job.replicas} replicas fit now; a gang starts whole"
        )
    return WaitReason(
        "resources", "no node has the free CPU, memory and accelerators this job asks for"
    )


ACTION = Action("allocate", "admitted", run)
