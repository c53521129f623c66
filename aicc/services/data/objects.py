"""Data sets as S3 objects, for the S3 endpoint (`aicc/s3/`, docs/interop.md): a project is a
bucket, a file of a version is the object `DATASET/VERSION/PATH` (VERSION a number, or `latest`
for the newest), read by the caller's own rights. A file the caller staged through S3 and has
not committed yet is the object `DATASET/new/PATH`, for the caller alone (`s3writes.staged`):
another member of the project, and anyone else, finds no such key.

A listing walks data sets, then versions, then files, each level in S3's key order (UTF-8, byte
by byte), and stops after the page it gives: a level under a prefix the delimiter rolls up, or
wholly before the page's start, is never read, so listing a bucket with `Delimiter=/` reads no
manifest. A range read locates only the chunks the range touches and reads them from the chunk
store one by one as the answer is sent, never the whole file.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.core.tenancy import Principal
from aicc.services.common import NotFound
from aicc.services.data import chunks, datasets, s3writes
from aicc.services.data.datasets import DATA, latest_row, manifest_of, numbered_row
from aicc.services.data.views import Bucket, ObjectPage, StoredObject
from aicc.services.tenancy import tenancy
from aicc.services.tenancy.views import Project
from aicc.store.chunkstore import ChunkCorrupt, ChunkStore
from aicc.store.tables.data import DatasetRow, DatasetVersionRow

LATEST = "latest"
MAX_KEYS = 1000  # S3's most per page


class NoSuchBucket(NotFound):
    """A project the caller does not read (or that does not exist)."""


class NoSuchKey(NotFound):
    """A key that names no file of a version the caller reads."""


def buckets(session: Session, who: Principal) -> list[Bucket]:
    """The projects the caller reads, each named as `bucket` resolves it again."""
    return [
        Bucket(name=p.name if p.org_id == who.org_id else p.id, created_at=p.created_at)
        for p in tenancy.list_projects(session, who)
    ]


def bucket(session: Session, who: Principal, name: str) -> Project:
    """A project of the caller's organization by name, or any project they read by id."""
    if not name:
        raise NoSuchBucket("no bucket named")
    try:
        return tenancy.resolve_project(session, who, name)
    except NotFound:
        raise NoSuchBucket("bucket {name} not found", name=name) from None


def _sets(session: Session, project_id: str) -> list[tuple[str, str]]:
    rows = session.execute(
        select(DatasetRow.name, DatasetRow.id).where(
            DatasetRow.project_id == project_id, DatasetRow.kind == DATA
        )
    )
    return [(name, id_) for name, id_ in rows]


def _objects(prefix: str, version: DatasetVersionRow) -> list[StoredObject]:
    return [
        StoredObject(
            key=prefix + f.path,
            size=f.size,
            etag=f.digest,
            last_modified=version.created_at,
            chunks=[(c.digest, c.size) for c in f.chunks],
        )
        for f in manifest_of(version).files
    ]


# --- the listing walk ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Level:
    """Keys under `prefix` (a data set's or a version's), read only when walked into."""

    prefix: str
    children: Callable[[], Iterable[_Level | StoredObject]]


@dataclass(frozen=True)
class _Query:
    prefix: str
    delimiter: str
    after: str  # give only keys (and rolled-up prefixes) after this one

    def rolled(self, key: str) -> str | None:
        """The common prefix `key` rolls up into, or None."""
        if not self.delimiter or not key.startswith(self.prefix):
            return None
        at = key.find(self.delimiter, len(self.prefix))
        return None if at < 0 else key[: at + len(self.delimiter)]


def _walk(items: Iterable[_Level | StoredObject], q: _Query) -> Iterator[str | StoredObject]:
    """Objects and common prefixes (str) in key order. Siblings' prefixes never extend each
    other (a name holds no '/'), so ordering the prefixes orders everything under them."""
    for item in sorted(items, key=lambda i: i.prefix if isinstance(i, _Level) else i.key):
        if isinstance(item, StoredObject):
            if item.key.startswith(q.prefix):
                yield q.rolled(item.key) or item
            continue
        top = item.prefix
        if not (top.startswith(q.prefix) or q.prefix.startswith(top)):
            continue
        rolled = q.rolled(top)
        if rolled is not None:
            yield rolled  # everything under `top` rolls up: nothing below is read
        elif not (top < q.after and not q.after.startswith(top)):  # else all of it is before
            yield from _walk(item.children(), q)


def _version_level(session: Session, prefix: str, version_id: str) -> _Level:
    def files() -> list[StoredObject]:
        row = session.get(DatasetVersionRow, version_id)
        return _objects(prefix, row) if row is not None else []

    return _Level(prefix, files)


def _staged_level(session: Session, who: Principal, prefix: str, dataset_id: str) -> _Level:
    def files() -> list[StoredObject]:
        found = s3writes.staged(session, who, dataset_id)
        return [o.model_copy(update={"key": prefix + o.key}) for o in found]

    return _Level(prefix, files)


def _set_level(session: Session, who: Principal, name: str, dataset_id: str, q: _Query) -> _Level:
    """A data set's numbered versions; `latest/` too, where the query asks under it; `new/`
    where the caller has staged files in it."""

    def versions() -> list[_Level]:
        rows = datasets.version_rows(session, dataset_id)
        levels = [_version_level(session, f"{name}/{v.number}/", v.id) for v in rows]
        latest = f"{name}/{LATEST}"
        if rows and (q.prefix.startswith(latest) or q.after.startswith(latest)):
            newest = max(rows, key=lambda v: v.number)
            levels.append(_version_level(session, latest + "/", newest.id))
        if s3writes.has_staged(session, who, dataset_id):
            levels.append(_staged_level(session, who, f"{name}/{s3writes.NEW}/", dataset_id))
        return levels

    return _Level(f"{name}/", versions)


