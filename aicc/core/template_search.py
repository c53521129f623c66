"""A small hyperparameter search over a template (小规模超参搜索): the trials to run, each one
a complete, checked set of hyperparameters, and which trial won. Pure: no I/O.

A search gives some hyperparameters a list of values (`learning_rate=0.01,0.1`). Without a
trial count every combination (the grid) is a trial; with `count` below the grid's size, that
many combinations are drawn from it at random (seeded, so the same request gives the same
trials). Every value is checked against the manifest before anything is submitted, and a search
is at most `MAX_TRIALS` trials: the trials run together as the replicas of one gang job, so a
larger search would hold that many slots at once.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from aicc.core.templates import Manifest, Metric, TemplateError, check_params, coerce

MAX_TRIALS = 16
MAX_VALUES = 16  # values one hyperparameter may take in a search
Value = str | int | float | bool


def split_values(text: str) -> list[str]:
    """`0.01,0.1` as the CLI's `--search KEY=V1,V2` gives it."""
    return [v.strip() for v in text.split(",") if v.strip()]


def trials(
    manifest: Manifest,
    params: Mapping[str, object],
    search: Mapping[str, Sequence[object]],
    count: int | None = None,
    *,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The trials' complete hyperparameters: `params` fixed, each combination of `search`'s
    values on top. TemplateError naming the field (`search.NAME`, `trials`) when a value is out
    of range, a name unknown, or the search too large."""
    base = check_params(manifest, params)  # the fixed ones, named hyperparameters.NAME
    if not search:
        raise TemplateError("search: give at least one hyperparameter with values to try")
    if count is not None and not 1 <= count <= MAX_TRIALS:
        raise TemplateError(f"trials: {count} is not between 1 and {MAX_TRIALS}")
    axes: list[list[Value]] = []
    for name, values in search.items():
        where = f"search.{name}"
        param = manifest.hyperparameters.get(name)
        if param is None:
            known = ", ".join(sorted(manifest.hyperparameters)) or "none"
            raise TemplateError(
                f"{where}: {manifest.name} has no such hyperparameter (it has: {known})"
            )
        if name in params:
            raise TemplateError(f"{where}: also given as a fixed value; give it in one place")
        if isinstance(values, str | bytes) or not values:
            raise TemplateError(f"{where}: give a list of values to try")
        if len(values) > MAX_VALUES:
            raise TemplateError(f"{where}: at most {MAX_VALUES} values")
        checked = [coerce(param, v, where) for v in values]
        axes.append(list(dict.fromkeys(checked)))  # in order, without repeats
    names = list(search)
    grid = math.prod(len(a) for a in axes)
    if count is None and grid > MAX_TRIALS:
        raise TemplateError(
            f"search: {grid} combinations, more than {MAX_TRIALS} trials; "
            f"try fewer values or give a number of trials to draw at random"
        )
    points = list(itertools.product(*axes))
    if count is not None and count < grid:
        picked = sorted(random.Random(seed).sample(range(grid), count))
        points = [points[i] for i in picked]
    return [{**base, **dict(zip(names, point, strict=True))} for point in points]


def best(metric: Metric, values: Sequence[float | None]) -> int | None:
    """The index of the best trial by the manifest's metric and goal (the first on a tie);
    None when no trial reported a finite value."""
    found = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not found:
        return None
    sign = -1.0 if metric.goal == "maximize" else 1.0
    return min(found, key=lambda f: (sign * f[0], f[1]))[1]
