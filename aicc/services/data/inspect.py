"""Look before you use: preview, profile, query and diff a data set version on the server.

Nothing here downloads a version. A preview reads only the first chunks of a file through
`ChunkFile` (a CSV's first block, a Parquet footer and first pages), so it costs the same for a
1 KiB file and a 1 GiB one. Profile, query and table diffs need whole files: they assemble the
table files they touch under `views/<manifest digest>/` (`materialize`, whole or absent, kept as
a cache) and run DuckDB there, sandboxed: no file outside those folders, no extension, no
setting changed, one SELECT, a memory limit, a thread count and a timer that interrupts it.

That cache is bounded where its bytes are (issue 35: a manifest that lists one stored MiB a
thousand times assembles to a GiB): the files one request assembles are at most
`Limits.view_bytes` (refused, 413, before a byte is written), and before assembling, the least
recently used views are deleted until all of them fit in `Limits.views_bytes`. A view in use by
a request of any worker on this machine is never deleted (a shared `flock` on its lock file); a
burst of concurrent requests may pass the total by what they assemble at once, each within its
own cap.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import fcntl
import io
import json
import math
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from PIL import Image

from aicc.config import DataSettings
from aicc.core.datasets import FileEntry, Manifest
from aicc.services.common import Invalid, NotFound, TooLarge
from aicc.services.data import tablefacts
from aicc.services.data.views import (
    Bin,
    Column,
    ColumnProfile,
    Preview,
    Profile,
    QueryResult,
    TableDiff,
    Thumb,
    Thumbnails,
    TopValue,
)
from aicc.store.chunkfiles import ChunkFile, materialize
from aicc.store.chunkstore import ChunkSource

# A table file's format by its suffix; what DuckDB reads it with.
TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
_READERS = {
    "csv": "read_csv('{path}')",
    "tsv": "read_csv('{path}', delim = '\t')",
    "parquet": "read_parquet('{path}')",
    "jsonl": "read_json('{path}', format = 'newline_delimited')",
    "json": "read_json('{path}', format = 'auto')",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
NUMERIC = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
    "FLOAT", "DOUBLE",
}  # fmt: skip
_INTEGERS = NUMERIC - {"FLOAT", "DOUBLE"}

BLOCK = 1 << 20  # what a preview parses: the first MiB or so, whatever the file's size
MAX_PREVIEW_ROWS = 1000
MAX_JSON_ARRAY = 16 << 20  # a .json array is parsed whole, so only up to this size
MAX_IMAGE = 32 << 20
MAX_SQL_CHARS = 100_000


@dataclass(frozen=True)
class Limits:
    """What one query may use; the defaults suit a shared server."""

    timeout_s: float = 30.0
    memory_mib: int = 1024
    threads: int = 2
    max_rows: int = 1000
    view_bytes: int = 4 << 30  # the files one request assembles (data.view_max_gib)
    views_bytes: int = 20 << 30  # all views together, least recently used evicted first

    @classmethod
    def of(cls, data: DataSettings, *, max_rows: int = 1000) -> Limits:
        """The site's limits (`data:` in config.yaml), for the API and the portal alike."""
        return cls(
            timeout_s=data.query_timeout_s,
            memory_mib=data.query_memory_mib,
            max_rows=max_rows,
            view_bytes=int(data.view_max_gib * 2**30),
            views_bytes=int(data.views_total_gib * 2**30),
        )


def views_dir(home: Path) -> Path:
    """Where versions' table files are assembled for queries, under the server's home (kept:
    the next query is fast); for the API and the portal alike."""
    return home / "data" / "views"


# --- formats and values ---


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


def _rows(table: pa.Table) -> tuple[tuple[Any, ...], ...]:
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


def _entry(manifest: Manifest, path: str) -> FileEntry:
    entry = manifest.find(path)
    if entry is None:
        raise NotFound("no file {path} in this version", path=path)
    return entry


def _unreadable(path: str, fmt: str, error: Exception) -> Invalid:
    return Invalid(
        "{path} cannot be read as {format}: {error}", path=path, format=fmt, error=str(error)
    )