def listing(
    session: Session,
    who: Principal,
    bucket_name: str,
    *,
    prefix: str = "",
    delimiter: str = "",
    after: str = "",
    max_keys: int = MAX_KEYS,
) -> ObjectPage:
    """A page of the bucket's keys after `after`, as S3's ListObjectsV2 gives it."""
    project = bucket(session, who, bucket_name)
    q = _Query(prefix, delimiter, after)
    found: list[StoredObject] = []
    prefixes: list[str] = []
    last: str | None = None
    truncated = False
    sets = [_set_level(session, who, n, i, q) for n, i in _sets(session, project.id)]
    for item in _walk(sets, q):
        name = item if isinstance(item, str) else item.key
        if name <= after or name == last:
            continue
        if len(found) + len(prefixes) >= max_keys:
            truncated = True
            break
        if isinstance(item, str):
            prefixes.append(item)
        else:
            found.append(item)
        last = name
    return ObjectPage(objects=found, prefixes=prefixes, truncated=truncated, last=last)


# --- one object ----------------------------------------------------------------------------


def split_key(key: str) -> tuple[str, str, str] | None:
    """A key's data set, version (a number, `latest` or `new`) and path, or None where the key
    names no file of a data set (the one reading of a key: the S3 routes' and a TES task's
    `s3://` inputs)."""
    parts = key.split("/", 2)
    if len(parts) != 3:
        return None
    name, version, path = parts
    try:
        core.check_name(name)
        core.check_path(path)
    except core.DatasetError:
        return None
    numbered = version.isascii() and version.isdigit() and len(version) < 10
    if version not in (LATEST, s3writes.NEW) and not numbered:
        return None
    return name, version, path


def find(session: Session, who: Principal, bucket_name: str, key: str) -> StoredObject:
    """The object `key` names in the bucket, else NoSuchBucket or NoSuchKey."""
    project = bucket(session, who, bucket_name)
    parts = split_key(key)
    missing = NoSuchKey("no object {key} in bucket {bucket}", key=key, bucket=bucket_name)
    if parts is None:
        raise missing
    name, number, path = parts
    dataset_id = session.scalar(
        select(DatasetRow.id).where(
            DatasetRow.project_id == project.id, DatasetRow.name == name, DatasetRow.kind == DATA
        )
    )
    if dataset_id is None:
        raise missing
    if number == s3writes.NEW:
        staged = s3writes.staged(session, who, dataset_id, path=path)
        if not staged:
            raise missing
        return staged[0].model_copy(update={"key": key})
    if number == LATEST:
        newest = latest_row(session, dataset_id)
        version = numbered_row(session, dataset_id, newest.number) if newest else None
    else:
        version = numbered_row(session, dataset_id, int(number))
    entry = manifest_of(version).find(path) if version is not None else None
    if version is None or entry is None:
        raise missing
    return StoredObject(
        key=key,
        size=entry.size,
        etag=entry.digest,
        last_modified=version.created_at,
        chunks=[(c.digest, c.size) for c in entry.chunks],
    )


RUN = 8 * 1024 * 1024  # bytes read from a pack at once: neighbouring chunks in one read


def read(
    session: Session,
    store: ChunkStore,
    found: StoredObject,
    first: int,
    last: int,
    *,
    counted: Callable[[int], None] = lambda size: None,
) -> Iterator[bytes]:
    """Bytes `first` to `last` (inclusive) of the object: the chunks they touch are located now,
    in this session, and read from the store (each checked against its digest) as the answer
    is sent; `counted` hears of each chunk read, with its size. Chunks that lie end to end in
    one pack (an upload's batch: a file's neighbouring chunks, mostly) are read together, up
    to `RUN` bytes, so a large read costs a few hundred reads, not one per chunk."""
    starts, at = [], 0
    for _, size in found.chunks:
        starts.append(at)
        at += size
    begin = bisect.bisect_right(starts, first) - 1
    end = bisect.bisect_right(starts, last)
    needed = [(found.chunks[i][0], found.chunks[i][1], starts[i]) for i in range(begin, end)]
    where = chunks.places(session, [d for d, _, _ in needed])
    missing = next((d for d, _, _ in needed if d not in where), None)
    if missing is not None:
        raise NotFound("chunk {digest} not found", digest=missing)

    runs: list[list[tuple[str, int, int]]] = []
    for item in needed:
        here = where[item[0]]
        if runs:
            prev = where[runs[-1][-1][0]]
            width = here.offset + here.size - where[runs[-1][0][0]].offset
            if prev.pack == here.pack and prev.offset + prev.size == here.offset and width <= RUN:
                runs[-1].append(item)
                continue
        runs.append([item])

    def stream() -> Iterator[bytes]:
        for run in runs:
            head = where[run[0][0]]
            tail = where[run[-1][0]]
            data = memoryview(
                store.read(head.pack, head.offset, tail.offset + tail.size - head.offset)
            )
            at = 0
            for digest, size, _ in run:
                if core.digest(data[at : at + size]) != digest:
                    raise ChunkCorrupt(
                        f"chunk {digest} in pack {head.pack} does not match its digest"
                    )
                counted(size)
                at += size
            lo = max(first - run[0][2], 0)
            hi = min(last + 1 - run[0][2], len(data))
            yield bytes(data[lo:hi])

    return stream()
