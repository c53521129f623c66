"""Content-addressed storage of uploaded working directories (.tar.gz blobs).

Blobs live at ``root/<sha[:2]>/<sha>.tar.gz``. Uploads are streamed to a temporary file under
``root/tmp`` while hashed, checked (size limit, digest, archive safety) and only then renamed into
place, so a blob that exists is always complete and valid, and identical uploads are stored once.
Archives come from users, so every member is checked before anything is extracted, and extraction
runs through tarfile's ``data`` filter as a second line of defence.

An archive is read to its end before it is kept (issue 35): gzip's trailer (CRC and length) must
be there and match, and the tar must end with its two zero blocks, so a cut-short upload is
refused with that reason instead of unpacking to fewer files. Member names are checked in the
raw headers, where tarfile would cut a name at its first NUL byte ("a\0b" read as "a").
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobError", "BlobStore", "check_archive", "extract"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHARD = re.compile(r"[0-9a-f]{2}")
_CHUNK = 1024 * 1024
_MAX_LINK_DEPTH = 40
_ARCHIVE_ERRORS = (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error)
_BLOCK = tarfile.BLOCKSIZE
_MAX_HEADERS = 1024 * 1024  # the headers of one member (long names, pax records) at most


class BlobError(ValueError):
    """A blob or its archive is unacceptable: not a tar.gz, unsafe, wrong digest, too large."""


def _check_sha(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex chars; it is used to build paths."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise BlobError(f"{sha256!r} is not a sha256 digest (64 lowercase hex characters)")
    return sha256


def _parts(name: str) -> list[str]:
    """Components of a member name; raises on absolute names and on any '..'."""
    if not name or "\x00" in name:
        raise BlobError(f"unsafe path {name!r} in archive: empty or NUL")
    if name.startswith("/"):
        raise BlobError(f"unsafe path {name!r} in archive: absolute")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise BlobError(f"unsafe path {name!r} in archive: contains '..'")
    return parts


class _Tree:
    """The archive's namespace as extraction would build it, for resolving links before any
    byte is written: links may only point inside the tree, and nothing may be written through
    a symlink (which is how chained-link escapes work)."""

    def __init__(self) -> None:
        self.kinds: dict[str, str] = {}
        self.links: dict[str, str] = {}

    def resolve(self, parts: list[str], depth: int = 0) -> list[str]:
        """Resolve ``parts`` (may contain '..') against the tree; raise if it leaves the root."""
        if depth > _MAX_LINK_DEPTH:
            raise BlobError("unsafe link in archive: too many levels of symbolic links")
        resolved: list[str] = []
        for part in parts:
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    raise BlobError("unsafe link in archive: points outside the archive")
                resolved.pop()
                continue
            resolved.append(part)
            target = self.links.get("/".join(resolved))
            if target is not None:
                resolved = self.resolve(resolved[:-1] + target.split("/"), depth + 1)
        return resolved

    def add(self, member: tarfile.TarInfo) -> None:
        parts = _parts(member.name)
        key = "/".join(parts)
        for i in range(1, len(parts)):
            parent = self.kinds.get("/".join(parts[:i]))
            if parent == "symlink":
                raise BlobError(f"unsafe path {member.name!r} in archive: goes through a symlink")
            if parent == "file":
                raise BlobError(f"bad path {member.name!r} in archive: its parent is a file")
        if not parts and not member.isdir():
            raise BlobError(f"unsafe path {member.name!r} in archive: the root must be a dir")
        previous = self.kinds.get(key)
        if previous is not None and not (previous == "dir" and member.isdir()):
            raise BlobError(f"unsafe path {member.name!r} in archive: duplicate entry")
        if member.issym():
            link = member.linkname
            if not link or link.startswith("/"):
                raise BlobError(f"unsafe link {member.name!r} -> {link!r}: absolute or empty")
            self.resolve(parts[:-1] + link.split("/"))
            self.links[key] = link
            self.kinds[key] = "symlink"
        elif member.islnk():
            target = "/".join(_parts(member.linkname))
            if self.kinds.get(target) != "file":
                raise BlobError(
                    f"unsafe hard link {member.name!r} -> {member.linkname!r}: "
                    "target is not an earlier file in the archive"
                )
            self.kinds[key] = "file"
        elif member.isdir():
            self.kinds[key] = "dir"
        elif member.isreg():
            self.kinds[key] = "file"
        else:
            raise BlobError(f"unsafe entry {member.name!r} in archive: not a file, dir or link")


def _validate(
    members: Iterable[tarfile.TarInfo],
    max_unpacked_bytes: int | None,
    max_members: int | None = None,
    links: bool = True,
) -> list[tarfile.TarInfo]:
    """Check each member as it is read (so a bomb stops at its first header past a limit) and
    return them all. `links`: symbolic and hard links inside the tree are allowed (a workdir),
    else refused (files and folders only)."""
    tree = _Tree()
    unpacked = 0
    checked = []
    for member in members:
        checked.append(member)
        if max_members is not None and len(checked) > max_members:
            raise BlobError(f"archive has more than the limit of {max_members} files and dirs")
        if not links and (member.issym() or member.islnk()):
            raise BlobError(
                f"archive member {member.name[:200]!r} is a link to {member.linkname[:200]!r}: "
                "only files and folders may be here"
            )
        tree.add(member)
        if member.isreg():
            unpacked += member.size
            if max_unpacked_bytes is not None and unpacked > max_unpacked_bytes:
                raise BlobError(f"archive unpacks to more than the {max_unpacked_bytes} byte limit")
    return checked


def _raw_name(field: bytes, where: str) -> None:
    """A name field as stored: what follows its first NUL must be NUL padding, else tarfile
    reads a shorter name than the one written."""
    head, nul, rest = field.partition(b"\0")
    if nul and rest.strip(b"\0"):
        shown = (head + b"\\0" + rest.rstrip(b"\0")).decode("utf-8", "replace")
        raise BlobError(
            f"archive member {shown!r} has a NUL byte in its {where}; no file can be named so: "
            "rename it and pack the archive again"
        )


def _octal(field: bytes) -> int:
    """A header's size field (octal digits; the base-256 form never sizes a name)."""
    try:
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        raise BlobError("archive has a header whose size is not a number") from None


