"""Preview latency of a large data set file: the first rows of a 1 GiB CSV and a 1 GiB Parquet.

A preview reads only the first chunks of a file (`services/data/tablefiles.py`), so its time does
not grow with the file. This writes both files (random values, so Parquet cannot compress them
away), chunks them into a local chunk store as a push would, and times `preview` several times
each, with the chunks fetched and the median and worst milliseconds. Goal: <= 200 ms. Also
times `describe_tables` (at commit) and the first `query`, which assembles the file on disk.

    .venv/bin/python benchmarks/data_preview.py [--gib 1] [--runs 5] [--dir /tmp/x]
"""

from __future__ import annotations

import argparse
import mmap
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from aicc.core.datasets import FileEntry, Manifest, cut
from aicc.services.data import previews, queries, tablefiles, tableviews
from aicc.store.chunkstore import LocalChunks


class CountingChunks(LocalChunks):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gets = 0

    def get(self, digest: str) -> bytes:
        self.gets += 1
        return super().get(digest)


def table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "x": rng.random(rows),
            "y": rng.normal(size=rows),
            "k": rng.integers(0, 1_000_000_000, rows),
            "label": pa.array(rng.integers(0, 10**12, rows)).cast(pa.string()),
        }
    )


def write_csv(path: Path, gib: float) -> None:
    """Batches appended until the file holds `gib` GiB."""
    target, batch = int(gib * (1 << 30)), 0
    with pa_csv.CSVWriter(path, table(1, 0).schema) as out:
        while path.stat().st_size < target:
            out.write_table(table(500_000, batch))
            batch += 1


def write_parquet(path: Path, gib: float) -> None:
    target, batch = int(gib * (1 << 30)), 0
    with pq.ParquetWriter(path, table(1, 0).schema) as out:
        while path.stat().st_size < target:
            out.write_table(table(1_048_576, 100 + batch))  # one row group per write
            batch += 1


def push(store: LocalChunks, name: str, path: Path) -> FileEntry:
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        chunks = cut(memoryview(data))
        offset = 0
        for c in chunks:
            store.put(c.digest, data[offset : offset + c.size])
            offset += c.size
    return FileEntry(name, path.stat().st_size, tuple(chunks))


def timed(runs: int, fn: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="aicc-preview-"))
    work.mkdir(parents=True, exist_ok=True)
    store = CountingChunks(work / "chunks")
    try:
        entries = []
        for name, write in (("big.csv", write_csv), ("big.parquet", write_parquet)):
            source = work / name
            start = time.perf_counter()
            write(source, args.gib)
            entry = push(store, name, source)
            source.unlink()
            entries.append(entry)
            print(
                f"{name}: {entry.size / (1 << 30):.2f} GiB in {len(entry.chunks)} chunks, "
                f"written and pushed in {time.perf_counter() - start:.1f} s"
            )
        manifest = Manifest.of(entries)
        for entry in entries:
            store.gets = 0
            ms = timed(args.runs, partial(previews.preview, store, manifest, entry.path, 50))
            print(
                f"preview {entry.path} (50 rows): median {statistics.median(ms):.1f} ms, "
                f"worst {max(ms):.1f} ms, first {ms[0]:.1f} ms, "
                f"{store.gets / args.runs:.0f} chunks read of {len(entry.chunks)}"
            )
        start = time.perf_counter()
        tables = tablefiles.describe_tables(store, manifest)
        rows = {p: t["rows"] for p, t in tables.items()}
        print(f"describe_tables: {time.perf_counter() - start:.1f} s, rows {rows}")
        views = work / "views"
        for sql in (
            'SELECT count(*), avg(x) FROM "big.parquet"',
            'SELECT count(*), avg(x) FROM "big.csv"',
        ):
            for attempt in ("first (assembles the file)", "again"):
                start = time.perf_counter()
                queries.query(
                    store, manifest, sql, views=views, limits=tableviews.Limits(timeout_s=300)
                )
                print(f"query {sql!r} {attempt}: {time.perf_counter() - start:.1f} s")
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
