"""A data set's files read straight from the chunk store: seekable, or assembled on disk.

`ChunkFile` lets a reader look at part of a file without fetching the rest: pyarrow reads a
Parquet footer and its first pages, a CSV reader the first lines, and only the chunks under
those bytes leave the store. `materialize` assembles whole files under a folder, for readers
that want a path (DuckDB over a version, a node's cache of the data sets its jobs mount).
"""

from __future__ import annotations

import bisect
import io
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterable
from itertools import accumulate
from pathlib import Path

from aicc.core.datasets import FileEntry, Manifest
from aicc.store.chunkstore import ChunkStore


class ChunkFile(io.RawIOBase):
    """One file of a manifest as a read-only, seekable raw stream over its chunks.

    A read finds its chunk by bisecting the chunks' start offsets and keeps the last few
    chunks decoded (`cache` of them), so the many small reads of a Parquet footer or a
    buffered text reader fetch each chunk once."""

    def __init__(self, store: ChunkStore, entry: FileEntry, *, cache: int = 8) -> None:
        super().__init__()
        self.store = store
        self.entry = entry
        self.name = entry.path
        self._starts = [0, *accumulate(c.size for c in entry.chunks)][:-1]
        self._pos = 0
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_size = max(1, cache)
        self.fetched = 0  # chunks fetched from the store, to show what a reader cost

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.closed:
            raise ValueError("seek on a closed file")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.entry.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def _chunk(self, index: int) -> bytes:
        data = self._cache.get(index)
        if data is None:
            data = self.store.get(self.entry.chunks[index].digest)
            self.fetched += 1
            self._cache[index] = data
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(index)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("read from a closed file")
        out = memoryview(buffer).cast("B")
        done = 0
        while done < len(out) and self._pos < self.entry.size:
            index = bisect.bisect_right(self._starts, self._pos) - 1
            data = self._chunk(index)
            start = self._pos - self._starts[index]
            n = min(len(out) - done, len(data) - start)
            out[done : done + n] = data[start : start + n]
            done += n
            self._pos += n
        return done

    def readall(self) -> bytes:
        parts = []
        while self._pos < self.entry.size:
            index = bisect.bisect_right(self._starts, self._pos) - 1
            start = self._pos - self._starts[index]
            parts.append(self._chunk(index)[start:])
            self._pos = self._starts[index] + self.entry.chunks[index].size
        return b"".join(parts)


def inside(dest: Path, path: str) -> Path:
    """Where a manifest path lands under `dest`; a path that would leave it is an error even
    though manifests are checked when made."""
    root = dest.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or target == root:
        raise ValueError(f"path {path!r} leaves {dest}")
    return target


def materialize(
    store: ChunkStore, manifest: Manifest, dest: Path, paths: Iterable[str] | None = None
) -> None:
    """Assemble the manifest's files (or those of `paths`) under `dest`.

    Each file is written to a temporary name and renamed, so a file under `dest` is whole or
    absent, and two callers assembling the same version at once agree. A file already there
    with its size is taken as done: `dest` is named after the manifest's digest, so nothing
    else writes there."""
    wanted = None if paths is None else set(paths)
    missing = sorted((wanted or set()) - {f.path for f in manifest.files})
    if missing:
        raise KeyError(f"not in the manifest: {', '.join(missing[:5])}")
    for entry in manifest.files:
        if wanted is not None and entry.path not in wanted:
            continue
        target = inside(dest, entry.path)
        if target.is_file() and target.stat().st_size == entry.size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in entry.chunks:
                    out.write(store.get(chunk.digest))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