def _check_headers(stream: gzip.GzipFile, members: list[tarfile.TarInfo]) -> None:
    """Every header block of every member (GNU long names included), read raw from `stream`
    (the uncompressed tar), checked with `_raw_name`."""
    for member in members:
        length = member.offset_data - member.offset
        if length > _MAX_HEADERS:
            raise BlobError(f"archive member {member.name[:200]!r} has over 1 MiB of headers")
        stream.seek(member.offset)
        raw = stream.read(length)
        at = 0
        while at + _BLOCK <= len(raw):
            block = raw[at : at + _BLOCK]
            kind = block[156:157]
            _raw_name(block[0:100], "name")
            _raw_name(block[157:257], "link target")
            if block[257:263] == tarfile.POSIX_MAGIC[:6]:
                _raw_name(block[345:500], "name prefix")
            at += _BLOCK
            if kind not in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, b"x", b"g"):
                break
            size = _octal(block[124:136])
            if kind in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
                _raw_name(raw[at : at + size], "long name")
            at += -(-size // _BLOCK) * _BLOCK


def _check_whole(stream: gzip.GzipFile, end: int, last: str) -> None:
    """The tar's two zero blocks at `end`, then the stream read to its end (gzip checks its
    CRC and length there): an archive cut short anywhere is refused."""
    stream.seek(end)
    marker = stream.read(2 * _BLOCK)
    if len(marker) < 2 * _BLOCK or marker.strip(b"\0"):
        raise BlobError(
            f"the archive is cut short after member {last!r}: it lacks tar's end-of-archive "
            "blocks; upload the whole file again"
        )
    while stream.read(_CHUNK):
        pass


def check_archive(
    path: Path,
    *,
    max_unpacked_bytes: int | None,
    max_members: int | None,
    links: bool = True,
) -> None:
    """The whole tar.gz at `path` read once: its members (`_validate`: names, links, limits),
    raw names (no NUL), and its end (not cut short). BlobError says what is wrong."""
    try:
        with gzip.open(path, "rb") as stream:
            with tarfile.open(fileobj=stream, mode="r:") as tar:
                members = _validate(tar, max_unpacked_bytes, max_members, links)
                end = tar.offset
            last = members[-1].name if members else "(none)"
            _check_whole(stream, end, last)
            _check_headers(stream, members)
    except _ARCHIVE_ERRORS as exc:
        if isinstance(exc, EOFError) or "unexpected end" in str(exc):
            raise BlobError(
                f"the archive is cut short ({exc}); upload the whole file again"
            ) from exc
        raise BlobError(f"not a valid tar.gz archive: {exc}") from exc


def extract(
    path: Path,
    dest: Path,
    *,
    max_unpacked_bytes: int | None,
    max_members: int | None,
    links: bool = True,
) -> None:
    """Unpack the tar.gz at `path` into `dest`, which must not exist: `check_archive` first,
    then each member checked again as it is extracted, through tarfile's `data` filter. On any
    failure `dest` is removed and BlobError (or the OSError) raised."""
    check_archive(path, max_unpacked_bytes=max_unpacked_bytes, max_members=max_members, links=links)
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            tar.errorlevel = 1
            members = _validate(tar, max_unpacked_bytes, max_members, links)
            dest.mkdir(parents=True)
            tar.extractall(dest, members=members, filter="data")
    except BaseException as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(exc, _ARCHIVE_ERRORS):
            raise BlobError(f"cannot extract {path.name}: {exc}") from exc
        raise


class BlobStore:
    """Working-directory archives stored by sha256 under ``root``.

    Safe for concurrent use by several processes on one filesystem: writes go through a
    temporary file and an atomic rename, and a blob is immutable once in place.
    `max_unpacked_bytes` and `max_members` bound what an archive may unpack to; both are
    checked when it is stored and again when it is extracted (limits may have been lowered
    since, and a replica's disk is not the server's).
    """

    def __init__(
        self, root: Path, *, max_unpacked_bytes: int | None = None, max_members: int | None = None
    ) -> None:
        self.max_unpacked_bytes = max_unpacked_bytes
        self.max_members = max_members
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(exist_ok=True)

    def _path(self, sha256: str) -> Path:
        _check_sha(sha256)
        return self.root / sha256[:2] / f"{sha256}.tar.gz"

    def path(self, sha256: str) -> Path:
        """Where the blob lies (it may not exist): for a backup to stream it from."""
        return self._path(sha256)

    def put(
        self,
        data: BinaryIO,
        *,
        expected_sha256: str | None = None,
        max_bytes: int,
        max_unpacked_bytes: int | None = None,
    ) -> tuple[str, int]:
        """Store the tar.gz read from ``data``; return ``(sha256, size)``.

        Raises BlobError when the stream exceeds ``max_bytes`` (reading stops there), when the
        digest differs from ``expected_sha256``, when it is not a tar.gz, when any member is
        unsafe (see ``materialize``), when its files total more than ``max_unpacked_bytes``
        (default: the store's) or when it has more members than the store's ``max_members``.
        Storing a blob that already exists keeps the existing file.
        """
        if expected_sha256 is not None:
            _check_sha(expected_sha256)
        fd, name = tempfile.mkstemp(dir=self._tmp, suffix=".part")
        tmp = Path(name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := data.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise BlobError(f"archive is larger than the {max_bytes} byte limit")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise BlobError(f"digest mismatch: expected {expected_sha256}, received {sha256}")
            self._check_archive(tmp, max_unpacked_bytes or self.max_unpacked_bytes)
            final = self._path(sha256)
            if final.exists():  # same digest, same bytes: keep the stored one
                tmp.unlink()
                return sha256, size
            final.parent.mkdir(exist_ok=True)
            os.chmod(tmp, 0o600)  # the tenant's upload: the server's account alone
            os.replace(tmp, final)
            return sha256, size
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _check_archive(self, path: Path, max_unpacked_bytes: int | None) -> None:
        check_archive(path, max_unpacked_bytes=max_unpacked_bytes, max_members=self.max_members)

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        return self._path(sha256).is_file()

    def size(self, sha256: str) -> int:
        """Stored size in bytes; FileNotFoundError if absent."""
        return self._path(sha256).stat().st_size

    def read(self, sha256: str) -> bytes:
        """The stored archive's bytes; FileNotFoundError if absent."""
        return self._path(sha256).read_bytes()

    def materialize(self, sha256: str, dest: Path) -> None:
        """Extract the blob into ``dest``, which must not exist or be an empty directory.

        Every member is checked before anything is written: no absolute paths, no '..', no
        symlink resolving outside ``dest`` (chains included), no writing through a symlink, hard
        links only to earlier files, no devices or FIFOs, no more than the store's limits of
        unpacked bytes and members. Extraction then uses tarfile's
        ``data`` filter. On any failure BlobError (or the OSError) is raised and what was
        extracted is removed; FileNotFoundError if the blob is absent.
        """
        blob = self._path(sha256)
        if not blob.is_file():
            raise FileNotFoundError(f"blob {sha256} is not stored")
        dest = Path(dest)
        if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
            raise FileExistsError(f"{dest} exists and is not an empty directory")
        created = not dest.exists()
        self._check_archive(blob, self.max_unpacked_bytes)  # kept before these checks, maybe
        try:
            with tarfile.open(blob, mode="r:gz") as tar:
                tar.errorlevel = 1
                members = _validate(tar, self.max_unpacked_bytes, self.max_members)
                dest.mkdir(parents=True, exist_ok=True)
                tar.extractall(dest, members=members, filter="data")
        except BaseException as exc:
            if created:
                shutil.rmtree(dest, ignore_errors=True)
            elif dest.is_dir():
                for child in dest.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
            if isinstance(exc, _ARCHIVE_ERRORS):
                raise BlobError(f"cannot extract blob {sha256}: {exc}") from exc
            raise

    def delete(self, sha256: str) -> None:
        """Remove the blob; deleting an absent blob is not an error."""
        self._path(sha256).unlink(missing_ok=True)

    def total_bytes(self) -> int:
        """Bytes held by stored blobs (temporary uploads excluded)."""
        total = 0
        for shard in self.root.iterdir():
            if not (_SHARD.fullmatch(shard.name) and shard.is_dir()):
                continue
            for blob in shard.iterdir():
                stem = blob.name.removesuffix(".tar.gz")
                if blob.name.endswith(".tar.gz") and _SHA256.fullmatch(stem) and blob.is_file():
                    total += blob.stat().st_size
        return total
