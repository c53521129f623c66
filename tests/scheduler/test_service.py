"""Service ladders: least attained service (Tiresias) and shortest declared work, in queue order
and as a preemption rule that never loops."""

from __future__ import annotations

from dataclasses import replace

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
from aicc.scheduler.profiles import PROFILES
from aicc.scheduler.snapshot import JobView

HOUR = 3600


def attained(j: JobView, gpu_hours: float) -> JobView:
    return replace(j, attained_s=gpu_hours * HOUR)


def test_least_attained_goes_first_and_fifo_within_a_level() -> None:
    nodes = [node("n", gpus=1)]
    old_hungry = attained(job("old-hungry", minute=-60), 20)  # level 2 (past 1 and 10 GPU-hours)
    fresh = job("fresh", minute=-1)  # level 0
    fresher = job("fresher", minute=0)  # level 0, later
    decisions = run(snapshot(nodes, [old_hungry, fresher, fresh]), "las")
    assert bound(decisions, "fresh")
    assert waiting(decisions, "fresher").position < waiting(decisions, "old-hungry").position


def test_a_new_job_preempts_one_that_had_more_service_and_not_the_reverse() -> None:
    nodes = [node("n", gpus=8)]
    # ran 2 hours on 8 GPUs: 16 GPU-hours, level 2
    long = place(nodes, job("long", gpus=8, minute=-130), [("n", range(8))], started=at(hours=-2))
    decisions = run(snapshot(nodes, [job("new", gpus=4)], running=[long]), "las")
    (p,) = preempts(decisions)
    assert (p.job_id, p.preemptor, p.reason) == ("long", "new", "service")
    # a job that already had as much service as the running one preempts nothing
    equal = attained(job("equal", gpus=4), 16)
    assert not preempts(run(snapshot(nodes, [equal], running=[long]), "las"))


def test_a_minimum_run_keeps_a_fresh_attempt_from_being_time_sliced() -> None:
    nodes = [node("n", gpus=8)]
    # 16 GPU-hours of earlier attempts (level 2), running again for 5 minutes
    running = attained(
        place(nodes, job("long", gpus=8), [("n", range(8))], started=at(minutes=-5)), 16
    )
    las = PROFILES["las"]["preempt"]
    for min_run_s, victims in ((0, ["long"]), (600, []), (240, ["long"])):
        sliced = profile("las", preempt={**las, "service_min_run_s": min_run_s})
        decisions = run(snapshot(nodes, [job("new", gpus=4)], running=[running]), sliced)
        assert [p.job_id for p in preempts(decisions)] == victims


def test_service_preemption_does_not_loop() -> None:
    """The victim, requeued with its attained service, never preempts its preemptor back, even
    after the preemptor ran for a while (remembered preemptors), and the gap keeps equals apart."""
    nodes = [node("n", gpus=8)]
    winner = place(nodes, job("new", gpus=8), [("n", range(8))], started=at(minutes=-30))
    loser = attained(job("long", gpus=8, minute=-130, preempted_by=("new",)), 16)
    assert not preempts(run(snapshot(nodes, [loser], running=[winner]), "las"))


def test_declared_ladder_puts_short_declared_work_first_and_unknown_last() -> None:
    prof = profile(
        "default",
        queue_sort=[
            {"name": "declared", "weight": 1000, "args": {"thresholds_h": [1, 8, 100]}},
            {"name": "priority", "weight": 1},
        ],
        guaranteed_first=False,
    )
    nodes = [node("n", gpus=1)]
    long = job("long", minute=-10, runtime_s=20 * HOUR)
    unknown = job("unknown", minute=-20)
    short = job("short", minute=0, runtime_s=600)
    decisions = run(snapshot(nodes, [unknown, long, short]), prof)
    assert bound(decisions, "short")
    assert waiting(decisions, "long").position < waiting(decisions, "unknown").position


def test_declared_work_counts_earlier_attempts_and_an_overrun_job_does_not_jump_the_queue() -> None:
    ladder = profile(
        "default",
        queue_sort=[{"name": "declared", "weight": 1, "args": {"thresholds_h": [1, 8, 100]}}],
    ).queue_sort[0][0]
    nodes = [node("n", gpus=1)]
    cycle = Cycle(snapshot(nodes, []), profile("default"))
    # declared 10 h, ran 9.5 h before a preemption: half an hour left, level 0
    resumed = attained(job("resumed", runtime_s=10 * HOUR), 9.5)
    assert ladder.rank(resumed, cycle) == 0
    # declared 1 h, has run 20 h: expected to run about as long again, level 2 (not 0)
    overrun = place(
        nodes, job("overrun", runtime_s=HOUR, minute=-1300), [("n", [0])], started=at(hours=-20)
    )
    assert ladder.rank(overrun, cycle) == 2


def test_the_ladders_reject_bad_thresholds() -> None:
    import pytest

    with pytest.raises(ValueError, match="positive device-hours"):
        profile("las", queue_sort=[{"name": "attained", "args": {"thresholds_h": [0, 1]}}])


