"""A node's data cache: the chunks of data set versions its jobs read, and the files made of them,
from which each replica gets a read-only view of its job's `datasets`.

`ROOT/chunks/ab/cd/DIGEST` holds chunks as fetched from the server (`Datasets.chunk`), each
checked against its BLAKE3 digest when it enters and again when it is read: a damaged one is
fetched anew. `ROOT/files/ab/cd/DIGEST` holds files assembled from their chunks, once per file
digest, so a second job on the same data fetches and writes nothing. Both count against one
size cap and leave least recently used first; a file a running job's view links to keeps its
bytes until that view goes (a hard link).

A replica's view is `RUN_DIR/data/NAME/...`: hard links to the cached files (copies where the run
directory is on another file system), files 0444 and directories 0555. The sandbox binds it
read-only at its own path (`$AICC_DATA_DIR`) and shows nothing of the cache itself, which lies
under the home it hides: a job sees its own data sets and no other tenant's chunks.

Blocking; safe against a crash midway (temporary names, then rename), across threads, and
across processes sharing one cache (Kubernetes pods on one node: a file lock while mounting).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aicc.core.datasets import Chunk, FileEntry, check_path, digest
from aicc.executors.base import DataMount, Datasets

log = logging.getLogger(__name__)

CHUNKS = "chunks"
FILES = "files"
PARTIAL = ".partial"
LOCK = ".lock"


class DataError(RuntimeError):
    """A data set cannot be mounted here; the message says why (the replica fails with it)."""


@dataclass
class Counters:
    """What the cache did since the server started: chunks fetched from the server against
    chunks served from the node's disk, and files assembled against files reused."""

    chunks_fetched: int = 0
    chunks_cached: int = 0
    chunks_damaged: int = 0  # found changed on disk, fetched again
    bytes_fetched: int = 0
    files_assembled: int = 0
    files_reused: int = 0
    evicted: int = 0


class DataCache:
    """One node's cache under `root`, at most `capacity_bytes` (least recently used leaves
    first), filled from `source` on a miss."""

    def __init__(self, root: Path, capacity_bytes: int, source: Datasets) -> None:
        self.root = root
        self.capacity = capacity_bytes
        self.source = source
        self.counters = Counters()
        self._lock = threading.Lock()
        self._lru: OrderedDict[Path, int] | None = None  # path -> bytes, oldest first
        self._bytes = 0

    # ------------------------------------------------------------------ views

    def mount(self, mounts: Sequence[DataMount], dest: Path) -> None:
        """Make `dest/NAME` for each mount, read-only, all or nothing: built in a sibling and
        renamed, so a crash leaves no half view. DataError when a version or chunk is gone."""
        partial = dest.with_name(dest.name + PARTIAL)
        remove_view(partial)
        partial.mkdir(parents=True)
        try:
            with self._lock, _locked(self.root / LOCK):
                self._index()  # first: it clears what a crash left half written
                for mount in mounts:
                    self._view(mount, partial / mount.name)
        except BaseException:
            remove_view(partial)
            raise
        _read_only(partial)
        os.replace(partial, dest)

    def _view(self, mount: DataMount, root: Path) -> None:
        try:
            manifest = self.source.manifest(mount.version_id)
        except KeyError:
            raise DataError(f"data set {mount.ref} no longer exists") from None
        root.mkdir()
        for entry in manifest.files:
            target = root / check_path(entry.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            _link(self._file(entry, mount.ref), target)

    def bytes_held(self) -> int:
        with self._lock:
            self._index()
            return self._bytes

    # ------------------------------------------------------------------ files

    def _file(self, entry: FileEntry, ref: str) -> Path:
        """The cached file of this content, assembled from its chunks when missing."""
        path = self._path(FILES, entry.digest)
        if path.exists() and path.stat().st_size == entry.size:
            self.counters.files_reused += 1
            self._touch(path, entry.size)
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=PARTIAL)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in entry.chunks:
                    out.write(self._chunk(chunk, ref))
            os.chmod(tmp, 0o444)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.counters.files_assembled += 1
        self._touch(path, entry.size)
        return path

    def _chunk(self, chunk: Chunk, ref: str) -> bytes:
        """The chunk's bytes, from disk when held and intact, else from the server."""
        path = self._path(CHUNKS, chunk.digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            pass
        else:
            if digest(data) == chunk.digest:
                self.counters.chunks_cached += 1
                self._touch(path, len(data))
                return data
            self.counters.chunks_damaged += 1
            log.warning("data cache: chunk %s changed on disk; fetching it again", chunk.digest)
            self._forget(path)
        data = self._fetch(chunk, ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=PARTIAL)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
        self._touch(path, len(data))
        return data

    def _fetch(self, chunk: Chunk, ref: str) -> bytes:
        """From the server, checked on entry (one more try when it arrives damaged)."""
        for _ in range(2):
            try:
                data = self.source.chunk(chunk.digest)
            except KeyError:
                raise DataError(f"data set {ref}: chunk {chunk.digest} is missing") from None
            self.counters.chunks_fetched += 1
            self.counters.bytes_fetched += len(data)
            if digest(data) == chunk.digest:
                return data
        raise DataError(f"data set {ref}: chunk {chunk.digest} arrives damaged")

    # ------------------------------------------------------------------ LRU

    def _path(self, kind: str, name: str) -> Path:
        return self.root / kind / name[:2] / name[2:4] / name

    def _index(self) -> OrderedDict[Path, int]:
        """What the cache holds, oldest use first: read from disk once (a restarted server keeps
        its cache), then kept in memory. A use sets a file's mtime."""
        if self._lru is None:
            found = []
            for kind in (CHUNKS, FILES):
                for path in (self.root / kind).glob("*/*/*"):
                    if path.name.startswith(PARTIAL):
                        path.unlink(missing_ok=True)
                        continue
                    st = path.stat()
                    found.append((st.st_mtime_ns, path, st.st_size))
            self._lru = OrderedDict((p, size) for _, p, size in sorted(found))
            self._bytes = sum(self._lru.values())
        return self._lru

    def _touch(self, path: Path, size: int) -> None:
        lru = self._index()
        self._bytes += size - lru.pop(path, 0)
        lru[path] = size
        os.utime(path)
        while self._bytes > self.capacity and len(lru) > 1:
            oldest = next(iter(lru))
            self._forget(oldest)
            self.counters.evicted += 1

    def _forget(self, path: Path) -> None:
        self._bytes -= self._index().pop(path, 0)
        path.unlink(missing_ok=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on the cache for this process (another one may share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _link(source: Path, target: Path) -> None:
    """A hard link, or a read-only copy where links cannot be made (another file system)."""
    try:
        os.link(source, target)
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copyfile(source, target)
        os.chmod(target, 0o444)


def _read_only(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir():
            path.chmod(0o555)
    root.chmod(0o555)


def remove_view(path: Path) -> None:
    """Remove a view (its directories are read-only). Idempotent."""
    if not path.exists():
        return
    for sub in (path, *path.rglob("*")):
        if sub.is_dir() and not sub.is_symlink():
            sub.chmod(stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)