def whole_table(source: ChunkSource, manifest: Manifest, path: str, max_bytes: int) -> pa.Table:
    """A table file of a version read whole, for what the server itself computes over every
    row (a challenge's hidden answers): TooLarge above `max_bytes`, Invalid when it does not
    parse as its suffix says."""
    entry = _entry(manifest, path)
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
        raise _unreadable(path, fmt.upper(), e) from e


# --- preview ---


def preview(
    store: ChunkSource, manifest: Manifest, path: str | None = None, limit: int = 50
) -> Preview:
    """The first `limit` rows of a table file, the first lines of a text file, a thumbnail of
    an image or a grid of those under a folder. Without `path`, the first table file (else
    the first text file) of the version."""
    if not 1 <= limit <= MAX_PREVIEW_ROWS:
        raise Invalid("limit: from 1 to {most} rows", most=MAX_PREVIEW_ROWS)
    if path is None:
        path = _default_path(store, manifest)
    entry = manifest.find(path.rstrip("/"))
    if entry is None:
        folder = path.rstrip("/") + "/"
        if any(f.path.startswith(folder) for f in manifest.files):
            grid = thumbnails(store, manifest, folder, limit)
            return Preview(
                path=path,
                format="images",
                columns=[_varchar("path"), _varchar("class"), _varchar("png")],
                rows=[[t.path, t.label, t.data_uri] for t in grid.items],
            )
        raise NotFound("no file {path} in this version", path=path)
    fmt = table_format(entry.path)
    suffix = PurePosixPath(entry.path).suffix.lower()
    records = _json_rows(store, entry) if fmt == "json" else None
    if fmt in ("csv", "tsv"):
        table = _csv_head(store, entry, fmt, limit)
    elif fmt == "parquet":
        table = _parquet_head(store, entry, limit)
    elif fmt == "jsonl":
        table = _jsonl_head(store, entry, limit)
    elif records is not None:
        table = tablefacts.rows_table(records[:limit])
    elif suffix in IMAGE_SUFFIXES:
        return Preview(
            path=path,
            format="image",
            columns=[_varchar("png")],
            rows=[[_thumbnail(store, entry, 256)]],
        )
    else:
        lines = _text_head(store, entry, limit)
        if lines is None:
            raise Invalid(
                "{path}: no preview for this kind of file; previews show CSV, TSV, Parquet, "
                "JSON Lines and JSON tables, text files and images",
                path=path,
            )
        return Preview(
            path=path, format="text", columns=[_varchar("line")], rows=[[x] for x in lines]
        )
    return Preview(
        path=path,
        format=fmt or "json",
        columns=list(duck_columns(table.schema)),
        rows=[list(r) for r in _rows(table)],
    )


def _varchar(name: str) -> Column:
    return Column(name=name, type="VARCHAR")


def _default_path(store: ChunkSource, manifest: Manifest) -> str:
    tables = [f.path for f in manifest.files if table_format(f.path)]
    if tables:
        return tables[0]
    for f in manifest.files[:100]:  # a look at the first few, not every file of a large set
        if f.size and _text_head(store, f, 1) is not None:
            return f.path
    raise Invalid("this version has no table or text file; name a file or folder to preview")


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
                raise _unreadable(entry.path, what, e) from e
            data = data[:shorter]
    raise Invalid("{path}: its first lines do not parse as {format}", path=entry.path, format=what)


def _csv_head(store: ChunkSource, entry: FileEntry, fmt: str, limit: int) -> pa.Table:
    """The first rows of a CSV or TSV in its encoding (UTF-8, a BOM, GBK) and with its
    delimiter (`,` `;` tab `|`), as the template runs read it (`tablefacts`)."""

    def parse(data: io.BytesIO) -> pa.Table:
        read, options = tablefacts.csv_options(data.getvalue()[:65536], fmt)
        return pa_csv.read_csv(data, read_options=read, parse_options=options)

    return _head(store, entry, parse, fmt.upper(), limit)


