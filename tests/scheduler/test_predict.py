"""Runtime predictions from like jobs' history (scheduler/predict.py) and the `predicted` ladder
that orders the queue by them (plugins/service.py, the `predicted` profile)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from sched_fixtures import at, bound, job, node, place, run, snapshot, waiting

from aicc.scheduler.framework import Cycle
from aicc.scheduler.predict import FLOOR_VAR, RuntimePredictor, key, quantile
from aicc.scheduler.profiles import get_profile
from aicc.scheduler.snapshot import JobView

HOUR = 3600


def predicted(view: JobView, runtime_s: float) -> JobView:
    """The view with the runtime predicted for it (as the simulator and the server hand it)."""
    return replace(view, predicted_runtime_s=runtime_s)


def test_each_key_predicts_from_its_own_history_by_the_median_not_the_mean() -> None:
    predictor = RuntimePredictor()
    for runtime in (100, 200, 400, 800, 1_000_000):  # one run far out in the tail
        predictor.observe(key("vc-a", 1), runtime)
    for runtime in (10_000, 20_000, 40_000):
        predictor.observe(key("vc-b", 8), runtime)
    assert predictor.predict(key("vc-a", 1)) == pytest.approx(400)  # the mean would be 200,300 s
    assert predictor.predict(key("vc-b", 8)) == pytest.approx(20_000)
    # another quantile of the same history
    upper = RuntimePredictor(q=0.75)
    for runtime in (100, 200, 400, 800, 1_000_000):
        upper.observe("k", runtime)
    assert upper.predict("k") == pytest.approx(800)
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


def test_without_history_the_declaration_stands_and_without_either_nothing_is_predicted() -> None:
    predictor = RuntimePredictor(min_history=3)
    assert predictor.predict(key("vc-a", 1), declared_s=3_600) == 3_600
    assert predictor.predict(key("vc-a", 1)) is None
    predictor.observe(key("vc-a", 1), 60)
    predictor.observe(key("vc-a", 1), 60)
    # two finished jobs are not history yet; another key's history is not this key's
    assert predictor.predict(key("vc-a", 1), declared_s=3_600) == 3_600
    for _ in range(3):
        predictor.observe(key("vc-a", 2), 60)
    assert predictor.predict(key("vc-a", 1), declared_s=3_600) == 3_600


def test_a_declaration_is_weighed_against_the_history_by_how_often_each_was_right() -> None:
    predictor = RuntimePredictor()
    for _ in range(10):  # like jobs ran an hour each; declarations were off by e^1 on average
        predictor.observe("k", HOUR, declared_s=HOUR * math.e)
    # the history is tight (its variance floored), declarations loose: the history wins
    assert predictor.declared_variance() == pytest.approx(1.0)
    predicted = predictor.predict("k", declared_s=100 * HOUR)
    assert predicted is not None and HOUR < predicted < 1.5 * HOUR
    # where declarations were exact, the declaration wins against a spread-out history
    exact = RuntimePredictor()
    for runtime in (60, 600, 6_000, 60_000, 600_000):
        exact.observe("k", runtime, declared_s=runtime)
    assert exact.declared_variance() == FLOOR_VAR
    predicted = exact.predict("k", declared_s=100_000)
    assert predicted is not None and 80_000 < predicted < 100_000


def test_the_window_forgets_old_runtimes() -> None:
    predictor = RuntimePredictor(window=3)
    for runtime in (10, 10, 10, 5_000, 5_000, 5_000):
        predictor.observe("k", runtime)
    assert predictor.predict("k") == pytest.approx(5_000)
    with pytest.raises(ValueError, match="window"):
        RuntimePredictor(window=0)


def test_the_predicted_ladder_runs_the_job_predicted_shortest_whatever_it_declared() -> None:
    nodes = [node("n", gpus=1)]
    # declared 10 minutes but like jobs ran 20 hours; declared 20 hours but like jobs ran 5 min
    claims_short = predicted(job("claims-short", minute=-10, runtime_s=600), 20.0 * HOUR)
    is_short = predicted(job("is-short", runtime_s=20 * HOUR), 300.0)
    decisions = run(snapshot(nodes, [claims_short, is_short]), "predicted")
    assert bound(decisions, "is-short")
    assert waiting(decisions, "claims-short")
    # `default` trusts the declarations
    assert bound(run(snapshot(nodes, [claims_short, is_short]), "default"), "claims-short")


def test_a_job_that_outlives_its_prediction_ranks_by_what_it_has_run() -> None:
    prof = get_profile("predicted")
    ladder = next(p for p, _ in prof.queue_sort if p.name == "predicted")
    nodes = [node("n", gpus=1)]
    cycle = Cycle(snapshot(nodes, []), prof)
    fresh = predicted(job("fresh", runtime_s=HOUR), 600.0)
    assert ladder.rank(fresh, cycle) == 0  # ten minutes of one device left: the first level
    # predicted ten minutes, has run 30 hours: expected to run about as long again, the top level
    overrun = place(nodes, fresh, [("n", [0])], started=at(hours=-30))
    assert ladder.rank(overrun, cycle) == len(ladder.thresholds)
    # no prediction: the declaration; neither: the last level
    assert ladder.rank(job("declared", runtime_s=HOUR), cycle) == 1
    assert ladder.rank(job("unknown"), cycle) == len(ladder.thresholds)


def test_a_short_job_of_a_long_key_starves_by_its_declaration() -> None:
    """An 8-GPU job that declared a minute, of a key whose jobs run for half an hour: after ten
    minutes of waiting it is starving (the shorter runtime counts), not after five hours."""
    prof = get_profile("predicted")
    ladder = next(p for p, _ in prof.queue_sort if p.name == "predicted")
    cycle = Cycle(snapshot([node("n", gpus=8)], []), prof)
    short = predicted(job("short", gpus=8, minute=-11, runtime_s=60), 1_800.0)
    assert ladder.rank(short, cycle) == -1
    assert ladder.rank(replace(short, submitted_at=at(minutes=-9)), cycle) == 2
    # where the prediction is the shorter, it counts
    overdeclared = predicted(job("over", minute=-11, runtime_s=100 * HOUR), 60.0)
    assert ladder.rank(overdeclared, cycle) == -1
