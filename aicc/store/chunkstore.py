"""Where data set chunks live: one interface, a local-disk backend and (s3.py) object storage.

Chunks are immutable and named by their BLAKE3 digest, so a backend needs only has/put/get/
delete, a put of a chunk already there is a no-op, and a write is either whole or absent
(temporary file and rename on disk; a single PUT on S3). Callers check digests before `put`;
`get` checks them again on the way out, so a bit flipped on disk is an error, never wrong data.
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
        """The chunk's bytes, checked against its digest; ChunkMissing or ChunkCorrupt."""
        ...

    def delete(self, digests: Iterable[str]) -> None: ...


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

    def delete(self, digests: Iterable[str]) -> None:
        for d in digests:
            self.path(d).unlink(missing_ok=True)