def _parquet_head(store: ChunkSource, entry: FileEntry, limit: int) -> pa.Table:
    try:
        # Buffered column reads: the first pages of each column, not its whole first row group.
        parquet = pq.ParquetFile(ChunkFile(store, entry), buffer_size=BLOCK, pre_buffer=False)
        batch = next(parquet.iter_batches(batch_size=limit, use_threads=False), None)
        if batch is None:
            return parquet.schema_arrow.empty_table()
        return pa.Table.from_batches([batch])
    except (pa.ArrowException, OSError) as e:
        raise _unreadable(entry.path, "Parquet", e) from e


def _jsonl_head(store: ChunkSource, entry: FileEntry, limit: int) -> pa.Table:
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


def _json_rows(store: ChunkSource, entry: FileEntry) -> list[dict[str, Any]] | None:
    """A small .json file that holds an array of objects, else None (it previews as text)."""
    if entry.size > MAX_JSON_ARRAY:
        return None
    return tablefacts.json_rows(ChunkFile(store, entry).readall())


def _text_head(store: ChunkSource, entry: FileEntry, limit: int) -> list[str] | None:
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


# --- images ---


def _thumbnail(store: ChunkSource, entry: FileEntry, size: int) -> str | None:
    if entry.size > MAX_IMAGE:
        return None
    try:
        with Image.open(io.BufferedReader(ChunkFile(store, entry))) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a fraction of the size
            small = image if image.mode in ("RGB", "RGBA", "L") else image.convert("RGB")
            small.thumbnail((size, size))
            out = io.BytesIO()
            small.save(out, "PNG")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def thumbnails(
    store: ChunkSource, manifest: Manifest, folder: str = "", limit: int = 24, size: int = 128
) -> Thumbnails:
    """A grid of the images under `folder` (all of the version when empty): the class of an
    image is its folder's name, as image classification sets lay them out; the grid takes
    images from each class in turn, so every class shows, and counts them all."""
    if not 1 <= limit <= MAX_PREVIEW_ROWS:
        raise Invalid("limit: from 1 to {most} images", most=MAX_PREVIEW_ROWS)
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    images = [
        f
        for f in manifest.files
        if f.path.startswith(prefix) and PurePosixPath(f.path).suffix.lower() in IMAGE_SUFFIXES
    ]
    if not images:
        raise NotFound("no images under {folder} in this version", folder=folder or "/")
    by_class: dict[str, list[FileEntry]] = {}
    for f in images:
        by_class.setdefault(PurePosixPath(f.path).parent.name, []).append(f)
    picked: list[FileEntry] = []
    for turn in range(max(len(v) for v in by_class.values())):
        picked += [v[turn] for v in by_class.values() if turn < len(v)]
        if len(picked) >= limit:
            break
    items = tuple(
        Thumb(
            path=f.path,
            label=PurePosixPath(f.path).parent.name,
            data_uri=_thumbnail(store, f, size),
        )
        for f in picked[:limit]
    )
    return Thumbnails(
        folder=folder,
        images=len(images),
        classes={k: len(v) for k, v in by_class.items()},
        items=list(items),
    )


# --- the sandbox ---


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    """A file name as DuckDB's readers take it literally: they glob `*`, `?` and `[...]`, so
    `x[1].csv` would read `x1.csv`; each of those characters goes in brackets of its own."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in str(path))


def _clean(message: str, roots: Iterable[Path]) -> str:
    """DuckDB's message without the server's folders: a user sees the data set's paths."""
    for root in roots:
        message = message.replace(f"{root}/", "")
    return message


