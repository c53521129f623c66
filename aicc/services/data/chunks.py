"""Chunks in packs: writing a batch as one stored object, and reading chunks back by digest.

The chunk store holds packs (`store/chunkstore.py`); the `chunks` table says in which pack, at
which offset, each chunk lies. Writers hand a batch of checked chunks to `store_batch`, which
packs the ones the center does not hold yet into one object (one write, one fsync, one PUT);
readers ask `reader` for a `Chunks` over the digests they will need, one query for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.services.common import NotFound, utcnow
from aicc.store.chunkstore import ChunkCorrupt, ChunkStore
from aicc.store.tables.data import ChunkRow

BATCH = 500  # digests per IN (...) query


def batches(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]


@dataclass(frozen=True)
class Place:
    pack: str
    offset: int
    size: int


class Chunks:
    """Chunks by digest, each read from its pack and checked against its digest; the places not
    known beforehand are looked up as they are asked for."""

    def __init__(
        self,
        store: ChunkStore,
        places: dict[str, Place],
        lookup: Callable[[list[str]], dict[str, Place]] | None = None,
    ) -> None:
        self.store = store
        self.places = places
        self.lookup = lookup

    def get(self, digest: str) -> bytes:
        place = self.places.get(digest)
        if place is None and self.lookup is not None:
            self.places.update(self.lookup([digest]))
            place = self.places.get(digest)
        if place is None:
            raise NotFound("chunk {digest} not found", digest=digest)
        data = self.store.read(place.pack, place.offset, place.size)
        if core.digest(data) != digest:
            raise ChunkCorrupt(f"chunk {digest} in pack {place.pack} does not match its digest")
        return data


def places(session: Session, digests: Iterable[str]) -> dict[str, Place]:
    found: dict[str, Place] = {}
    for part in batches(list(dict.fromkeys(digests))):
        rows = session.execute(
            select(ChunkRow.digest, ChunkRow.pack, ChunkRow.offset, ChunkRow.size).where(
                ChunkRow.digest.in_(part)
            )
        )
        found.update({d: Place(p, o, s) for d, p, o, s in rows})
    return found


def pack_sizes(session: Session) -> dict[str, int]:
    """Every pack the index names -> its size as the chunks in it add up (the end of its last
    chunk), by digest: what a backup must copy of the chunk store."""
    sizes = select(ChunkRow.pack, func.max(ChunkRow.offset + ChunkRow.size)).group_by(ChunkRow.pack)
    return {pack: int(size or 0) for pack, size in sorted(session.execute(sizes).all())}


def pack_count(session: Session) -> int:
    """How many packs the index names."""
    return int(session.execute(select(func.count(distinct(ChunkRow.pack)))).scalar_one())


def reader(session: Session, store: ChunkStore, digests: Iterable[str] = ()) -> Chunks:
    """Chunks read through `session`: those of `digests` located at once, others when asked."""
    return Chunks(store, places(session, digests), lambda more: places(session, more))


def insert_new(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert, skipping rows whose key exists (two pushes may bring the same chunk at once)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    else:
        from sqlalchemy.dialects.sqlite import insert as lite_insert

        session.execute(lite_insert(table).on_conflict_do_nothing(), rows)


def store_batch(
    session: Session, store: ChunkStore, batch: Sequence[tuple[str, bytes | memoryview]]
) -> int:
    """Keep the chunks of `batch` (digests already checked) that the center lacks, as one pack;
    returns the bytes newly stored."""
    known = set(places(session, [d for d, _ in batch]))
    new: dict[str, bytes | memoryview] = {}
    for name, data in batch:
        if name not in known:
            new.setdefault(name, data)
    if not new:
        return 0
    pack = b"".join(new.values())
    name = core.digest(pack)
    store.put(name, pack)
    now, offset, rows = utcnow(), 0, []
    for digest, data in new.items():
        rows.append(
            {"digest": digest, "size": len(data), "pack": name, "offset": offset, "created_at": now}
        )
        offset += len(data)
    insert_new(session, ChunkRow.__table__, rows)
    return len(pack)
