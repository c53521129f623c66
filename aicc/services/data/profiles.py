"""A table file's profile: per column its type, nulls, distinct values, min, max, and a
histogram (numbers) or its most frequent values (anything else), in two scans run in
`tableviews`' sandbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aicc.core.datasets import Manifest
from aicc.services.common import Invalid
from aicc.services.data import tablefiles, tableviews
from aicc.services.data.views import Bin, Column, ColumnProfile, Profile, TopValue
from aicc.store.chunkstore import ChunkSource

NUMERIC = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
    "FLOAT", "DOUBLE",
}  # fmt: skip
_INTEGERS = NUMERIC - {"FLOAT", "DOUBLE"}


def _numeric(kind: str) -> bool:
    return kind in NUMERIC or kind.startswith("DECIMAL")


def _nested(kind: str) -> bool:
    return kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION"))


def _bins(lo: float, hi: float, integer: bool, bins: int) -> tuple[float, float, int]:
    """(start, width, count) of a histogram: one bin per whole number when the integers'
    range is short, else `bins` equal bins."""
    if lo == hi:
        return lo, 1.0, 1
    if integer and hi - lo + 1 <= bins:
        return lo, 1.0, int(hi - lo) + 1
    return lo, (hi - lo) / bins, bins


def profile(
    store: ChunkSource,
    manifest: Manifest,
    path: str,
    *,
    views: Path,
    limits: tableviews.Limits = tableviews.Limits(),
    bins: int = 20,
    top: int = 10,
) -> Profile:
    """Per column of a table file: its type, nulls, distinct values (approximate), min, max,
    and a histogram (numbers) or its most frequent values (anything else); two scans."""
    entry = tablefiles.entry_of(manifest, path)
    fmt = tablefiles.table_format(entry.path)
    if fmt is None:
        raise Invalid(
            "{path} is not a table file; profiles read CSV, TSV, Parquet, JSON Lines and JSON",
            path=path,
        )
    with (
        tableviews.assembled(store, manifest, views, [entry.path], limits) as root,
        tableviews.sandboxed({"t": root / entry.path}, [root], limits) as con,
        tableviews.guarded(con, limits, [root]),
    ):
        rel = con.table("t")
        cols = [Column(name=n, type=str(t)) for n, t in zip(rel.columns, rel.types, strict=True)]
        row = con.execute(f"SELECT {_first_scan(cols, top)} FROM t").fetchall()[0]
        rows, stats = int(row[0]), [row[1 + 6 * i : 7 + 6 * i] for i in range(len(cols))]
        second, params = _second_scan(cols, stats, bins)
        counts = (
            con.execute(f"SELECT {', '.join(second)} FROM t", params).fetchall()[0]
            if second
            else ()
        )
    columns = [
        _column_profile(c, rows, stat, found, bins, top)
        for c, stat, found in zip(cols, stats, counts, strict=True)
    ]
    return Profile(path=entry.path, format=fmt, rows=rows, columns=columns)


def _first_scan(cols: list[Column], top: int) -> str:
    """The first scan's select list: the row count, then six figures a column (filled,
    distinct, min, max, and a number's finite min and max or anything else's top values)."""
    first = ["count(*)"]
    for c in cols:
        q = tableviews.ident(c.name)
        simple = not _nested(c.type)
        cast = "" if _numeric(c.type) else "::VARCHAR"  # numbers stay numbers in JSON
        first += [
            f"count({q})",
            f"approx_count_distinct({q})",
            f"min({q}){cast}" if simple else "NULL",
            f"max({q}){cast}" if simple else "NULL",
        ]
        if _numeric(c.type):
            finite = f"FILTER (WHERE isfinite({q}::DOUBLE))"
            first += [f"min({q}::DOUBLE) {finite}", f"max({q}::DOUBLE) {finite}"]
        else:
            first += [f"approx_top_k({q}::VARCHAR, {top})" if simple else "NULL", "NULL"]
    return ", ".join(first)


def _second_scan(cols: list[Column], stats: list[Any], bins: int) -> tuple[list[str], list[Any]]:
    """The second scan's select list and its parameters: a number's histogram over the bins
    its finite min and max make, the exact counts of anything else's top values."""
    second: list[str] = []
    params: list[Any] = []
    for c, (_, _, _, _, a, b) in zip(cols, stats, strict=True):
        q = tableviews.ident(c.name)
        if _numeric(c.type) and a is not None:
            lo, width, n = _bins(a, b, c.type in _INTEGERS, bins)
            second.append(
                f"histogram(least(floor(({q}::DOUBLE - {lo!r}) / {width!r}), {n - 1})"
                f"::INTEGER) FILTER (WHERE isfinite({q}::DOUBLE))"
            )
        elif not _numeric(c.type) and a:
            marks = ", ".join("?" for _ in a)
            second.append(f"histogram({q}::VARCHAR) FILTER (WHERE {q}::VARCHAR IN ({marks}))")
            params += list(a)
        else:
            second.append("NULL")
    return second, params


def _column_profile(
    c: Column, rows: int, stat: Any, found: Any, bins: int, top: int
) -> ColumnProfile:
    filled, distinct, least, most, a, b = stat
    histogram: list[Bin] = []
    values: list[TopValue] = []
    if _numeric(c.type) and a is not None:
        lo, width, n = _bins(a, b, c.type in _INTEGERS, bins)
        histogram = [
            Bin(
                lo=lo + i * width,
                hi=b if n == 1 else lo + (i + 1) * width,
                count=(found or {}).get(i, 0),
            )
            for i in range(n)
        ]
    elif found:
        ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
        values = [TopValue(value=v, count=n) for v, n in ranked[:top]]
    return ColumnProfile(
        name=c.name,
        type=c.type,
        nulls=rows - filled,
        distinct=int(distinct),
        min=tablefiles.jsonable(least),
        max=tablefiles.jsonable(most),
        histogram=histogram,
        top=values,
    )
