"""Pack a job's working directory into a deterministic .tar.gz for upload.

The server stores working directories by the sha256 of the archive bytes, so the same tree must
always give the same bytes: entries are sorted, times, owners and modes are normalised, and the
gzip header carries no name or time. What git would not commit (``.gitignore``, root and nested)
and what ``.aiccignore`` lists is left out, as are environments and caches that never belong in
a job (``.git``, ``.venv``, ``node_modules``...).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, cast

import pathspec

__all__ = ["ALWAYS_SKIPPED", "PackedWorkdir", "WorkdirTooLarge", "pack_workdir"]

#: Entry names never packed, at any depth: VCS data, virtualenvs, package caches, AICC state.
ALWAYS_SKIPPED = frozenset({".git", "__pycache__", ".venv", "venv", "node_modules", ".aicc"})
#: Ignore files read in every directory; within one directory .aiccignore lines come last, so
#: they can override .gitignore (``!data/small.csv`` re-includes a git-ignored file).
IGNORE_FILES = (".gitignore", ".aiccignore")

_CHUNK = 1024 * 1024
_GZIP_LEVEL = 6


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class WorkdirTooLarge(ValueError):
    """The files to pack exceed the upload limit; raised before anything is written."""

    def __init__(self, root: Path, size: int, limit: int, largest: Sequence[tuple[str, int]]):
        self.root = root
        self.size = size
        self.limit = limit
        self.largest = list(largest)
        hint = ", ".join(f"{name} ({_human(n)})" for name, n in self.largest)
        super().__init__(
            f"working directory {root} holds {_human(size)} of files, over the "
            f"{_human(limit)} limit; add large or generated paths to .gitignore or .aiccignore"
            + (f" (largest: {hint})" if hint else "")
        )


@dataclass(frozen=True)
class PackedWorkdir:
    """A packed working directory. ``path`` is a temporary file the caller must delete."""

    path: Path
    sha256: str
    size: int
    files: int
    raw_bytes: int


@dataclass(frozen=True)
class _Entry:
    arcname: str
    path: Path
    kind: Literal["file", "dir", "symlink"]
    size: int = 0
    executable: bool = False
    linkname: str = ""


class _Rules:
    """The ignore specs of one directory and its ancestors, shallowest first.

    Git semantics: each file's patterns are relative to its directory, and the last matching
    pattern wins, deeper files being consulted after shallower ones.
    """

    def __init__(self, layers: tuple[tuple[str, pathspec.GitIgnoreSpec], ...] = ()) -> None:
        self.layers = layers

    def descend(self, directory: Path, prefix: str) -> _Rules:
        lines: list[str] = []
        for name in IGNORE_FILES:
            candidate = directory / name
            # lstat: a symlinked ignore file could point anywhere; only read real files.
            try:
                if not stat.S_ISREG(candidate.lstat().st_mode):
                    continue
            except FileNotFoundError:
                continue
            lines.extend(candidate.read_text(encoding="utf-8", errors="replace").splitlines())
        if not lines:
            return self
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
        return _Rules((*self.layers, (prefix, spec)))

    def ignored(self, arcname: str, is_dir: bool) -> bool:
        verdict: bool | None = None
        for prefix, spec in self.layers:
            relative = arcname[len(prefix) :] + ("/" if is_dir else "")
            result = spec.check_file(relative)
            if result.include is not None:
                verdict = result.include
        return bool(verdict)


def _link_target(path: Path, arcname: str, root: Path) -> str | None:
    """The linkname to store for symlink ``path``, or None when it points outside ``root``.

    Targets stay as written when they are relative and lexically inside the tree; otherwise
    (absolute, or climbing out and back in) they are rewritten relative to the link's directory
    so the archive never carries an absolute or escaping link.
    """
    resolved = Path(os.path.realpath(path))
    if not resolved.is_relative_to(root):
        return None
    target = os.readlink(path)
    parent = os.path.dirname(arcname)
    lexical = os.path.normpath(os.path.join(parent, target))
    if not os.path.isabs(target) and lexical != ".." and not lexical.startswith("../"):
        return target
    return os.path.relpath(resolved, path.parent)


def _scan(root: Path) -> list[_Entry]:
    """Every entry to pack, in archive order (sorted by name, parents before children)."""
    entries: list[_Entry] = []

    def walk(directory: Path, prefix: str, rules: _Rules) -> None:
        rules = rules.descend(directory, prefix)
        with os.scandir(directory) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            if child.name in ALWAYS_SKIPPED:
                continue
            arcname = prefix + child.name
            path = directory / child.name
            try:
                st = child.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed while we were scanning
                continue
            if stat.S_ISLNK(st.st_mode):
                if rules.ignored(arcname, is_dir=False):
                    continue
                linkname = _link_target(path, arcname, root)
                if linkname is not None:
                    entries.append(_Entry(arcname, path, "symlink", linkname=linkname))
            elif stat.S_ISDIR(st.st_mode):
                if rules.ignored(arcname, is_dir=True):
                    continue
                entries.append(_Entry(arcname, path, "dir"))
                walk(path, arcname + "/", rules)
            elif stat.S_ISREG(st.st_mode):
                if rules.ignored(arcname, is_dir=False):
                    continue
                executable = bool(st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
                entries.append(_Entry(arcname, path, "file", st.st_size, executable))
            # sockets, FIFOs and device files are never packed

    walk(root, "", _Rules())
    return entries


def _largest(entries: list[_Entry], count: int = 3) -> list[tuple[str, int]]:
    """Top-level entries by raw bytes, to point the user at what to ignore."""
    totals: dict[str, int] = {}
    for entry in entries:
        head, sep, _ = entry.arcname.partition("/")
        if entry.kind == "file":
            key = head + "/" if sep else head
            totals[key] = totals.get(key, 0) + entry.size
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [item for item in ranked[:count] if item[1] > 0]


def _tarinfo(entry: _Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.arcname)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.mode = 0o777
        info.linkname = entry.linkname
    else:
        info.type = tarfile.REGTYPE
        info.mode = 0o755 if entry.executable else 0o644
        info.size = entry.size
    return info


class _HashingWriter:
    """File-like sink that hashes and counts the archive bytes on their way to disk."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


