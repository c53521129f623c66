"""What a generic template's fit check knows of a table's columns (issue 37): which columns can
play a role the caller chooses (`choose: true` in `template.yaml`), the task a target implies,
and whether a column's text reads as dates. The rules are the runs' own (`aicc_template.py`
and the generic templates' `train.py`), so a table that passes the check is one the run takes.

A data set version describes each table column as `{name, type}` and, when it was pushed after
issue 37, with facts over the rows it read (`services/data/tablefiles.py`): `nulls`, `distinct`,
`min`, `max`, `whole` (numbers: all whole), `top` (`[[value, count], ...]` when it has at most
`TOP` distinct values), `sample` (up to 100 of its distinct values, as text, spread over their
sorted order) and `digest` (of its values, row by row: two columns with one digest are copies).
The table's `sampled` says how many rows the facts cover; a rule that needs every row applies
only when that is all of them. Without facts a rule is not applied: the run decides. Pure.

A column that reads as times (pushed after the check learned frequencies) also has `times`
(its distinct times), `frequency` (`FREQUENCIES`, or None: irregular) and `hourly` (whether
its times binned into hours are one per hour: readings every 15 minutes are), by the run's own
`parse_times` and `frequency` (`services/data/tablefacts.py` calls them); `template_needs.py`
checks with them what a template declares (a binary target, a frequency, a series' points).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TOP = 50  # a column's most frequent values kept with their counts, when it has at most this many
MAX_CLASSES = 20  # whole numbers with at most this many distinct values are classes, not amounts
LABEL_VALUES = 50  # a text column with at most this many distinct values can be a label
INTEGERS = frozenset(
    {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
        "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
    }
)  # fmt: skip
NUMBERS = INTEGERS | {"FLOAT", "DOUBLE", "DECIMAL", "REAL"}
TIMES = frozenset(
    {
        "DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS",
        "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_TZ",
    }
)  # fmt: skip
# The formats of a date column, as `aicc_template.TIME_FORMATS` (core imports nothing of the
# runtime shipped to jobs; tests/templates/test_check_and_run_agree.py keeps the two equal).
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%Y%m%d",
    "%Y%m%d%H%M%S",
    "%Y-%m",
    "%Y/%m",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%Y年%m月",
    "%d %b %Y",
    "%b %d %Y",
    "%b %d, %Y",
    "%Y",
)
YYYYMMDD = (10_000_101, 29_991_231)  # whole numbers the run reads as dates (20100102)
YEARS = (1000, 2999)  # and as years


@dataclass(frozen=True)
class Described:
    """One column of a table as its data set version describes it."""

    name: str
    type: str  # DuckDB's, upper case, without its parameters: DECIMAL(10,2) is DECIMAL
    facts: Mapping[str, Any]

    @property
    def known(self) -> bool:
        return "distinct" in self.facts

    @property
    def numeric(self) -> bool:
        return self.type in NUMBERS

    @property
    def text(self) -> bool:
        return self.type == "VARCHAR"


def described(table: Mapping[str, Any]) -> list[Described]:
    """A table's columns, in its order."""
    return [
        Described(str(c["name"]), str(c["type"]).upper().split("(")[0], c)
        for c in table.get("columns") or ()
    ]


def exact(table: Mapping[str, Any]) -> bool:
    """Whether the table's facts cover all its rows."""
    sampled = table.get("sampled")
    return sampled is not None and int(sampled) >= int(table.get("rows") or 0)


def filled(column: Described, rows: int) -> int:
    return rows - int(column.facts.get("nulls") or 0)


def id_like(column: Described, rows: int) -> bool:
    """A value per row that names the row, not a property of it: text (not dates), or a run of
    whole numbers, each value on one row only."""
    if not column.known or filled(column, rows) < 2:
        return False
    if int(column.facts["distinct"]) < filled(column, rows):
        return False
    if column.text:
        return bad_time(column) is not None
    if column.type in INTEGERS:
        low, high = column.facts.get("min"), column.facts.get("max")
        if isinstance(low, int | float) and isinstance(high, int | float):
            return high - low + 1 == int(column.facts["distinct"]) and not year_like(column)
    return False


def constant(column: Described) -> bool:
    return column.known and int(column.facts["distinct"]) <= 1


def year_like(column: Described) -> bool:
    """Whole numbers the run reads as dates: all of them like 20100102, or years that run on
    with few gaps (1990 to 2020; not amounts that happen to lie between 1000 and 2999)."""
    low, high = column.facts.get("min"), column.facts.get("max")
    if column.type not in INTEGERS or not column.known:
        return False
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return False
    if YYYYMMDD[0] <= low <= high <= YYYYMMDD[1]:
        sample = [str(v) for v in column.facts.get("sample") or ()]
        return all(read_time(v, "%Y%m%d") is not None for v in sample)
    distinct = int(column.facts["distinct"])
    return YEARS[0] <= low <= high <= YEARS[1] and high - low + 1 <= 2 * distinct


