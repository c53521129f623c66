"""Where the server runs SQL over a version: the table files a request names, assembled under
`views/<manifest digest>/` (`materialize`, whole or absent, kept as a cache), and a DuckDB
that reads them, sandboxed: no file outside those folders, no extension, no setting changed,
a memory limit, a thread count and a timer that interrupts it (`sandboxed`, `guarded`).

The cache is bounded where its bytes are (issue 35: a manifest that lists one stored MiB a
thousand times assembles to a GiB): the files one request assembles are at most
`Limits.view_bytes` (refused, 413, before a byte is written), and before assembling, the least
recently used views are deleted until all of them fit in `Limits.views_bytes`. A view in use by
a request of any worker on this machine is never deleted (a shared `flock` on its lock file); a
burst of concurrent requests may pass the total by what they assemble at once, each within its
own cap.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from aicc.config import DataSettings
from aicc.core.datasets import Manifest
from aicc.services.common import Invalid, TooLarge
from aicc.services.data import tablefacts, tablefiles
from aicc.store.chunkfiles import materialize
from aicc.store.chunkstore import ChunkSource

# What DuckDB reads each table format with.
_READERS = {
    "csv": "read_csv('{path}')",
    "tsv": "read_csv('{path}', delim = '\t')",
    "parquet": "read_parquet('{path}')",
    "jsonl": "read_json('{path}', format = 'newline_delimited')",
    "json": "read_json('{path}', format = 'auto')",
}


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


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
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
def sandboxed(
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
            fmt = tablefiles.table_format(file.name) or "csv"
            reader = _READERS[fmt].format(path=_literal(file).replace("'", "''"))
            if fmt in ("csv", "tsv") and _foreign(file):
                # DuckDB reads CSVs as UTF-8 only (GBK needs an extension it may not load):
                # a GBK or UTF-16 one is read by pyarrow, as the template runs read it
                try:
                    con.register(f"_decoded_{i}", tablefacts.csv_table(file.read_bytes(), fmt))
                except pa.ArrowException as e:
                    raise tablefiles.unreadable(_clean(str(file), roots), fmt, e) from e
                reader = f"_decoded_{i}"
            try:
                con.execute(f"CREATE VIEW {ident(name)} AS SELECT * FROM {reader}")
            except duckdb.Error as e:
                path, why = _clean(str(file), roots), str(e).split("\n")[0]
                raise tablefiles.unreadable(path, fmt, Exception(_clean(why, roots))) from e
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
def guarded(
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
def assembled(
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
