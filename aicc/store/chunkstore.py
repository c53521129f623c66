"""Where data set chunks live: one interface, a local-disk backend and (s3.py) object storage.

The store holds immutable objects named by the BLAKE3 digest of their bytes: **packs**, each the
chunks one upload batch brought, laid end to end (the database indexes which chunk lies where:
`ChunkRow.pack`, `.offset`). Packing is what keeps 100,000 small files from becoming 100,000
objects, fsyncs and PUTs. A backend needs only has/put/get/read/delete; a put of an object
already there is a no-op, and a write is whole or absent (temporary file, fsync and rename on
disk; a single PUT on S3). `get` checks the object against its name; `read` returns a range
unchecked, and its caller checks the chunk's own digest, so a flipped bit is an error, never
wrong data.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from aicc.core.datasets import DIGEST, digest


class ChunkMissing(KeyError):
    """The store has no chunk of that digest."""


class ChunkCorrupt(RuntimeError):
    """A stored chunk no longer matches its digest."""


class ChunkStoreError(RuntimeError):
    """The store cannot be reached or refuses (network, credentials, bucket); the message names
    the endpoint and what to check. Services answer it with a 503: the request was fine."""


class ChunkStore(Protocol):
    name: str

    def has(self, digests: Iterable[str]) -> set[str]:
        """The digests among these that the store holds."""
        ...

    def put(self, digest: str, data: bytes) -> None: ...

    def get(self, digest: str) -> bytes:
        """The object's bytes, checked against its digest; ChunkMissing or ChunkCorrupt."""
        ...

    def read(self, digest: str, offset: int, length: int) -> bytes:
        """`length` bytes of the object from `offset` (unchecked); ChunkMissing."""
        ...

    def delete(self, digests: Iterable[str]) -> None: ...


class ChunkSource(Protocol):
    """Chunks by their digest, checked: what readers of a version's files need. A reader over
    packs (`services.data.chunks.Chunks`) is one; so is a store whose objects are chunks."""

    def get(self, digest: str) -> bytes: ...


def checked(name: str, data: bytes) -> bytes:
    if digest(data) != name:
        raise ChunkCorrupt(f"chunk {name} does not match its digest")
    return data


def _valid(name: str) -> str:
    if not DIGEST.match(name):
        raise ValueError(f"{name!r} is not a chunk digest (64 lowercase hex characters)")
    return name


class LocalChunks:
    """Chunks as files under `root/ab/cd/<digest>`."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        _valid(name)
        return self.root / name[:2] / name[2:4] / name

    def has(self, digests: Iterable[str]) -> set[str]:
        return {d for d in digests if self.path(d).exists()}

    def put(self, digest: str, data: bytes) -> None:
        target = self.path(digest)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, digest: str) -> bytes:
        try:
            return checked(digest, self.path(digest).read_bytes())
        except FileNotFoundError:
            raise ChunkMissing(digest) from None

    def read(self, digest: str, offset: int, length: int) -> bytes:
        try:
            with open(self.path(digest), "rb") as fh:
                fh.seek(offset)
                data = fh.read(length)
        except FileNotFoundError:
            raise ChunkMissing(digest) from None
        if len(data) != length:
            raise ChunkCorrupt(f"object {digest} is shorter than {offset + length} bytes")
        return data

    def delete(self, digests: Iterable[str]) -> None:
        for d in digests:
            self.path(d).unlink(missing_ok=True)
