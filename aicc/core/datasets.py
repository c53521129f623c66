"""Data sets as values: references, names, safe paths, chunking and manifests.

A version of a data set is a manifest: its files, each a list of chunks. Chunks are cut by
content (FastCDC), so an edit moves only the chunks around it, and named by their BLAKE3 digest,
so identical content is stored once. A file's digest is the digest of its chunk list, and a
manifest's digest the digest of its canonical JSON: two pushes of the same tree agree on both
without reading anything twice. Pure: callers read the bytes and hand them in.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import blake3
from pyfastcdc.cy import FastCDC

Visibility = Literal["private", "org", "public"]
VISIBILITIES: tuple[Visibility, ...] = ("private", "org", "public")

NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
DIGEST = re.compile(r"^[0-9a-f]{64}$")
MAX_PATH_CHARS = 1024
MAX_FILES = 1_000_000

# Chunk sizes: 256 KiB on average keeps a 1% edit of a large file at about 1.5% more bytes
# stored (1 MiB gave 2.4%: each edit rewrites the chunks around it); chunks are packed per
# upload batch, so smaller chunks cost index rows, not objects. Files under the minimum are one
# chunk.
MIN_CHUNK = 64 * 1024
AVG_CHUNK = 256 * 1024
MAX_CHUNK = 1024 * 1024
_CDC = FastCDC(avg_size=AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)


class DatasetError(ValueError):
    """A reference, name, path or manifest that cannot be used; the message says why."""


@dataclass(frozen=True)
class Ref:
    """`NAME@VERSION`, `NAME` (the latest) or `ORG/PROJECT/NAME@VERSION`."""

    name: str
    version: int | None = None
    org: str | None = None
    project: str | None = None

    def __str__(self) -> str:
        where = f"{self.org}/{self.project}/" if self.org else ""
        return f"{where}{self.name}" + (f"@{self.version}" if self.version else "")


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise DatasetError(
            f"data set name {name!r}: lower-case letters, digits, '.', '_' and '-', starting "
            "and ending with a letter or digit, at most 64 characters"
        )
    return name


def parse_ref(text: str) -> Ref:
    """Parse a reference as the job spec and the CLI write it."""
    base, at, version = text.strip().partition("@")
    number: int | None = None
    if at:
        if not (version.isascii() and version.isdigit()) or int(version) < 1:
            raise DatasetError(f"{text!r}: the version after '@' is a whole number from 1")
        number = int(version)
    parts = base.split("/")
    if len(parts) == 1:
        return Ref(check_name(parts[0]), number)
    if len(parts) == 3 and all(parts):
        return Ref(check_name(parts[2]), number, org=parts[0], project=parts[1])
    raise DatasetError(f"{text!r}: write NAME, NAME@VERSION or ORG/PROJECT/NAME@VERSION")


def check_path(path: str) -> str:
    """A file's path inside a data set: relative, '/'-separated, never leaving the set."""
    parts = path.split("/")
    if (
        not path
        or len(path) > MAX_PATH_CHARS
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise DatasetError(
            f"path {path[:200]!r}: a relative path inside the data set ('a/b.csv'), without "
            "'..', '.', empty parts, a leading '/' or backslashes"
        )
    return path


def digest(data: bytes | memoryview) -> str:
    return blake3.blake3(data, max_threads=1).hexdigest()


@dataclass(frozen=True)
class Chunk:
    digest: str
    size: int


def cut(data: bytes | memoryview) -> list[Chunk]:
    """The chunks of one file's bytes (a memory map serves for large files)."""
    if len(data) == 0:
        return []
    view = memoryview(data)
    return [
        Chunk(digest(view[c.offset : c.offset + c.length]), c.length) for c in _CDC.cut_buf(view)
    ]


def pieces(data: bytes) -> list[tuple[Chunk, bytes]]:
    """Each chunk of `data` with its bytes, for those who send or store them."""
    found, at = [], 0
    for c in cut(data):
        found.append((c, data[at : at + c.size]))
        at += c.size
    return found


# A batch of chunks on the wire: per chunk its digest (64 ASCII hex), its size (8 bytes, big
# endian), then its bytes.
FRAME = struct.Struct(">64sQ")


def frame(chunks: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    for name, data in chunks:
        yield FRAME.pack(name.encode(), len(data))
        yield data


def unframe(body: bytes) -> list[tuple[str, memoryview]]:
    """The chunks of a batch, their digests and sizes well formed (not yet checked)."""
    view, out, at = memoryview(body), [], 0
    while at < len(view):
        if at + FRAME.size > len(view):
            raise DatasetError(f"chunk batch: a header is cut short at byte {at}")
        raw, size = FRAME.unpack_from(view, at)
        at += FRAME.size
        name = raw.decode("ascii", "replace")
        if not DIGEST.match(name) or not 0 < size <= MAX_CHUNK:
            raise DatasetError(
                f"chunk batch: each chunk is a 64-hex digest and 1..{MAX_CHUNK} bytes"
            )
        if at + size > len(view):
            raise DatasetError(f"chunk batch: chunk {name} is cut short")
        out.append((name, view[at : at + size]))
        at += size
    return out


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    chunks: tuple[Chunk, ...]

    @property
    def digest(self) -> str:
        """Content identity: the digest of the chunk list (an empty file has one too)."""
        return digest("".join(c.digest for c in self.chunks).encode())


@dataclass(frozen=True)
class Manifest:
    """A version's files, sorted by path."""

    files: tuple[FileEntry, ...]

    @staticmethod
    def of(files: Iterable[FileEntry]) -> Manifest:
        ordered = sorted(files, key=lambda f: f.path)
        paths = [f.path for f in ordered]
        if len(set(paths)) != len(paths):
            raise DatasetError("a path appears twice in the manifest")
        folders = {p[:i] for p in paths for i, ch in enumerate(p) if ch == "/"}
        clash = next((p for p in paths if p in folders), None)
        if clash:
            raise DatasetError(f"{clash!r} is both a file and a directory in the manifest")
        return Manifest(tuple(ordered))

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def chunk_sizes(self) -> dict[str, int]:
        """Each distinct chunk once."""
        return {c.digest: c.size for f in self.files for c in f.chunks}

    def find(self, path: str) -> FileEntry | None:
        return next((f for f in self.files if f.path == path), None)

    def to_json(self) -> dict[str, object]:
        return {
            "files": [
                {"path": f.path, "size": f.size, "chunks": [[c.digest, c.size] for c in f.chunks]}
                for f in self.files
            ]
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True).encode()

    @property
    def digest(self) -> str:
        return digest(self.encode())

    @staticmethod
    def from_json(doc: object) -> Manifest:
        """Validate a manifest from a client: every path safe, every size the sum of its
        chunks, every digest well formed."""
        files = doc.get("files") if isinstance(doc, dict) else None
        if not isinstance(files, list):
            raise DatasetError("manifest: an object with a 'files' list")
        if len(files) > MAX_FILES:
            raise DatasetError(f"manifest: at most {MAX_FILES} files")
        entries = []
        for i, f in enumerate(files):
            if not isinstance(f, dict) or not isinstance(f.get("path"), str):
                raise DatasetError(f"manifest file {i}: an object with path, size and chunks")
            path = check_path(f["path"])
            size, chunks = f.get("size"), f.get("chunks")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise DatasetError(f"manifest {path!r}: size is a whole number of bytes")
            if not isinstance(chunks, list):
                raise DatasetError(f"manifest {path!r}: chunks is a list of [digest, size]")
            parsed = []
            for c in chunks:
                if (
                    not isinstance(c, list)
                    or len(c) != 2
                    or not isinstance(c[0], str)
                    or not DIGEST.match(c[0])
                    or not isinstance(c[1], int)
                    or isinstance(c[1], bool)
                    or not 0 < c[1] <= MAX_CHUNK
                ):
                    raise DatasetError(
                        f"manifest {path!r}: each chunk is [64 hex digest, size 1..{MAX_CHUNK}]"
                    )
                parsed.append(Chunk(c[0], c[1]))
            if sum(c.size for c in parsed) != size:
                raise DatasetError(f"manifest {path!r}: size is not the sum of its chunks")
            entries.append(FileEntry(path, size, tuple(parsed)))
        return Manifest.of(entries)


@dataclass(frozen=True)
class FileDiff:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]


def diff_files(old: Manifest, new: Manifest) -> FileDiff:
    before = {f.path: f.digest for f in old.files}
    after = {f.path: f.digest for f in new.files}
    return FileDiff(
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(sorted(p for p in before.keys() & after.keys() if before[p] != after[p])),
    )
