"""A challenge's metric (core/scoring.py): one function for every team, the same split of the
hidden rows every time, and predictions that cannot be scored refused with what to fix."""

from __future__ import annotations

import math

import pytest

from aicc.core import scoring


def test_each_metric_scores_as_its_textbook_says() -> None:
    assert scoring.accuracy(["a", "b", 1, 2.0], ["a", "c", "1", "2"]) == 0.75
    # two classes: a (2 right of 2 said, 3 real) and b (1 right, 2 said, 1 real)
    f1 = scoring.macro_f1(["a", "a", "a", "b"], ["a", "a", "b", "b"])
    assert f1 == pytest.approx(((2 * 2 / 5) + (2 * 1 / 3)) / 2)
    assert scoring.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert scoring.mae([1, 2, 3], ["1", "2", "5"]) == pytest.approx(2 / 3)
    assert scoring.r2([1, 2, 3], [1, 2, 3]) == 1.0
    assert scoring.r2([1, 2, 3], [2, 2, 2]) == 0.0


def test_the_split_is_fixed_by_the_seed_and_never_all_one_side() -> None:
    first = scoring.public_rows("chl_1", 1000, 30)
    assert first == scoring.public_rows("chl_1", 1000, 30)
    assert first != scoring.public_rows("chl_2", 1000, 30)
    assert 240 < sum(first) < 360
    assert any(scoring.public_rows("x", 2, 99)) and not all(scoring.public_rows("x", 2, 99))
    assert any(scoring.public_rows("x", 2, 1))


def test_a_score_has_a_public_and_a_private_part() -> None:
    answers = ["yes", "no", "yes", "no"]
    public, private = scoring.score(
        "accuracy", answers, ["yes", "no", "no", "yes"], [True, True, False, False]
    )
    assert (public, private) == (1.0, 0.0)
    assert scoring.better("accuracy", 0.9, 0.8) and scoring.better("rmse", 0.8, 0.9)


def test_predictions_that_cannot_be_scored_say_why() -> None:
    with pytest.raises(
        scoring.ScoreError, match="predictions for 1 rows, but the hidden set has 2"
    ):
        scoring.score("accuracy", ["a", "b"], ["a"], [True, False])
    with pytest.raises(scoring.ScoreError, match="1 of 2 rows have no prediction"):
        scoring.score("accuracy", ["a", "b"], ["a", None], [True, False])
    with pytest.raises(scoring.ScoreError, match="is not a number"):
        scoring.score("rmse", [1.0, 2.0], ["1", "two"], [True, False])
    with pytest.raises(scoring.ScoreError, match="one of accuracy"):
        scoring.metric("auc-pr")