def time_format(texts: Sequence[str]) -> str | None:
    """The format that reads most of `texts` ("iso" for ISO 8601), as the run chooses it."""
    best, score = None, 0
    for fmt in ("iso", *TIME_FORMATS):
        hits = sum(read_time(text, fmt) is not None for text in texts)
        if hits > score:
            best, score = fmt, hits
    return best


def read_time(text: str, fmt: str | None) -> datetime | None:
    if not text or fmt is None:
        return None
    try:
        if fmt == "iso":
            if len(text) < 10 or text[4] != "-":
                return None
            return datetime.fromisoformat(text)
        return datetime.strptime(text, fmt)
    except ValueError:
        return None


def bad_time(column: Described) -> str | None:
    """The first of a text column's sampled values that the run would not read as a date or
    time (with the format that reads most of them); None when all read. A column with no
    sample has none to show, so it is its first value or a blank."""
    texts = [str(v).strip() for v in column.facts.get("sample") or () if str(v).strip()]
    if not texts:
        return "" if column.known else None
    fmt = time_format(texts)
    return next((t for t in texts if read_time(t, fmt) is None), None)


def times(column: Described, rows: int) -> bool:
    """Whether the run reads the column as dates or times: a date type, text that reads as
    dates, or whole numbers that are dates (20100102) or years, each on one row (a series'
    time, not a feature of its rows)."""
    if column.type in TIMES:
        return True
    if column.text:
        return column.known and bad_time(column) is None
    return year_like(column) and int(column.facts["distinct"]) >= filled(column, rows)


def task_of(column: Described) -> str | None:
    """Classification when the target's values are text or booleans, or whole numbers with at
    most `MAX_CLASSES` distinct values; regression for other numbers (the rule of the
    table-prediction template's train.py). None when the facts cannot tell."""
    if column.text or column.type == "BOOLEAN":
        return "classification"
    if not column.numeric:
        return None
    if column.type not in INTEGERS and not column.known:
        return "regression"
    if not column.known:
        return None
    whole = column.type in INTEGERS or bool(column.facts.get("whole"))
    if whole and int(column.facts["distinct"]) <= MAX_CLASSES:
        return "classification"
    return "regression"


def classes(column: Described) -> dict[str, int] | None:
    """The column's values and their rows, when it has at most `TOP` values (else None)."""
    top = column.facts.get("top")
    if top is None or not column.known or int(column.facts["distinct"]) > TOP:
        return None
    return {str(value): int(count) for value, count in top}


def candidates(
    role: str, kind: str, columns: Sequence[Described], rows: int, task: str
) -> list[str]:
    """The data columns that can play `role` (a template column of type `kind`), table order."""
    out = []
    for c in columns:
        if role == "time" or kind == "datetime":
            ok = times(c, rows)
        elif kind in ("number", "integer"):
            ok = c.numeric and not id_like(c, rows) and not constant(c) and not times(c, rows)
        elif kind == "string":
            ok = c.text and not times(c, rows) and not _few(c, rows) and _prose(c)
        elif task == "text-classification" or role == "label":
            ok = (not c.text or _few(c, rows)) and not constant(c) and not times(c, rows)
        else:  # a target: any column but IDs, dates and constants
            ok = not id_like(c, rows) and not constant(c) and not times(c, rows)
        if ok:
            out.append(c.name)
    return out


def _prose(column: Described) -> bool:
    """Text to read, not codes: some sampled value has a space or a CJK character, or the
    values are long (a ticket's message, not its `T-0001`). Unknown facts: maybe."""
    texts = [str(v) for v in column.facts.get("sample") or ()]
    if not texts:
        return True
    if any(any(ch.isspace() or "\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts):
        return True
    return sum(len(t) for t in texts) / len(texts) > 20


def _few(column: Described, rows: int) -> bool:
    """A text column with few distinct values: labels, not free text."""
    if not column.known:
        return False
    distinct = int(column.facts["distinct"])
    return distinct <= LABEL_VALUES and distinct < max(2, filled(column, rows) // 2)


def copies(target: Described, columns: Sequence[Described], roles: Sequence[str]) -> list[str]:
    """Columns (not playing a role) whose values are the target's, row by row."""
    digest = target.facts.get("digest")
    if not digest:
        return []
    return [
        c.name
        for c in columns
        if c.name != target.name and c.name not in roles and c.facts.get("digest") == digest
    ]
