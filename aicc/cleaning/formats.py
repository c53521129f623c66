"""Reading and writing the files a cleaning job cleans, one record at a time: a .txt line, a
JSONL object's text field, a CSV row or a Parquet row with a text column. Files stream (Parquet by
record batch), so a corpus larger than memory cleans in constant memory but for the dedup steps'
indexes.

Records that no step changed are written as they were read (the same JSONL line, the same
Parquet values); a file that cannot be read as its format raises `FormatError` naming the file,
the line where it can, and what to do.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from aicc.cleaning.pipeline import Pipeline

BATCH_ROWS: Final = 8192
csv.field_size_limit(2**31 - 1)  # a long document in one cell is a record, not an attack


class FormatError(ValueError):
    """A file that cannot be cleaned as its extension says; the message names it and why."""


def _not_utf8(name: str) -> FormatError:
    return FormatError(
        f"{name}: not UTF-8 text; convert it first (for example iconv -f GBK -t UTF-8)"
    )


def clean_txt(src: Path, dst: Path, name: str, pipeline: Pipeline, _column: str) -> None:
    """Each line is a record; kept lines keep their line ending."""
    try:
        with (
            src.open(encoding="utf-8-sig", newline="") as lines,
            dst.open("w", encoding="utf-8", newline="") as out,
        ):
            for line in lines:
                text = line.rstrip("\r\n")
                cleaned = pipeline.clean(text)
                if cleaned is not None:
                    out.write(cleaned + line[len(text) :])
    except UnicodeDecodeError:
        raise _not_utf8(name) from None


def clean_jsonl(src: Path, dst: Path, name: str, pipeline: Pipeline, column: str) -> None:
    """Each line is a JSON object whose `column` field is the text; blank lines are dropped."""
    try:
        with (
            src.open(encoding="utf-8-sig", newline="") as lines,
            dst.open("w", encoding="utf-8", newline="") as out,
        ):
            for number, line in enumerate(lines, 1):
                if line.strip():
                    kept = _clean_object(line, f"{name} line {number}", pipeline, column)
                    if kept is not None:
                        out.write(kept if kept.endswith("\n") else kept + "\n")
    except UnicodeDecodeError:
        raise _not_utf8(name) from None


def _clean_object(line: str, where: str, pipeline: Pipeline, column: str) -> str | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise FormatError(f"{where}: not JSON ({error.msg}); write one object per line") from None
    if not isinstance(record, dict):
        raise FormatError(f"{where}: a JSON object per line, not {type(record).__name__}")
    if column not in record:
        raise FormatError(f"{where}: no field {column!r}; name the text field with --text-column")
    text = record[column]
    if text is not None and not isinstance(text, str):
        raise FormatError(f"{where}: field {column!r} is {type(text).__name__}, not text")
    cleaned = pipeline.clean(text or "")
    if cleaned is None:
        return None
    masked = {k: v if k == column else _mask(v, pipeline) for k, v in record.items()}
    if cleaned != (text or ""):
        masked[column] = cleaned
    if masked == record:
        return line
    return json.dumps(masked, ensure_ascii=False)


def _mask(value: Any, pipeline: Pipeline) -> Any:
    if isinstance(value, str):
        return pipeline.mask_field(value)
    if isinstance(value, list):
        return [_mask(v, pipeline) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v, pipeline) for k, v in value.items()}
    return value


def clean_csv(src: Path, dst: Path, name: str, pipeline: Pipeline, column: str) -> None:
    """A header row naming the columns, then one record per row (comma-separated, quoted as
    Excel writes it); blank rows are dropped, short rows read as empty cells."""
    try:
        with (
            src.open(encoding="utf-8-sig", newline="") as lines,
            dst.open("w", encoding="utf-8", newline="") as out,
        ):
            rows = csv.reader(lines)
            writer = csv.writer(out, lineterminator="\n")
            header = next(rows, None)
            if header is None:
                return
            if column not in header:
                raise FormatError(
                    f"{name}: no column {column!r} (the header has {', '.join(header)}); "
                    "name the text column with --text-column"
                )
            index = header.index(column)
            writer.writerow(header)
            for row in rows:
                if row:
                    kept = _clean_row(row, index, pipeline)
                    if kept is not None:
                        writer.writerow(kept)
    except UnicodeDecodeError:
        raise _not_utf8(name) from None
    except csv.Error as error:
        raise FormatError(f"{name} line {rows.line_num}: not CSV ({error})") from None


def _clean_row(row: list[str], index: int, pipeline: Pipeline) -> list[str] | None:
    row += [""] * (index + 1 - len(row))
    cleaned = pipeline.clean(row[index])
    if cleaned is None:
        return None
    return [cleaned if i == index else pipeline.mask_field(v) for i, v in enumerate(row)]


def clean_parquet(src: Path, dst: Path, name: str, pipeline: Pipeline, column: str) -> None:
    """Rows of a Parquet file whose `column` holds strings; the schema is kept, and with `pii`
    every string column is masked."""
    try:
        source = pq.ParquetFile(src)
        schema = source.schema_arrow
        if column not in schema.names:
            raise FormatError(
                f"{name}: no column {column!r} (it has {', '.join(schema.names)}); "
                "name the text column with --text-column"
            )
        if not _is_text(schema.field(column).type):
            raise FormatError(
                f"{name}: column {column!r} holds {schema.field(column).type}, not text"
            )
        with pq.ParquetWriter(dst, schema) as writer:
            for batch in source.iter_batches(batch_size=BATCH_ROWS):
                writer.write_batch(_clean_batch(batch, column, pipeline))
    except (pa.ArrowException, OSError) as error:
        raise FormatError(f"{name}: not a readable Parquet file ({error})") from None


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _clean_batch(batch: pa.RecordBatch, column: str, pipeline: Pipeline) -> pa.RecordBatch:
    texts = batch.column(column).to_pylist()
    cleaned = [pipeline.clean(t or "") for t in texts]
    kept = batch.filter(pa.array([c is not None for c in cleaned], type=pa.bool_()))
    if not pipeline.masks:
        return kept  # only masking changes a value; the rest is which rows stay
    kept_texts = [
        None if t is None and c == "" else c
        for t, c in zip(texts, cleaned, strict=True)
        if c is not None
    ]
    arrays = []
    for field, array in zip(kept.schema, kept.columns, strict=True):
        if field.name == column:
            array = pa.array(kept_texts, type=field.type)
        elif _is_text(field.type):
            values = [None if v is None else pipeline.mask_field(v) for v in array.to_pylist()]
            array = pa.array(values, type=field.type)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=kept.schema)


Cleaner = Callable[[Path, Path, str, Pipeline, str], None]
FORMATS: Final[dict[str, Cleaner]] = {
    ".txt": clean_txt,
    ".jsonl": clean_jsonl,
    ".csv": clean_csv,
    ".parquet": clean_parquet,
}
