"""What a template declares of its data beyond its columns' names and types (issue 37), and
the fit check of it: a binary target (`type: binary`), the time column's frequency
(`input.frequency`), the points a forecaster needs for its horizon and backtests
(`input.horizon`), and the template a refusal names instead (`input.instead`). Each rule is the
run's own (credit-risk's and load-forecasting's `train.py`, series-forecast's `sizes`), read
from the facts a data set version keeps of its columns (`template_fit.py`); a fact the version
lacks (committed before these existed) is not checked: the run refuses. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aicc.core import template_fit as facts

# A series' frequencies as `aicc_template.FREQUENCIES` names them (a test keeps the codes
# equal): a row per this.
FREQUENCIES = {"H": "hour", "D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
OUTCOMES = frozenset({"0", "1", "True", "False"})  # a binary target's cells, as text
SHOWN = 10  # values named in a refusal


@dataclass(frozen=True)
class Needs:
    """What a template declares of its data, as `templates.py` reads its manifest's `input`:
    the roles whose column must be two outcomes, the role whose times must have `frequency`
    (`any`: one of `FREQUENCIES`), the points forecast by frequency, and the template a
    refusal names instead (`"; NAME fits it: WHY"`, or '')."""

    template: str
    binary: tuple[str, ...] = ()
    time: str | None = None
    frequency: str | None = None
    horizon: Mapping[str, int] = field(default_factory=dict)
    instead: str = ""


def binary(column: facts.Described) -> str:
    """Why a column cannot be a binary target ('' when it can, or the facts cannot tell): the
    run learns two outcomes, 0 and 1 (or false and true), both present; it says how many
    values it found, and which."""
    counts = facts.classes(column)
    if counts is None:
        if not column.known or int(column.facts["distinct"]) <= 2:
            return ""
        values = [str(v) for v in column.facts.get("sample") or ()]
        distinct = int(column.facts["distinct"])
    else:
        ordered = sorted(counts.items(), key=lambda kv: -kv[1])
        values = list(dict.fromkeys(v.strip() for v, _ in ordered))  # as the run reads them
        distinct = len(values)
        if set(values) <= OUTCOMES and {v in ("1", "True") for v in values} == {True, False}:
            return ""
    shown = ", ".join(values[:SHOWN]) + (" ..." if distinct > SHOWN else "")
    return f"column {column.name} has {distinct} value(s) ({shown or 'none'})"


def frequency_of(column: facts.Described) -> tuple[bool, str | None]:
    """Whether the facts know the column's frequency, and it (None: irregular times)."""
    if "times" not in column.facts:
        return False, None
    found = column.facts.get("frequency")
    return True, str(found) if found in FREQUENCIES else None


def has_frequency(column: facts.Described, wanted: str, found: str | None) -> bool:
    """Whether times of frequency `found` are what a template of frequency `wanted` reads: the
    same, or, for hours, readings more often that are one per hour binned into hours."""
    return found == wanted or (wanted == "H" and bool(column.facts.get("hourly")))


def one_per(code: str | None) -> str:
    """'one row per day (D)', or 'irregular times' (the words of the translations)."""
    return f"one row per {FREQUENCIES[code]} ({code})" if code else "irregular times"


def least_points(horizon: int, backtests: int, season: int) -> tuple[int, str]:
    """The points series-forecast's run needs (its `sizes`): the horizon held out and once
    more per backtest, and 2 seasons (a season given) or 2 points (a season found, or none,
    which it drops when the series is too short to learn it); and the sum, written out."""
    start = f"2 × {season}" if season > 1 else "2"
    written = f"{start} + {horizon} × ({backtests} + 1)"
    return 2 * max(season, 1) + horizon * (backtests + 1), written


def declared(
    needs: Needs,
    played: Mapping[str, facts.Described],
    hp: Mapping[str, Any],
    *,
    path: str,
    rows: int,
    exact: bool,
) -> str:
    """Why the data is not what the template declares it needs ('' when it is, or when its
    facts cannot tell: the run decides): a binary target of other values, times of another
    frequency, a series too short for the forecast and its backtests. `played`: the data's
    column for each of the template's; `hp`, the run's hyperparameters; `rows`, the table's,
    and whether its facts cover them all (`exact`). Checked before the rows, since 1,461
    daily rows are not the 1,008 hours an hourly preset counts."""
    name, instead = needs.template, needs.instead
    for role in needs.binary:
        found = binary(played[role]) if role in played else ""
        if found:
            outcomes = "two outcomes, 0 and 1 (or true and false)"
            return f"{path}: {found}; {name} needs {outcomes}{instead}"
    data = played.get(needs.time) if needs.time else None
    if data is None or not needs.frequency:
        return ""
    refused = times(path, data, rows)
    if refused:
        return refused
    known, code = frequency_of(data)
    if not known:
        return ""
    if needs.frequency != "any":
        if has_frequency(data, needs.frequency, code):
            return ""
        wanted = FREQUENCIES[needs.frequency]
        told = f"{path}: {name} needs one row per {wanted}; column {data.name} has "
        return told + one_per(code) + (instead if code else "")
    if code is None:
        return (
            f"{path}: column {data.name} has irregular times; a series needs one row per hour, "
            "day, week, month, quarter or year (aggregate it to one of these first)"
        )
    return _points(needs, path, exact, data, code, hp)


def _points(
    needs: Needs, path: str, exact: bool, data: facts.Described, code: str, hp: Mapping[str, Any]
) -> str:
    """Why a series is too short for a forecaster's horizon and backtests ('' when it is not,
    or when the facts do not cover every row)."""
    by_default = needs.horizon.get(code)
    if by_default is None or not exact:
        return ""
    horizon = int(hp.get("horizon") or 0) or int(by_default)
    least, written = least_points(
        horizon, int(hp.get("backtests") or 0), int(hp.get("season") or 0)
    )
    count = int(data.facts["times"])
    if count >= least:
        return ""
    return (
        f"{path}: column {data.name} has {count} times, {one_per(code)}; {needs.template} "
        f"needs at least {written} = {least} (2 seasons or 2 points, then the horizon held "
        "out and once more per backtest): give more history, or a smaller horizon or fewer "
        "backtests"
    )


def times(path: str, data: facts.Described, rows: int) -> str:
    """Why a column cannot be a series' time ('' when it can): text that does not read as
    dates (naming a value that does not), or numbers that are not dates or years."""
    if data.text:
        bad = facts.bad_time(data)
        if bad is None:
            return ""
        shown = f"{bad!r}" if bad else "no values"
        return (
            f"{path}: column {data.name} holds {shown}, not a date or time the run reads "
            "(2010-01-31, 2010/01/31 00:00, 01/31/2010, 20100131, 2010-01, 2010年1月31日)"
        )
    if facts.times(data, rows) or (not data.known and data.type in facts.INTEGERS):
        return ""
    return f"{path}: column {data.name} is {data.type}, not dates or times"
