"""A challenge's metric: the one function that scores every team's predictions against the
hidden answers, and the fixed split of the hidden rows into the public board's and the private
board's (issue 41).

Pure: the caller reads the answers and the predictions; here they are lists of values in row
order. Classification metrics compare labels as text (a model that answers `1` for the label
`"1"` is right); regression metrics need numbers and count a prediction that is not one as
missing, which fails the score (a board must not rank a team on the rows it chose to answer).

What a team reads back is all that leaves the sandbox its model ran in with the hidden inputs
(issue 57): a refusal says what to fix by counts and row numbers (`aicc_row`), never a value
(a prediction is the model's, which read the hidden rows), and a score is `rounded`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


class ScoreError(ValueError):
    """Predictions that cannot be scored; the message says what to fix."""


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    numeric: bool
    score: Callable[[Sequence[Any], Sequence[Any]], float]  # (answers, predictions)
    description: str


def _label(value: Any) -> str:
    """A label as text, so `1`, `1.0` and `"1"` are one class."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: Any) -> float:
    """A prediction as a number; the message names no value (`score` finds the row first)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ScoreError("a prediction is not a number") from None
    if not math.isfinite(number):
        raise ScoreError("a prediction is not a finite number")
    return number


def _is_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def accuracy(answers: Sequence[Any], predicted: Sequence[Any]) -> float:
    right = sum(_label(a) == _label(p) for a, p in zip(answers, predicted, strict=True))
    return right / len(answers)


def macro_f1(answers: Sequence[Any], predicted: Sequence[Any]) -> float:
    """The mean of each answer class's F1 (classes only predicted count as wrong answers)."""
    truth = [_label(a) for a in answers]
    guess = [_label(p) for p in predicted]
    scores = []
    for label in sorted(set(truth)):
        hits = sum(t == label and g == label for t, g in zip(truth, guess, strict=True))
        said, real = guess.count(label), truth.count(label)
        scores.append(0.0 if hits == 0 else 2 * hits / (said + real))
    return sum(scores) / len(scores)


def rmse(answers: Sequence[Any], predicted: Sequence[Any]) -> float:
    pairs = zip(answers, predicted, strict=True)
    return math.sqrt(sum((_number(a) - _number(p)) ** 2 for a, p in pairs) / len(answers))


def mae(answers: Sequence[Any], predicted: Sequence[Any]) -> float:
    pairs = zip(answers, predicted, strict=True)
    return sum(abs(_number(a) - _number(p)) for a, p in pairs) / len(answers)


def r2(answers: Sequence[Any], predicted: Sequence[Any]) -> float:
    truth = [_number(a) for a in answers]
    mean = sum(truth) / len(truth)
    total = sum((t - mean) ** 2 for t in truth)
    left = sum((t - _number(p)) ** 2 for t, p in zip(truth, predicted, strict=True))
    return 1.0 - left / total if total else (1.0 if left == 0 else 0.0)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", True, False, accuracy, "share of rows whose label is right"),
        Metric("macro_f1", True, False, macro_f1, "mean F1 over the answers' classes"),
        Metric("rmse", False, True, rmse, "root mean squared error"),
        Metric("mae", False, True, mae, "mean absolute error"),
        Metric("r2", True, True, r2, "coefficient of determination"),
    )
}


def metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ScoreError(
            f"metric {name!r} is not one AICC scores; one of {', '.join(METRICS)}"
        ) from None


def public_rows(seed: str, count: int, percent: int, *, key: str | None = None) -> list[bool]:
    """Which hidden rows score the public board (the others the private one): a fixed,
    seeded choice of about `percent` in 100, never all and never none once there are two.

    With `key` (the challenge's secret, which no API answers) the choice is HMAC-SHA256 of the
    row under it: whoever knows the public `seed` alone cannot tell a public row from a private
    one, so a team cannot fit the public rows and learn what the private board will say. Without
    it, the choice is the seed's alone, as for challenges made before their key was kept."""

    def draw(i: int) -> bytes:
        if key is None:
            return hashlib.sha256(f"{seed}:{i}".encode()).digest()
        return hmac.new(key.encode(), f"{seed}:{i}".encode(), hashlib.sha256).digest()

    chosen = [int.from_bytes(draw(i)[:4], "big") % 100 < percent for i in range(count)]
    if count >= 2 and all(chosen):
        chosen[-1] = False
    if count >= 2 and not any(chosen):
        chosen[0] = True
    return chosen


def score(
    name: str, answers: Sequence[Any], predicted: Sequence[Any], public: Sequence[bool]
) -> tuple[float, float]:
    """(public score, private score) of `predicted` against `answers`, row for row."""
    if len(predicted) != len(answers):
        raise ScoreError(
            f"predictions for {len(predicted)} rows, but the hidden set has {len(answers)}"
        )
    empty = [
        i for i, p in enumerate(predicted) if p is None or (isinstance(p, str) and not p.strip())
    ]
    if empty:
        raise ScoreError(
            f"{len(empty)} of {len(answers)} rows have no prediction; "
            f"the first is aicc_row {empty[0]}"
        )
    chosen = metric(name)
    if chosen.numeric:
        wrong = next((i for i, p in enumerate(predicted) if not _is_number(p)), None)
        if wrong is not None:
            raise ScoreError(
                f"aicc_row {wrong}: the prediction is not a finite number, "
                f"which metric {name} needs"
            )

    def part(keep: bool) -> float:
        rows = [i for i, is_public in enumerate(public) if is_public == keep]
        if not rows:
            return math.nan
        return chosen.score([answers[i] for i in rows], [predicted[i] for i in rows])

    return part(True), part(False)


SCORE_DIGITS = 4


def rounded(value: float, digits: int = SCORE_DIGITS) -> float:
    """`value` to `digits` significant digits, as the boards keep and show it. An exact score
    is a channel out of the hidden rows: a team that sends predictions made to differ on chosen
    rows reads back, from the 16 digits of one RMSE, several hidden values at once. Four digits
    still tell apart two accuracies a hundredth of a point apart, and leave a score worth some
    13 bits to a probe, against the 50 of an exact one (Kaggle's boards show five)."""
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def better(name: str, a: float, b: float) -> bool:
    """Whether score `a` ranks above `b` under metric `name`."""
    return a > b if metric(name).higher_is_better else a < b
