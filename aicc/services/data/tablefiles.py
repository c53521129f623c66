"""A version's table files as the server reads them from the chunk store, without
downloading the version: their format by suffix, their first rows (a CSV's first block, a
Parquet footer and first pages, through `ChunkFile`, so it costs the same for a 1 KiB file and
a 1 GiB one), their columns in DuckDB's type names, and what a commit records of each
(`describe_tables`). Values leave as JSON can carry them (`jsonable`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import math
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from aicc.core.datasets import FileEntry, Manifest
from aicc.services.common import Invalid, NotFound, TooLarge
from aicc.services.data import tablefacts
from aicc.services.data.views import Column
from aicc.store.chunkfiles import ChunkFile
from aicc.store.chunkstore import ChunkSource

# A table file's format by its suffix.
TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
BLOCK = 1 << 20  # what a preview parses: the first MiB or so, whatever the file's size
MAX_JSON_ARRAY = 16 << 20  # a .json array is parsed whole, so only up to this size


def table_format(path: str) -> str | None:
    return TABLE_FORMATS.get(PurePosixPath(path).suffix.lower())


def table_names(manifest: Manifest) -> dict[str, str]:
    """The views a query sees, name -> path: each table file by its full path (`"a/train.csv"`)
    and, when no other table file shares it, by its name without suffixes (`train`)."""
    tables = [f.path for f in manifest.files if table_format(f.path)]
    short = Counter(PurePosixPath(p).name.split(".")[0].casefold() for p in tables)
    names = {p: p for p in tables}
    for p in tables:
        name = PurePosixPath(p).name.split(".")[0]
        if name and short[name.casefold()] == 1 and name.casefold() not in _folded(names):
            names[name] = p
    return names


def _folded(names: Iterable[str]) -> set[str]:
    return {n.casefold() for n in names}


def jsonable(value: Any) -> Any:
    """A value as JSON can carry it: dates as ISO text, decimals as numbers, NaN and the
    infinities as text (JSON has no such numbers), anything else as its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, decimal.Decimal):  # DuckDB's sums of integers come back as these
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def table_rows(table: pa.Table) -> tuple[tuple[Any, ...], ...]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return tuple(tuple(jsonable(c[r]) for c in columns) for r in range(table.num_rows))


_types_lock = threading.Lock()
_types_db: duckdb.DuckDBPyConnection | None = None


def duck_columns(schema: pa.Schema) -> tuple[Column, ...]:
    """Arrow's schema in DuckDB's type names, so a preview, a profile and a query agree."""
    global _types_db
    if len(schema) == 0:  # an empty file: no columns, which DuckDB will not take as a table
        return ()
    with _types_lock:
        if _types_db is None:
            _types_db = duckdb.connect(config={"enable_external_access": False})
        rel = _types_db.from_arrow(schema.empty_table())
        return tuple(
            Column(name=n, type=str(t).strip('"'))
            for n, t in zip(rel.columns, rel.types, strict=True)
        )


def entry_of(manifest: Manifest, path: str) -> FileEntry:
    entry = manifest.find(path)
    if entry is None:
        raise NotFound("no file {path} in this version", path=path)
    return entry


def unreadable(path: str, fmt: str, error: Exception) -> Invalid:
    return Invalid(
        "{path} cannot be read as {format}: {error}", path=path, format=fmt, error=str(error)
    )


def whole_table(source: ChunkSource, manifest: Manifest, path: str, max_bytes: int) -> pa.Table:
    """A table file of a version read whole, for what the server itself computes over every
    row (a challenge's hidden answers): TooLarge above `max_bytes`, Invalid when it does not
    parse as its suffix says."""
    entry = entry_of(manifest, path)
    fmt = table_format(path)
    if fmt is None:
        raise Invalid("{path} is not a table (CSV, TSV, Parquet, JSON or JSON lines)", path=path)
    if entry.size > max_bytes:
        raise TooLarge(
            "{path} is {size} bytes; at most {max} are read whole",
            path=path,
            size=entry.size,
            max=max_bytes,
        )
    data = ChunkFile(source, entry).readall()
    try:
        if fmt in ("csv", "tsv"):
            return tablefacts.csv_table(data, fmt)
        if fmt == "parquet":
            return pq.read_table(io.BytesIO(data))
        rows = tablefacts.json_rows(data)
        if rows is None:
            raise pa.ArrowInvalid("not an array of objects, nor one object a line")
        return tablefacts.rows_table(rows)
    except (pa.ArrowException, OSError) as e:
        raise unreadable(path, fmt.upper(), e) from e


