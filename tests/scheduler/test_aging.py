"""Aging an operator sets (issue 63.3; `aging: {every_s, levels}` in config.yaml): a waiting job
comes up one service level for each `every_s` it has waited, at most `levels`, never above
the first; a running job keeps what it waited before it started; `levels` bounds `predicted`'s
lift by slowdown too; a profile with no service ladder is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sched_fixtures import at, by_job, job, node, place, run, snapshot

from aicc.scheduler.cycle import CycleState
from aicc.scheduler.plugins import service
from aicc.scheduler.profiles import build_profile, get_profile, with_aging
from aicc.scheduler.snapshot import Bind

HOUR = 3600
LADDER = {"thresholds_h": [0.25, 2.5, 25.0]}  # the `default` profile's declared ladder
# 8 GPUs for 10 h declared: 80 device-hours, the top declared level (3)
LONG = job("long", gpus=8, runtime_s=10 * HOUR)


def level_after(ladder: service.Ladder, hours: float) -> int:
    snap = snapshot([node("n")], [LONG], now=at(hours=hours))
    return ladder.rank(LONG, CycleState(snap, get_profile("default")))


def test_a_wait_lifts_a_level_per_every_s_bounded_by_levels() -> None:
    declared = service.declared(LADDER)
    assert [level_after(declared, h) for h in (0, 1, 5)] == [3, 3, 3]  # no aging: as it was
    aged = replace(declared, age_every_s=float(HOUR), age_levels=2)
    assert [level_after(aged, h) for h in (0, 0.99, 1, 2, 5, 100)] == [3, 3, 2, 1, 1, 1]
    unbounded = replace(declared, age_every_s=float(HOUR), age_levels=None)
    assert [level_after(unbounded, h) for h in (2, 3, 100)] == [1, 0, 0]  # never above the first


def test_a_running_job_keeps_what_it_waited_before_it_started() -> None:
    aged = service.declared({**LADDER, "age_every_s": HOUR})
    nodes = [node("n")]
    running = place(nodes, LONG, [("n", range(8))], started=at(hours=2))
    snap = snapshot(nodes, [], running=[running], now=at(hours=9))
    # it waited 2 h before it started: two levels up, not nine, however long it runs (its 7 h
    # of 10 leave 24 device-hours to go: level 2, lifted to 0)
    plain = service.declared(LADDER).rank(running, CycleState(snap, get_profile("default")))
    assert (plain, aged.rank(running, CycleState(snap, get_profile("default")))) == (2, 0)


def first_bound(aging: tuple[float, int] | None, hours: float) -> str:
    """Which of the long job (waiting since T0) and a short one just submitted gets the node."""
    prof = get_profile("default")
    if aging is not None:
        prof = with_aging(prof, *aging)
    short = replace(job("short", gpus=1, runtime_s=600), submitted_at=at(hours=hours))
    decisions = run(snapshot([node("n")], [LONG, short], now=at(hours=hours)), prof)
    (winner,) = [j for j, d in by_job(decisions).items() if isinstance(d, Bind)]
    return winner


def test_the_operators_aging_lets_a_long_waiting_job_go_before_newer_short_work() -> None:
    assert first_bound(None, 3) == "short"  # shortest declared work first, however long it waited
    assert first_bound((HOUR, 3), 2) == "short"  # a level left: still behind
    assert first_bound((HOUR, 3), 3) == "long"  # three hours, three levels: the first, and older
    assert first_bound((HOUR, 2), 5) == "short"  # bounded: two levels at most


def test_levels_bound_the_predicted_lift_too() -> None:
    lifted = service.predicted({**LADDER, "lift": 0.5})
    # waited 20 h of a 10 h runtime: a slowdown of 2 over 1, four lifts of 0.5: the first level
    assert level_after(lifted, 20) == 0
    assert level_after(replace(lifted, age_levels=1), 20) == 2


def test_args_and_profiles_that_cannot_age_are_refused() -> None:
    with pytest.raises(ValueError, match="age_every_s"):
        service.declared({"age_every_s": 0})
    with pytest.raises(ValueError, match="ranks no service levels"):
        with_aging(get_profile("fifo"), HOUR, 2)
    prof = with_aging(get_profile("predicted"), HOUR, 2)
    ladders = [p for p, _ in prof.queue_sort if isinstance(p, service.Ladder)]
    assert len(ladders) == 2 and all((p.age_every_s, p.age_levels) == (HOUR, 2) for p in ladders)
    own = build_profile(
        {"name": "mine", "queue_sort": [{"name": "declared", "args": {"age_every_s": 60}}]}
    )
    plugin = own.queue_sort[0][0]
    assert isinstance(plugin, service.Ladder) and plugin.age_every_s == 60.0
