"""A table file read as a template's run reads it, and the facts of its columns that the fit
check needs (issue 37: a table that passes the check is a table the run reads).

The run (`aicc/templates/aicc_template.py`, `read_table`) decodes a text table as UTF-8 with or
without a BOM, UTF-16 with a BOM, or GBK/GB18030; splits a CSV on the one of `,` `;` tab `|`
found steadily in its first lines; and reads a `.json` file as a JSON array of objects or as
JSON lines. The data set side follows the same rules here (`encoding_of`, `delimiter_of`,
`json_rows`), so the columns a version lists are the run's. A test keeps the two equal.

`facts` are what `core/template_fit.py` reads: per column its nulls, distinct values, min and
max, whether its numbers are whole, its values' counts when few, a sample of its distinct
values and a digest of its values row by row, and for a column that reads as times their
count and the series' frequency — by the run's own `parse_times`
and `frequency`, so the check refuses daily rows for an hourly preset as the run would;
computed at commit over the first `FACT_BYTES` of a file (`sampled` rows), so a commit stays
quick.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from aicc.core import template_fit
from aicc.templates import aicc_template
from aicc.templates.aicc_template import delimiter as delimiter_of  # the run's own rule

FACT_BYTES = 16 << 20  # the first this many bytes of a table file are read for its facts
SAMPLE = 100  # distinct values kept as a column's sample, its first and last among them
ENCODINGS = ("utf-8", "gb18030")  # tried in turn; a BOM decides before them


def encoding_of(head: bytes) -> str:
    """The encoding of a text table by its first bytes, as the run decides it: a BOM, else
    UTF-8 when they decode as UTF-8 (a character cut at the end aside), else GB18030 (GBK)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for encoding in ENCODINGS:
        try:
            head.decode(encoding)
            return encoding
        except UnicodeDecodeError as e:
            if e.start >= len(head) - 3:  # a character cut in two by the read
                return encoding
    return "utf-8"


def decoded(head: bytes) -> str:
    return head.decode(encoding_of(head), errors="replace")


def csv_options(head: bytes, fmt: str) -> tuple[pa_csv.ReadOptions, pa_csv.ParseOptions]:
    """pyarrow's options for a CSV or TSV whose first bytes are `head`."""
    encoding = encoding_of(head)
    delimiter = "\t" if fmt == "tsv" else delimiter_of(decoded(head))
    read = pa_csv.ReadOptions(
        use_threads=False, encoding="utf8" if encoding == "utf-8" else encoding
    )
    return read, pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True)


def json_rows(data: bytes) -> list[dict[str, Any]] | None:
    """A `.json` file's rows: a JSON array of objects, or JSON lines; None when it is neither."""
    text = decoded(data).strip()
    try:
        if text.startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return None
    ok = isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    return rows if ok else None


def rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as a table whose columns are every key of any row, in order of appearance (a key a
    row lacks is null there); a column of mixed values (numbers and text) is text."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    arrays = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays[name] = pa.array([None if v is None else _text(v) for v in values])
    return pa.table(arrays) if arrays else pa.table({})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def csv_table(data: bytes, fmt: str) -> pa.Table:
    """A whole CSV (or the first lines of one), its column types inferred over all of it."""
    read, parse = csv_options(data[:65536], fmt)
    read.block_size = max(len(data) + 1, 1 << 20)
    return pa_csv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse)


def facts(table: pa.Table) -> dict[str, dict[str, Any]]:
    """Each column's facts by its name (module docstring)."""
    out: dict[str, dict[str, Any]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        out[name] = _column(column)
        out[name].update(_times(column, out[name]))
    return out


def _times(column: pa.ChunkedArray, known: Mapping[str, Any]) -> dict[str, Any]:
    """`times`, `frequency` and `hourly` (one per hour once binned into hours, as
    load-forecasting's run bins readings every 15 minutes) of a column the run reads as times,
    {} for one it does not: dates, text, or whole numbers between the years 1000 and 2999 or
    the dates 10000101 and 29991231 (the numbers `aicc_template` reads as times). Its distinct
    values are parsed: the run's format is chosen from the distinct texts, so it is the same."""
    kind = column.type
    if pa.types.is_integer(kind):
        low, high = known.get("min"), known.get("max")
        years, dates = template_fit.YEARS, template_fit.YYYYMMDD
        if low is None or high is None:
            return {}
        if not (years[0] <= low <= high <= years[1] or dates[0] <= low <= high <= dates[1]):
            return {}
    elif pa.types.is_string(kind):
        sample = [str(v) for v in known.get("sample") or ()]
        if 2 * sum(any(c.isdigit() for c in v) for v in sample) < len(sample):
            return {}  # words, not times: every format of a date has digits (quick to tell)
    elif not pa.types.is_temporal(kind):
        return {}
    values = pc.unique(column.drop_null()).to_pylist()
    parsed = aicc_template.parse_times(values)
    moments = {t for t in parsed if t is not None}
    if not moments:
        return {}
    hours = {t.replace(minute=0, second=0, microsecond=0) for t in moments}
    return {
        "times": len(moments),
        "frequency": aicc_template.frequency(sorted(moments)),
        "hourly": aicc_template.frequency(sorted(hours)) == "H",
    }


def _column(column: pa.ChunkedArray) -> dict[str, Any]:
    kind = column.type
    if pa.types.is_nested(kind) or pa.types.is_binary(kind):
        return {}
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        column = pc.if_else(pc.equal(pc.utf8_trim_whitespace(column), ""), None, column)
    unique = pc.unique(column).drop_null()
    got: dict[str, Any] = {"nulls": column.null_count, "distinct": len(unique)}
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    if numeric and len(unique):
        finite = unique if pa.types.is_integer(kind) else unique.filter(pc.is_finite(unique))
        if len(finite):
            bounds = pc.min_max(finite).as_py()
            got.update(min=bounds["min"], max=bounds["max"])
            got["whole"] = bool(
                pa.types.is_integer(kind) or pc.all(pc.equal(pc.floor(finite), finite)).as_py()
            )
    if len(unique) <= template_fit.TOP:
        counts = pc.value_counts(column.drop_null())
        got["top"] = [
            [_plain(v), int(n)]
            for v, n in zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            )
        ]
    # spread over the sorted values, and the last: text that is not like the others (a word
    # among dates) sorts first or last
    ordered = unique.take(pc.sort_indices(unique)).to_pylist()
    step = max(1, len(ordered) // SAMPLE)
    picked = ordered[::step][: SAMPLE - 1] + ordered[-1:]
    got["sample"] = [_plain(v) for v in dict.fromkeys(picked)]
    try:
        texts = pc.fill_null(column.cast(pa.string()), "\x00").to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return got
    got["digest"] = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:32]
    return got


def _plain(value: Any) -> Any:
    """A value as JSON keeps it: numbers and text as they are, anything else as its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def merged(columns: list[dict[str, Any]], found: Mapping[str, Mapping[str, Any]]) -> None:
    """Each described column `{name, type}` with its facts added (in place)."""
    for column in columns:
        column.update(found.get(str(column["name"])) or {})