def test_service_preemption_takes_borrowed_long_runs_but_never_a_guarantee() -> None:
    """With guarantees protected, a fresh job of a project over its guarantee may take the GPUs
    of another project's borrowed job that has had more service, never those it runs within its
    own guarantee."""
    prof = profile(
        "default",
        queue_sort=[{"name": "attained", "weight": 10_000, "args": {"thresholds_h": [1, 10]}}],
        preempt={"rules": ["priority", "reclaim", "service"], "grace_s": 30},
    )
    nodes = [node("n", gpus=8)]
    tenants = tree({"prj-a": Quota(max=gpus(8)), "prj-b": Quota(guaranteed=gpus(4), max=gpus(8))})
    two_hours = at(hours=-2)  # 4 GPUs x 2 h: 8 GPU-hours, past the first level
    own = place(
        nodes,
        job("b-own", gpus=4, project="prj-b", minute=-130),
        [("n", range(4))],
        started=two_hours,
    )
    lent = place(
        nodes,
        job("b-lent", gpus=4, project="prj-b", minute=-125),
        [("n", range(4, 8))],
        started=two_hours,
        borrowed=True,
    )
    fresh = job("a-new", gpus=4, project="prj-a")
    decisions = run(snapshot(nodes, [fresh], running=[own, lent], tenants=tenants), prof)
    assert [(p.job_id, p.reason) for p in preempts(decisions)] == [("b-lent", "service")]
    # with only the guaranteed job running, nothing is taken from it
    small = [node("n", gpus=4)]
    own = place(
        small,
        job("b-own", gpus=4, project="prj-b", minute=-130),
        [("n", range(4))],
        started=two_hours,
    )
    decisions = run(snapshot(small, [fresh], running=[own], tenants=tenants), prof)
    assert not preempts(decisions) and waiting(decisions, "a-new")


def test_the_default_time_slices_across_guarantees_but_reclaims_only_upward() -> None:
    """In the default profile a fresh job takes the GPUs of a job that has had more service even
    within another project's guarantee (Tiresias across tenants); a reclaim of a guarantee takes
    only jobs at the reclaimer's level or above, so reclaim and service never chase each other."""
    nodes = [node("n", gpus=4)]
    tenants = tree({"prj-a": Quota(max=gpus(4)), "prj-b": Quota(guaranteed=gpus(4), max=gpus(4))})
    b_own = place(
        nodes,
        job("b-own", gpus=4, project="prj-b", minute=-130),
        [("n", range(4))],
        started=at(hours=-2),  # 8 GPU-hours: level 1
    )
    fresh = job("a-new", gpus=4, project="prj-a")
    decisions = run(snapshot(nodes, [fresh], running=[b_own], tenants=tenants))
    assert [(p.job_id, p.reason) for p in preempts(decisions)] == [("b-own", "service")]
    # prj-b's guaranteed job, back at level 1, may not reclaim from prj-a's level-0 borrower
    nodes = [node("n", gpus=4)]
    a_lent = place(
        nodes, job("a-new", gpus=4, project="prj-a"), [("n", range(4))], started=at(minutes=-5)
    )
    back = attained(job("b-own", gpus=4, project="prj-b", minute=-130, preempted_by=()), 8)
    decisions = run(snapshot(nodes, [back], running=[a_lent], tenants=tenants))
    assert not preempts(decisions)
    # a fresh job of prj-b reclaims its guarantee from the borrower
    decisions = run(
        snapshot(nodes, [job("b-new", gpus=4, project="prj-b")], running=[a_lent], tenants=tenants)
    )
    assert [(p.job_id, p.reason) for p in preempts(decisions)] == [("a-new", "reclaim")]


def test_a_preemptor_keeps_the_free_capacity_its_plan_counts_on() -> None:
    """A 2 x 8 gang preempts the job on one node and counts on the free other node: a job later
    in the queue may not take that node in the same cycle, or the gang would find it gone when
    its victim stops and preempt again (the loop a trace replay showed)."""
    nodes = [node("n0"), node("n1")]
    long = place(nodes, job("long", gpus=8, minute=-130), [("n0", range(8))], started=at(hours=-2))
    gang = job("gang", gpus=8, replicas=2)
    later = attained(job("later", gpus=8, minute=-100), 5)  # level 1: behind the gang
    for name in ("las", "default"):
        decisions = run(snapshot(nodes, [gang, later], running=[long]), name)
        assert [(p.job_id, p.preemptor) for p in preempts(decisions)] == [("long", "gang")]
        assert waiting(decisions, "later")


