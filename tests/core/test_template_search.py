"""A search's trials: the grid, a seeded random draw from it, the bounds, and the best trial."""

from __future__ import annotations

import pytest

from aicc.core.template_search import MAX_TRIALS, best, split_values, trials
from aicc.core.templates import Metric, TemplateError
from aicc.testing.templates import manifest

CREDIT = manifest("credit-risk")


def test_the_grid_is_every_combination_on_top_of_the_fixed_values() -> None:
    got = trials(CREDIT, {"seed": 7}, {"learning_rate": ["0.01", 0.1], "max_iter": [50, 100]})
    assert [(t["learning_rate"], t["max_iter"]) for t in got] == [
        (0.01, 50),
        (0.01, 100),
        (0.1, 50),
        (0.1, 100),
    ]
    assert all(t["seed"] == 7 and t["max_leaf_nodes"] == 15 for t in got)  # the rest: defaults


def test_a_random_draw_is_repeatable_and_bounded() -> None:
    search = {"learning_rate": [0.01, 0.02, 0.05, 0.1, 0.2], "max_iter": [50, 100, 200, 400, 800]}
    drawn = trials(CREDIT, {}, search, 6)
    assert len(drawn) == 6 and drawn == trials(CREDIT, {}, search, 6)
    assert len({(t["learning_rate"], t["max_iter"]) for t in drawn}) == 6
    with pytest.raises(TemplateError, match="25 combinations, more than 16"):
        trials(CREDIT, {}, search)
    with pytest.raises(TemplateError, match=f"trials: {MAX_TRIALS + 1} is not between"):
        trials(CREDIT, {}, search, MAX_TRIALS + 1)
    assert len(trials(CREDIT, {}, {"max_iter": [1, 2]}, 5)) == 2  # more than the grid: the grid


def test_values_out_of_range_name_the_field() -> None:
    with pytest.raises(TemplateError, match=r"search\.max_iter: 0 is below the least allowed, 1"):
        trials(CREDIT, {}, {"max_iter": split_values("0, 10")})


def test_the_best_trial_follows_the_goal() -> None:
    values = [0.7, None, 0.9, float("nan"), 0.9]
    assert best(Metric(name="auc", goal="maximize", expected=0.5), values) == 2
    assert best(Metric(name="mape", goal="minimize", expected=5), values) == 0
    assert best(Metric(name="auc", goal="maximize", expected=0.5), [None]) is None
