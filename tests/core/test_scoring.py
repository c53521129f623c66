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


def test_with_a_key_the_split_is_not_the_seeds_alone() -> None:
    """The public id seeds the split only with the challenge's secret key (issue 57): the same
    key draws the same rows, another key other rows, and neither is the split of the id."""
    keyed = scoring.public_rows("chl_1", 1000, 30, key="k" * 64)
    assert keyed == scoring.public_rows("chl_1", 1000, 30, key="k" * 64)
    assert keyed != scoring.public_rows("chl_1", 1000, 30, key="j" * 64)
    assert keyed != scoring.public_rows("chl_1", 1000, 30)
    assert 240 < sum(keyed) < 360


def test_a_score_is_kept_to_four_significant_digits() -> None:
    assert scoring.rounded(0.912345678) == 0.9123
    assert scoring.rounded(12345.678) == 12350.0
    assert scoring.rounded(0.000123456) == 0.0001235
    assert scoring.rounded(-2.718281828) == -2.718
    assert scoring.rounded(0.0) == 0.0 and scoring.rounded(1.0) == 1.0


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
    with pytest.raises(
        scoring.ScoreError, match="1 of 2 rows have no prediction; the first is aicc_row 1"
    ):
        scoring.score("accuracy", ["a", "b"], ["a", None], [True, False])
    # the row at fault by its number, never the value the model wrote (issue 57)
    long = "9" * 500 + "x"
    for wrong in ("two", long, "inf", float("nan")):
        with pytest.raises(scoring.ScoreError) as refused:
            scoring.score("rmse", [1.0, 2.0, 3.0], ["1", wrong, "x"], [True, False, True])
        assert str(refused.value) == (
            "aicc_row 1: the prediction is not a finite number, which metric rmse needs"
        )
    with pytest.raises(scoring.ScoreError, match="one of accuracy"):
        scoring.metric("auc-pr")