def test_a_job_that_waited_long_enough_is_promoted_and_keeps_its_place_while_it_runs() -> None:
    """Tiresias's promotion: nothing starves behind a stream of new jobs."""
    promoting = profile(
        "las",
        queue_sort=[
            {"name": "attained", "weight": 10_000, "args": {"thresholds_h": [1], "promote": 4}}
        ],
    )
    nodes = [node("n", gpus=1)]
    # both ran 2 GPU-hours (level 1); one waited 9 h since (>= 4 x 2 h), the other 7 h
    starved = attained(job("starved", minute=-11 * 60), 2)
    patient = attained(job("patient", minute=-9 * 60), 2)
    fresh = job("fresh", minute=-1)
    decisions = run(snapshot(nodes, [fresh, patient, starved]), promoting)
    assert bound(decisions, "starved")
    assert waiting(decisions, "fresh").position < waiting(decisions, "patient").position
    # running since its promotion, only this attempt counts: a new job does not preempt it,
    # while without promotion it is at level 1 and does
    started = attained(place(nodes, starved, [("n", range(1))], started=at(minutes=-30)), 2)
    newcomer = snapshot(nodes, [job("new")], running=[started])
    assert not preempts(run(newcomer, promoting))
    assert [p.job_id for p in preempts(run(newcomer, "las"))] == ["starved"]


def test_promoted_old_jobs_do_not_take_turns_preempting_each_other() -> None:
    """The wait for promotion counts from the job's last attempt. Counted from submission, two
    old jobs that ran a long time would both stay promoted: each would run a few minutes at level
    1 and be preempted by the other, waiting at level 0, without end."""
    promoting = profile(
        "las",
        queue_sort=[
            {"name": "attained", "weight": 10_000, "args": {"thresholds_h": [1], "promote": 4}}
        ],
    )
    nodes = [node("n", gpus=8)]
    # five days old, ran 100 GPU-hours (12.5 h on 8 GPUs): long enough ago for either rule
    old = attained(job("runs", gpus=8, minute=-5 * 24 * 60), 100)
    running = place(nodes, old, [("n", range(8))], started=at(minutes=-10))  # promoted, level 1
    # the other was preempted by a third job ten minutes ago
    other = attained(job("waits", gpus=8, minute=-5 * 24 * 60, preempted_by=("third",)), 100)
    just_stopped = replace(other, queued_at=at(minutes=-10))
    assert not preempts(run(snapshot(nodes, [just_stopped], running=[running]), promoting))
    # not knowing when its last attempt ended, its whole wait counts, as before
    (p,) = preempts(run(snapshot(nodes, [other], running=[running]), promoting))
    assert (p.job_id, p.preemptor) == ("runs", "waits")
    # after waiting four times as long as it ran (50 h) since, it is promoted again
    starved = replace(other, queued_at=at(hours=-50))
    (p,) = preempts(run(snapshot(nodes, [starved], running=[running]), promoting))
    assert (p.job_id, p.preemptor) == ("runs", "waits")


def test_promotion_needs_a_positive_factor() -> None:
    with pytest.raises(ValueError, match="promote"):
        profile("las", queue_sort=[{"name": "attained", "args": {"promote": 0}}])


def test_a_starving_whole_node_job_takes_the_place_of_younger_jobs_at_its_level() -> None:
    """A job at level 0 that needs a whole node waits behind small jobs at its own level, which
    it may not time-slice and promotion cannot lift: after ten times its declared runtime it is
    starving and takes the place of jobs that overtook it, never of older ones."""
    starve = profile(
        "las",
        queue_sort=[
            {"name": "attained", "weight": 10_000, "args": {"thresholds_h": [1], "starve": 10}}
        ],
    )
    nodes = [node("old", gpus=8), node("young", gpus=8)]
    # eight 1-GPU jobs on each node, ten minutes in (level 0); on "old" submitted before it
    running = [
        place(nodes, job(f"{n}{i}", minute=minute), [(n, [i])], started=at(minutes=-10))
        for n, minute in (("old", -120), ("young", -30))
        for i in range(8)
    ]
    whole = job("whole", gpus=8, minute=-60, runtime_s=300)  # waited 12 x its declared runtime
    decisions = run(snapshot(nodes, [whole], running=running), starve)
    victims = {p.job_id for p in preempts(decisions)}
    assert victims == {f"young{i}" for i in range(8)}
    assert {p.preemptor for p in preempts(decisions)} == {"whole"}
    # not yet starving (waited 6 x), or without the setting: it waits, preempting nothing
    patient = replace(whole, max_runtime_s=600)
    assert not preempts(run(snapshot(nodes, [patient], running=running), starve))
    assert not preempts(run(snapshot(nodes, [whole], running=running), "las"))
    # a younger starving job cannot take them back: they are older than it
    younger = job("younger", gpus=8, minute=-35, runtime_s=60)
    assert not preempts(run(snapshot(nodes[:1], [younger], running=running[:8]), starve))


def test_starving_needs_a_positive_factor() -> None:
    with pytest.raises(ValueError, match="starve"):
        profile("las", queue_sort=[{"name": "attained", "args": {"starve": -1}}])