@contextmanager
def _sandbox(
    views: dict[str, Path], roots: list[Path], limits: Limits
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB that reads the files of `views` (name -> file under one of `roots`) and
    nothing else, with its limits locked; spilling goes to a private temporary folder."""
    scratch = Path(tempfile.mkdtemp(prefix=".spill-", dir=roots[0].parent))
    con = duckdb.connect(
        ":memory:",
        config={
            "threads": limits.threads,
            "memory_limit": f"{limits.memory_mib}MiB",
            "max_temp_directory_size": f"{4 * limits.memory_mib}MiB",
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    try:
        dirs = ", ".join(_quote(f"{r}/") for r in roots)
        con.execute(f"SET temp_directory = {_quote(str(scratch))}")
        con.execute(f"SET allowed_directories = [{dirs}]")
        con.execute("SET enable_external_access = false")
        for i, (name, file) in enumerate(views.items()):
            fmt = table_format(file.name) or "csv"
            reader = _READERS[fmt].format(path=_literal(file).replace("'", "''"))
            if fmt in ("csv", "tsv") and _foreign(file):
                # DuckDB reads CSVs as UTF-8 only (GBK needs an extension it may not load):
                # a GBK or UTF-16 one is read by pyarrow, as the template runs read it
                try:
                    con.register(f"_decoded_{i}", tablefacts.csv_table(file.read_bytes(), fmt))
                except pa.ArrowException as e:
                    raise _unreadable(_clean(str(file), roots), fmt, e) from e
                reader = f"_decoded_{i}"
            try:
                con.execute(f"CREATE VIEW {_ident(name)} AS SELECT * FROM {reader}")
            except duckdb.Error as e:
                path, why = _clean(str(file), roots), str(e).split("\n")[0]
                raise _unreadable(path, fmt, Exception(_clean(why, roots))) from e
        con.execute("SET lock_configuration = true")
        yield con
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _foreign(file: Path) -> bool:
    """A text table in an encoding other than UTF-8 (a UTF-8 BOM is read as UTF-8)."""
    with file.open("rb") as f:
        return tablefacts.encoding_of(f.read(65536)) not in ("utf-8", "utf-8-sig")


@contextmanager
def _timer(con: duckdb.DuckDBPyConnection, seconds: float) -> Iterator[threading.Event]:
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(seconds, stop)
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


@contextmanager
def _guarded(
    con: duckdb.DuckDBPyConnection, limits: Limits, roots: list[Path], tables: Iterable[str] = ()
) -> Iterator[None]:
    """Run what the block does under the timer, DuckDB's errors as `Invalid` saying what to
    change (and without the server's folders in them)."""
    with _timer(con, limits.timeout_s) as fired:
        try:
            yield
        except duckdb.InterruptException as e:
            if fired.is_set():
                raise Invalid(
                    "the query ran past its {seconds} s limit; select fewer rows or columns, "
                    "or aggregate",
                    seconds=limits.timeout_s,
                ) from e
            raise
        except duckdb.OutOfMemoryException as e:
            raise Invalid(
                "the query needs more than its {memory_mib} MiB of memory; select fewer rows "
                "or columns, or aggregate",
                memory_mib=limits.memory_mib,
            ) from e
        except duckdb.PermissionException as e:
            raise Invalid(
                "a query reads only this version's tables, by name (SELECT * FROM train), "
                "never other files: {error}",
                error=_clean(str(e), roots),
            ) from e
        except duckdb.CatalogException as e:
            names = ", ".join(sorted(tables)[:50]) or "none"
            raise Invalid(
                "{error}; this version's tables: {tables}",
                error=_clean(str(e), roots),
                tables=names,
            ) from e
        except duckdb.Error as e:
            raise Invalid("{error}", error=_clean(str(e), roots)) from e


_views_lock = threading.Lock()  # one eviction at a time in this process


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def _tree_bytes(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _lock_file(views: Path, digest: str) -> int:
    """The view's lock, `views/.lock-<digest>`: held shared while a request uses the view,
    taken exclusive (without waiting) to evict it, so a view in use by any thread or worker
    process of this machine stays. Never deleted: a new file would not exclude the old one."""
    return os.open(views / f".lock-{digest}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _evict(views: Path, needed: int, total: int) -> None:
    """Delete the least recently used views (by their folder's time, touched on each use) until
    what is there and `needed` more fit in `total`; those in use stay."""
    entries = []
    for entry in views.iterdir():
        if entry.name.startswith(".") or not entry.is_dir() or entry.is_symlink():
            continue  # a lock, or a query's spill folder (in use)
        entries.append((entry.stat().st_mtime, entry, _tree_bytes(entry)))
    held = sum(size for _, _, size in entries)
    for _, entry, size in sorted(entries, key=lambda e: e[0]):
        if held + needed <= total:
            break
        fd = _lock_file(views, entry.name)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # in use
        try:
            shutil.rmtree(entry, ignore_errors=True)
            held -= size
        finally:
            os.close(fd)  # and its lock with it


@contextmanager
def _assembled(
    store: ChunkSource, manifest: Manifest, views: Path, paths: Iterable[str], limits: Limits
) -> Iterator[Path]:
    """The version's files of `paths` assembled under `views/<manifest digest>/`, kept from
    eviction while the block runs. TooLarge when they pass `limits.view_bytes`."""
    wanted = set(paths)
    files = [f for f in manifest.files if f.path in wanted]
    size = sum(f.size for f in files)
    if size > limits.view_bytes:
        raise TooLarge(
            "{what} would assemble {size} of files on the server, more than the {most} one "
            "profile or query may (data.view_max_gib); profile or query a smaller file, or "
            "push the table as several smaller files",
            what=", ".join(sorted(wanted)[:5]),
            size=_mib(size),
            most=_mib(limits.view_bytes),
        )
    views.mkdir(parents=True, exist_ok=True)
    root = views / manifest.digest
    fd = _lock_file(views, manifest.digest)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while an eviction deletes it
        with _views_lock:
            root.mkdir(exist_ok=True)
            os.utime(root)  # used now: the last to be evicted
            there = sum(
                t.stat().st_size
                for f in files
                if (t := root / f.path).is_file() and not t.is_symlink()
            )
            _evict(views, size - there, limits.views_bytes)
        materialize(store, manifest, root, wanted)
        yield root
    finally:
        os.close(fd)


# --- query ---


def referenced(sql: str) -> set[str]:
    """The table names a SELECT mentions, from DuckDB's parse tree (it binds nothing)."""
    with duckdb.connect(config={"enable_external_access": False}) as con:
        (text,) = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0]
    tree = json.loads(text)
    if tree.get("error"):
        raise Invalid("{error}", error=tree.get("error_message", "the SQL does not parse"))
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("table_name"):
                names.add(node["table_name"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(tree)
    return names


def check_select(sql: str) -> str:
    """The one SELECT (or WITH ... SELECT) in `sql`; anything else is refused here, by
    DuckDB's own parser."""
    if len(sql) > MAX_SQL_CHARS:
        raise Invalid("sql: at most {most} characters", most=MAX_SQL_CHARS)
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise Invalid("{error}", error=str(e)) from e
    if len(statements) != 1:
        raise Invalid(
            "sql: one SELECT statement, found {count}; run them one at a time",
            count=len(statements),
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise Invalid(
            "sql: only a SELECT (or WITH ... SELECT) over this version's tables runs here; "
            "{kind} statements (COPY, ATTACH, INSTALL, SET, PRAGMA, writes) are refused",
            kind=kind.name,
        )
    return statements[0].query


def query(
    store: ChunkSource,
    manifest: Manifest,
    sql: str,
    *,
    views: Path,
    limits: Limits = Limits(),
) -> QueryResult:
    """Read-only SQL over a version: each table file is a view (see `table_names`), only the
    files the query names are assembled under `views`, and the first `max_rows` rows return."""
    start = time.perf_counter()
    statement = check_select(sql)
    tables = table_names(manifest)
    by_fold = {n.casefold(): n for n in tables}
    wanted = {by_fold[n.casefold()] for n in referenced(statement) if n.casefold() in by_fold}
    if not tables:
        raise Invalid("this version has no table files (CSV, TSV, Parquet, JSON Lines, JSON)")
    with (
        _assembled(store, manifest, views, {tables[n] for n in wanted}, limits) as root,
        _sandbox({n: root / tables[n] for n in wanted}, [root], limits) as con,
        _guarded(con, limits, [root], tables),
    ):
        rel = con.sql(statement)
        if rel is None:  # check_select lets only a SELECT through, which is a relation
            raise Invalid("sql: only a SELECT runs here")
        columns = [Column(name=n, type=str(t)) for n, t in zip(rel.columns, rel.types, strict=True)]
        table = rel.limit(limits.max_rows + 1).to_arrow_table()
    truncated = table.num_rows > limits.max_rows
    table = table.slice(0, limits.max_rows)
    return QueryResult(
        columns=columns,
        rows=[list(r) for r in _rows(table)],
        truncated=truncated,
        elapsed_ms=round((time.perf_counter() - start) * 1000, 1),
    )


# --- profile ---


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
    limits: Limits = Limits(),
    bins: int = 20,
    top: int = 10,
) -> Profile:
    """Per column of a table file: its type, nulls, distinct values (approximate), min, max,
    and a histogram (numbers) or its most frequent values (anything else); two scans."""
    entry = _entry(manifest, path)
    fmt = table_format(entry.path)
    if fmt is None:
        raise Invalid(
            "{path} is not a table file; profiles read CSV, TSV, Parquet, JSON Lines and JSON",
            path=path,
        )
    with (
        _assembled(store, manifest, views, [entry.path], limits) as root,
        _sandbox({"t": root / entry.path}, [root], limits) as con,
        _guarded(con, limits, [root]),
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
        q = _ident(c.name)
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
        q = _ident(c.name)
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
        min=jsonable(least),
        max=jsonable(most),
        histogram=histogram,
        top=values,
    )


# --- diff ---


def diff_tables(
    store: ChunkSource,
    old: Manifest,
    new: Manifest,
    path: str,
    *,
    views: Path,
    limits: Limits = Limits(),
    sample: int = 10,
) -> TableDiff:
    """Rows added and removed between two versions of one table file, as multisets (EXCEPT
    ALL: a row twice in the new version and once in the old is one row added)."""
    before, after = _entry(old, path), _entry(new, path)
    fmt = table_format(path)
    if fmt is None:
        raise Invalid("{path} is not a table file; diff_files tells whether it changed", path=path)
    if before.digest == after.digest:
        return TableDiff(
            path=path,
            rows_added=0,
            rows_removed=0,
            columns=list(preview_columns(store, after, fmt)),
            sample_added=[],
            sample_removed=[],
        )
    with (
        _assembled(store, old, views, [path], limits) as a,
        _assembled(store, new, views, [path], limits) as b,
        _sandbox({"old": a / path, "new": b / path}, [a, b], limits) as con,
        _guarded(con, limits, [a, b]),
    ):
        new_rel = con.table("new")
        columns = [
            Column(name=n, type=str(t)) for n, t in zip(new_rel.columns, new_rel.types, strict=True)
        ]
        con.execute("CREATE TEMP TABLE added AS SELECT * FROM new EXCEPT ALL SELECT * FROM old")
        con.execute("CREATE TEMP TABLE removed AS SELECT * FROM old EXCEPT ALL SELECT * FROM new")
        counts = con.execute("SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM removed)")
        added, removed = counts.fetchall()[0]
        sample_added = _rows(con.sql(f"SELECT * FROM added LIMIT {int(sample)}").to_arrow_table())
        sample_removed = _rows(
            con.sql(f"SELECT * FROM removed LIMIT {int(sample)}").to_arrow_table()
        )
    return TableDiff(
        path=path,
        rows_added=int(added),
        rows_removed=int(removed),
        columns=columns,
        sample_added=[list(r) for r in sample_added],
        sample_removed=[list(r) for r in sample_removed],
    )


def preview_columns(store: ChunkSource, entry: FileEntry, fmt: str) -> tuple[Column, ...]:
    return describe_file(store, entry, fmt, count=False)[0]


# --- describe ---


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
            raise _unreadable(entry.path, "Parquet", e) from e
    if fmt == "json":
        rows = _json_rows(store, entry)
        if rows is None:
            raise Invalid("{path}: a JSON table is an array of objects", path=entry.path)
        return duck_columns(tablefacts.rows_table(rows).schema), len(rows)
    head = _jsonl_head(store, entry, 1) if fmt == "jsonl" else _csv_head(store, entry, fmt, 1)
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
        raise _unreadable(entry.path, fmt.upper(), e) from e


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