class _ProgressReader:
    """Reads one file for tarfile, reporting ``base + bytes read`` at most once per MiB."""

    def __init__(
        self, raw: IO[bytes], progress: Callable[[int, int], None], base: int, total: int
    ) -> None:
        self.raw = raw
        self.progress = progress
        self.base = base
        self.total = total
        self.read_bytes = 0
        self.reported = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.read_bytes += len(data)
        if self.read_bytes - self.reported >= _CHUNK:
            self.reported = self.read_bytes
            self.progress(self.base + self.read_bytes, self.total)
        return data


def pack_workdir(
    root: Path,
    *,
    max_bytes: int = 512 * 1024 * 1024,
    progress: Callable[[int, int], None] | None = None,
) -> PackedWorkdir:
    """Pack ``root`` into a temporary, deterministic .tar.gz and return its digest and sizes.

    Contract: regular files, directories and symlinks that resolve inside ``root`` are packed
    (other symlinks, sockets, FIFOs and devices are skipped); ignore files are honoured; modes are
    normalised to 0644/0755 (the executable bit is kept), mtimes to 0, owners to root with no
    names. If the raw file bytes exceed ``max_bytes``, WorkdirTooLarge is raised before the
    archive is created. ``progress(done, total)`` gets raw bytes: once with 0 before the first
    file, as data is read, and after every file, the last call having ``done == total``.
    ``files`` counts regular files and symlinks. The caller owns and deletes ``path``.
    """
    root = Path(os.path.realpath(root))
    if not root.is_dir():
        raise NotADirectoryError(f"working directory {root} is not a directory")
    entries = _scan(root)
    total = sum(entry.size for entry in entries if entry.kind == "file")
    if total > max_bytes:
        raise WorkdirTooLarge(root, total, max_bytes, _largest(entries))

    fd, name = tempfile.mkstemp(prefix="aicc-workdir-", suffix=".tar.gz")
    archive = Path(name)
    done = 0
    try:
        with os.fdopen(fd, "wb") as raw:
            sink = _HashingWriter(raw)
            gz_target = cast(IO[bytes], sink)
            with (
                gzip.GzipFile(
                    filename="", mode="wb", fileobj=gz_target, compresslevel=_GZIP_LEVEL, mtime=0
                ) as gz,
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                if progress is not None:
                    progress(0, total)
                for entry in entries:
                    info = _tarinfo(entry)
                    if entry.kind != "file":
                        tar.addfile(info)
                        continue
                    with entry.path.open("rb") as fh:
                        source: IO[bytes] = fh
                        if progress is not None:
                            reader = _ProgressReader(fh, progress, done, total)
                            source = cast(IO[bytes], reader)
                        # tarfile copies exactly info.size bytes and raises if the file shrank.
                        tar.addfile(info, source)
                    done += entry.size
                    if progress is not None:
                        progress(done, total)
    except BaseException:
        archive.unlink(missing_ok=True)
        raise
    return PackedWorkdir(
        path=archive,
        sha256=sink.digest.hexdigest(),
        size=sink.size,
        files=sum(1 for entry in entries if entry.kind != "dir"),
        raw_bytes=total,
    )