def _lines_prefix(store: ChunkSource, entry: FileEntry) -> tuple[bytes, bool]:
    """The file's first MiB or so, cut after its last whole line; and whether it was cut."""
    f = ChunkFile(store, entry)
    data = f.read(BLOCK)
    while b"\n" not in data and f.tell() < entry.size and len(data) < 16 * BLOCK:
        data += f.read(BLOCK)  # a very long first line
    cut = f.tell() < entry.size
    return (data[: data.rfind(b"\n") + 1] if cut else data), cut


def _head(store: ChunkSource, entry: FileEntry, parse: Any, what: str, limit: int) -> pa.Table:
    """Parse the first lines with `parse`; a cut that fell inside a quoted value that spans
    lines fails to parse, so it retries with shorter prefixes (each half the last)."""
    if entry.size == 0:
        return pa.table({})
    data, cut = _lines_prefix(store, entry)
    for _ in range(8):
        try:
            return parse(io.BytesIO(data)).slice(0, limit)
        except pa.ArrowInvalid as e:
            shorter = data.rfind(b"\n", 0, len(data) // 2) + 1
            if not cut or shorter <= 0:
                raise unreadable(entry.path, what, e) from e
            data = data[:shorter]
    raise Invalid("{path}: its first lines do not parse as {format}", path=entry.path, format=what)


def csv_head(store: ChunkSource, entry: FileEntry, fmt: str, limit: int) -> pa.Table:
    """The first rows of a CSV or TSV in its encoding (UTF-8, a BOM, GBK) and with its
    delimiter (`,` `;` tab `|`), as the template runs read it (`tablefacts`)."""

    def parse(data: io.BytesIO) -> pa.Table:
        read, options = tablefacts.csv_options(data.getvalue()[:65536], fmt)
        return pa_csv.read_csv(data, read_options=read, parse_options=options)

    return _head(store, entry, parse, fmt.upper(), limit)


def parquet_head(store: ChunkSource, entry: FileEntry, limit: int) -> pa.Table:
    try:
        # Buffered column reads: the first pages of each column, not its whole first row group.
        parquet = pq.ParquetFile(ChunkFile(store, entry), buffer_size=BLOCK, pre_buffer=False)
        batch = next(parquet.iter_batches(batch_size=limit, use_threads=False), None)
        if batch is None:
            return parquet.schema_arrow.empty_table()
        return pa.Table.from_batches([batch])
    except (pa.ArrowException, OSError) as e:
        raise unreadable(entry.path, "Parquet", e) from e


def jsonl_head(store: ChunkSource, entry: FileEntry, limit: int) -> pa.Table:
    def parse(data: io.BytesIO) -> pa.Table:
        try:
            return pa_json.read_json(data, read_options=pa_json.ReadOptions(use_threads=False))
        except pa.ArrowInvalid:
            # a key whose values change type between lines ({"a": 1} then {"a": "x"}), or a
            # BOM: read as the run reads it, a mixed column as text
            rows = tablefacts.json_rows(data.getvalue())
            if rows is None:
                raise
            return tablefacts.rows_table(rows)

    return _head(store, entry, parse, "JSON Lines", limit)


def json_rows(store: ChunkSource, entry: FileEntry) -> list[dict[str, Any]] | None:
    """A small .json file that holds an array of objects, else None (it previews as text)."""
    if entry.size > MAX_JSON_ARRAY:
        return None
    return tablefacts.json_rows(ChunkFile(store, entry).readall())


def text_head(store: ChunkSource, entry: FileEntry, limit: int) -> list[str] | None:
    """The first lines of a text file; None when it looks binary (a NUL byte, or not UTF-8)."""
    head = ChunkFile(store, entry).read(min(entry.size, 64 * 1024))
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 3:  # not a character cut in two at the end
            return None
        text = head[: e.start].decode("utf-8")
    lines = text.splitlines()
    if len(head) < entry.size and lines and not text.endswith("\n"):
        lines.pop()  # cut short by the read, not by the file
    return lines[:limit]


def preview_columns(store: ChunkSource, entry: FileEntry, fmt: str) -> tuple[Column, ...]:
    return describe_file(store, entry, fmt, count=False)[0]


def describe_file(
    store: ChunkSource, entry: FileEntry, fmt: str, *, count: bool = True
) -> tuple[tuple[Column, ...], int | None]:
    """A table file's columns and rows, read from the store: Parquet's footer; the first
    block's columns and a streamed count for CSV and JSON Lines."""
    if fmt == "parquet":
        try:
            meta = pq.ParquetFile(ChunkFile(store, entry))
            return duck_columns(meta.schema_arrow), meta.metadata.num_rows
        except (pa.ArrowException, OSError) as e:
            raise unreadable(entry.path, "Parquet", e) from e
    if fmt == "json":
        rows = json_rows(store, entry)
        if rows is None:
            raise Invalid("{path}: a JSON table is an array of objects", path=entry.path)
        return duck_columns(tablefacts.rows_table(rows).schema), len(rows)
    head = jsonl_head(store, entry, 1) if fmt == "jsonl" else csv_head(store, entry, fmt, 1)
    columns = duck_columns(head.schema)
    if not count or not columns:
        return columns, 0 if not columns else None
    return columns, _count_rows(store, entry, fmt, head.schema.names[0])


def _count_rows(store: ChunkSource, entry: FileEntry, fmt: str, first: str) -> int:
    if fmt == "jsonl":
        rows, carry = 0, b""
        for chunk in entry.chunks:
            lines = (carry + store.get(chunk.digest)).split(b"\n")
            carry = lines.pop()
            rows += sum(1 for line in lines if line.strip())
        return rows + (1 if carry.strip() else 0)
    read, parse = tablefacts.csv_options(ChunkFile(store, entry).read(65536), fmt)
    read.block_size = BLOCK
    try:  # one column, as text: the CSV's records counted, quoted newlines and all
        reader = pa_csv.open_csv(
            io.BufferedReader(ChunkFile(store, entry), BLOCK),
            read_options=read,
            parse_options=parse,
            convert_options=pa_csv.ConvertOptions(
                include_columns=[first], column_types={first: pa.string()}
            ),
        )
        return sum(batch.num_rows for batch in reader)
    except pa.ArrowException as e:
        raise unreadable(entry.path, fmt.upper(), e) from e


def describe_tables(store: ChunkSource, manifest: Manifest) -> dict[str, dict[str, Any]]:
    """`{path: {"columns": [{name, type}], "rows": N}}` for the version's table files, for
    `DatasetVersionRow.tables` at commit; a file that cannot be read as its suffix says is
    left out (its preview says why)."""
    tables: dict[str, dict[str, Any]] = {}
    for entry in manifest.files:
        fmt = table_format(entry.path)
        if fmt is None:
            continue
        try:
            columns, rows = describe_file(store, entry, fmt)
        except Invalid:
            continue
        described: list[dict[str, Any]] = [{"name": c.name, "type": c.type} for c in columns]
        tables[entry.path] = {"columns": described, "rows": rows}
        found = _facts(store, entry, fmt)
        if found is not None:
            tablefacts.merged(described, found[0])
            tables[entry.path]["sampled"] = found[1]
    return tables


def _facts(
    store: ChunkSource, entry: FileEntry, fmt: str
) -> tuple[dict[str, dict[str, Any]], int] | None:
    """The facts of a table file's columns over its first `tablefacts.FACT_BYTES` (whole
    lines), and how many rows they cover; None when that part does not read."""
    try:
        if fmt == "parquet":
            parquet = pq.ParquetFile(ChunkFile(store, entry), buffer_size=BLOCK, pre_buffer=False)
            batches, size = [], 0
            for batch in parquet.iter_batches(batch_size=8192, use_threads=False):
                batches.append(batch)
                size += batch.nbytes
                if size >= tablefacts.FACT_BYTES:
                    break
            table = pa.Table.from_batches(batches, parquet.schema_arrow)
        else:
            f = ChunkFile(store, entry)
            data = f.read(tablefacts.FACT_BYTES)
            if f.tell() < entry.size:
                if fmt == "json":
                    return None  # an array is read whole or not at all
                data = data[: data.rfind(b"\n") + 1]
            if fmt == "json" or fmt == "jsonl":
                rows = tablefacts.json_rows(data)
                if rows is None:
                    return None
                table = tablefacts.rows_table(rows)
            else:
                table = tablefacts.csv_table(data, fmt)
        return tablefacts.facts(table), table.num_rows
    except (pa.ArrowException, OSError, ValueError):
        return None
