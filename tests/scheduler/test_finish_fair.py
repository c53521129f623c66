"""Finish-time fairness on the `predicted` ladder (plugins/service.py, `lift`): a job that has
waited long for its size comes down the ladder, so the longest work is neither starved by a
stream of shorter jobs nor, once running, every shorter job's victim."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sched_fixtures import (
    at,
    bound,
    gpus,
    job,
    node,
    place,
    preempts,
    profile,
    run,
    snapshot,
    tree,
    waiting,
)

from aicc.core.tenancy import Quota
from aicc.scheduler.framework import Cycle
from aicc.scheduler.plugins.service import Predicted
from aicc.scheduler.profile import Profile
from aicc.scheduler.profiles import PROFILES
from aicc.scheduler.snapshot import JobView

HOUR = 3600


def predicted(view: JobView, runtime_s: float) -> JobView:
    return replace(view, predicted_runtime_s=runtime_s)


def lifting(lift: float | None, *, at_start: bool = False, **preempt: Any) -> Profile:
    """The `predicted` profile with its ladder lifting a level per `lift` of projected slowdown
    (`at_start`: by the waits before its starts only), `preempt` changing its preemption."""
    args: dict[str, Any] = {"thresholds_h": [0.25, 2.5, 25.0], "starve": 10.0}
    if lift is not None:
        args["lift"] = lift
    if at_start:
        args["lift_at_start"] = True
    return profile(
        "predicted",
        queue_sort=[
            {"name": "priority", "weight": 1.0},
            {"name": "predicted", "weight": 10_000.0, "args": args},
            {"name": "aging", "weight": 10.0},
        ],
        preempt={**PROFILES["predicted"]["preempt"], **preempt},
    )


def ladder_of(prof: Profile) -> Predicted:
    return next(p for p, _ in prof.queue_sort if isinstance(p, Predicted))


def test_a_long_job_that_waited_long_for_its_size_goes_before_a_fresh_short_one() -> None:
    """A ten-hour job on a whole node (80 device-hours, the top level) that has waited a day and
    a half, against a one-hour job on one GPU just submitted: by predicted work alone the short
    one takes a GPU and the node is no longer whole; lifted, the long one gets its node."""
    nodes = [node("n", gpus=8)]
    long = predicted(job("long", gpus=8, minute=-36 * 60, runtime_s=10 * HOUR), 10 * HOUR)
    short = predicted(job("short", minute=0, runtime_s=HOUR), HOUR)
    decisions = run(snapshot(nodes, [long, short]), lifting(1.0))
    assert bound(decisions, "long")
    assert waiting(decisions, "short")
    unlifted = run(snapshot(nodes, [long, short]), lifting(None))
    assert bound(unlifted, "short")
    assert waiting(unlifted, "long")


def test_the_lift_counts_waiting_against_the_expected_runtime() -> None:
    """Slowdown, not wait: the same 36 hours lift a ten-hour job three levels, a 100-hour one
    not at all; running does not count as waiting, and no job goes below the first level."""
    prof = lifting(1.0)
    ladder = ladder_of(prof)
    nodes = [node("n", gpus=8)]
    cycle = Cycle(snapshot(nodes, []), prof)
    ten = predicted(job("ten", gpus=8, minute=-36 * 60, runtime_s=10 * HOUR), 10 * HOUR)
    hundred = replace(ten, id="hundred", predicted_runtime_s=100 * HOUR)
    assert ladder.rank(hundred, cycle) == 3
    assert ladder.rank(ten, cycle) == 0  # waited 3.6 x its runtime: three levels down
    # it started after 6 hours of waiting and has run 30: 0.6 x waited, 7 h of 8 GPUs left
    running = predicted(place(nodes, ten, [("n", range(8))], started=at(hours=-30)), 10 * HOUR)
    assert ladder.rank(running, cycle) == 3  # runs past its prediction: by what it has run
    # an hour on one GPU (level 1) that waited five hours: the first level, not below it
    hour = predicted(job("hour", minute=-5 * 60, runtime_s=HOUR), HOUR)
    assert ladder.rank(hour, cycle) == 0


def test_a_lifted_running_job_is_not_the_victim_of_a_shorter_newcomer() -> None:
    """Once a long waiter runs, a job with less predicted work does not take its node back:
    it waited 27 hours for a ten-hour run, so it is as far down the ladder as the newcomer."""
    nodes = [node("n", gpus=8)]
    waited = predicted(job("long", gpus=8, minute=-28 * 60, runtime_s=10 * HOUR), 10 * HOUR)
    running = predicted(place(nodes, waited, [("n", range(8))], started=at(hours=-1)), 10 * HOUR)
    newcomer = predicted(job("new", gpus=8, runtime_s=2 * HOUR), 2 * HOUR)  # 16 device-hours
    assert not preempts(run(snapshot(nodes, [newcomer], running=[running]), lifting(1.0)))
    (p,) = preempts(run(snapshot(nodes, [newcomer], running=[running]), lifting(None)))
    assert (p.job_id, p.preemptor) == ("long", "new")


def test_lift_needs_a_positive_factor() -> None:
    with pytest.raises(ValueError, match="lift"):
        profile("predicted", queue_sort=[{"name": "predicted", "args": {"lift": 0}}])


def test_with_lift_at_start_a_preempted_job_is_not_lifted_by_its_wait_since() -> None:
    """A ten-hour whole-node job that started at once and was preempted after two hours has
    waited ten hours since: that wait lifts it a level, and it takes the node back from
    another ten-hour job an hour into its run (the long jobs take turns). With `lift_at_start`
    only what it waited before it started counts (nothing), and the running job keeps its node."""
    nodes = [node("n", gpus=8)]
    back = predicted(job("back", gpus=8, minute=-12 * 60, runtime_s=10 * HOUR), 10 * HOUR)
    back = replace(back, attained_s=2 * HOUR * 8, queued_at=at(hours=-10))
    other = predicted(job("other", gpus=8, minute=-60, runtime_s=10 * HOUR), 10 * HOUR)
    running = predicted(place(nodes, other, [("n", range(8))], started=at(hours=-1)), 10 * HOUR)
    (p,) = preempts(run(snapshot(nodes, [back], running=[running]), lifting(1.0)))
    assert (p.job_id, p.preemptor) == ("other", "back")
    frozen = lifting(1.0, at_start=True)
    assert not preempts(run(snapshot(nodes, [back], running=[running]), frozen))
    # what it waited before its first start still counts: submitted 16 h before it started
    early = replace(back, submitted_at=at(hours=-28))
    (p,) = preempts(run(snapshot(nodes, [early], running=[running]), frozen))
    assert (p.job_id, p.preemptor) == ("other", "back")


def test_service_guarded_from_keeps_the_top_levels_guarantee() -> None:
    """A 30-hour whole-node job (240 device-hours, the top level) runs within its project's
    guarantee of 8 GPUs. Where `service` crosses guarantees, another project's one-hour job on
    a whole node (8 device-hours, a level below) takes its node; with `service_guarded_from: 3`
    the guarantee holds at the top level, and the newcomer waits. Work that borrows is still
    taken."""
    tenants = tree(
        {
            "prj-a": Quota(guaranteed=gpus(8), max=gpus(16)),
            "prj-b": Quota(guaranteed=gpus(0), max=gpus(16)),
        }
    )
    nodes = [node("n", gpus=8)]
    long = predicted(job("long", gpus=8, minute=-90, runtime_s=30 * HOUR), 30 * HOUR)
    running = predicted(place(nodes, long, [("n", range(8))], started=at(hours=-1)), 30 * HOUR)
    short = predicted(job("short", gpus=8, project="prj-b", runtime_s=HOUR), HOUR)

    def preempted(prof: Profile, held: JobView) -> list[str]:
        snap = snapshot(nodes, [short], running=[held], tenants=tenants)
        return [p.job_id for p in preempts(run(snap, prof))]

    assert preempted(lifting(None), running) == ["long"]
    guarded = lifting(None, service_guarded_from=3)
    assert preempted(guarded, running) == []
    assert preempted(guarded, replace(running, borrowed=True)) == ["long"]


def test_the_predicted_profile_lifts_by_the_wait_before_a_start() -> None:
    """The shipped `predicted` profile: the long job that waited a day and a half for its node
    gets it before a fresh short one, and a preempted one does not take its node back."""
    nodes = [node("n", gpus=8)]
    long = predicted(job("long", gpus=8, minute=-36 * 60, runtime_s=10 * HOUR), 10 * HOUR)
    short = predicted(job("short", minute=0, runtime_s=HOUR), HOUR)
    decisions = run(snapshot(nodes, [long, short]), "predicted")
    assert bound(decisions, "long")
    assert waiting(decisions, "short")
    back = predicted(job("back", gpus=8, minute=-12 * 60, runtime_s=10 * HOUR), 10 * HOUR)
    back = replace(back, attained_s=2 * HOUR * 8, queued_at=at(hours=-10))
    other = predicted(job("other", gpus=8, minute=-60, runtime_s=10 * HOUR), 10 * HOUR)
    running = predicted(place(nodes, other, [("n", range(8))], started=at(hours=-1)), 10 * HOUR)
    assert not preempts(run(snapshot(nodes, [back], running=[running]), "predicted"))
