"""The one reader of what a job wrote: its outputs, metrics, reports and logs.

A job writes its `$AICC_OUTPUT_DIR` (and, without a sandbox, its run directory) as it likes, and
the server reads them with its own rights. So a name there is hostile: a symbolic link to
`$AICC_HOME` or another tenant's outputs, a hard link to a file the job could see, a FIFO whose
reader blocks until someone writes, a socket or a device, a sparse file of terabytes, a million
empty files. Every read of job-written files in the server, its loops and the portal goes through
this module, which

- resolves each name inside the job's own root, component by component from a directory fd
  (`openat` with `O_NOFOLLOW`): `..`, absolute paths and a symbolic link at any component are
  refused, so no name leaves the root whatever the job renames meanwhile;
- opens with `O_NONBLOCK` and checks the type on the opened fd (`fstat`), never on the name
  before opening: only regular files with one name (`st_nlink == 1`) and folders are read;
  nothing it does can block on a FIFO;
- caps the bytes of one file, the bytes and the entries (files and folders) of a tree, and its
  depth (`Limits`; the module's defaults below).

Every refusal is one `Refused`, carrying an English template with `{name}` placeholders (as
services' errors do, so the portal translates it) and the HTTP status the API answers with (422
for what may not be there, 413 for too big or too many); `services/jobs/logs.py` turns it into the
service error. A missing file stays `FileNotFoundError`: a job that has not written it yet.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

GiB = 1024**3

#: One file of a job's outputs (a checkpoint a model version is made of: read a block at a time).
MAX_FILE_BYTES = 4 * GiB
#: All the files under a root (a model or data set version is made of them).
MAX_TOTAL_BYTES = 256 * GiB
#: Files and folders under a root: a workdir archive may have as many members (limits).
MAX_ENTRIES = 100_000
#: Folders within folders under a root.
MAX_DEPTH = 64

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

LINK = "{path} is a symbolic link: a job's outputs may hold only regular files and folders"
HARD_LINK = (
    "{path} has {links} names (a hard link): a job's outputs may hold only files of their own"
)
SPECIAL = (
    "{path} is a {kind}, not a regular file: a job's outputs may hold only regular files "
    "and folders"
)
OUTSIDE = "{path} is not a path inside the job's outputs: name one without '..' or a leading '/'"
FILE_TOO_BIG = (
    "{path} has {size} bytes, more than the {limit} a file of a job's outputs may have here"
)
TOO_MANY = (
    "{path} holds more than {limit} files and folders, more than the server reads of a job's "
    "outputs; keep fewer (pack them into an archive)"
)
TOO_MUCH = "{path} holds more than {limit} bytes, more than the server reads of a job's outputs"
TOO_DEEP = "{path} is nested more than {limit} folders deep in the job's outputs"
#: Every message above: the portal translates them (`portal/i18n/errors.zh-CN.json`).
MESSAGES = (LINK, HARD_LINK, SPECIAL, OUTSIDE, FILE_TOO_BIG, TOO_MANY, TOO_MUCH, TOO_DEEP)


class Refused(Exception):
    """A job-written name the server will not read. `status`: 422 (what may not be there) or 413
    (too big, too many); `template` and `params` as a service error's."""

    def __init__(self, template: str, status: int = 422, /, **params: object) -> None:
        self.template = template
        self.status = status
        self.params = params
        self.detail = template.format(**params)
        super().__init__(self.detail)


@dataclass(frozen=True)
class Limits:
    file_bytes: int = MAX_FILE_BYTES
    total_bytes: int = MAX_TOTAL_BYTES
    entries: int = MAX_ENTRIES
    depth: int = MAX_DEPTH


LIMITS = Limits()


@dataclass(frozen=True)
class JobFile:
    path: str  # relative to the root, with '/'
    size: int


def kind(mode: int) -> str:
    """What a file of this mode is, in the words a refusal uses."""
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def check_regular(st: os.stat_result, shown: str, limits: Limits = LIMITS) -> None:
    """Refuse what is no regular file of one name, or is over the file cap."""
    if stat.S_ISLNK(st.st_mode):
        raise Refused(LINK, path=shown)
    if not stat.S_ISREG(st.st_mode):
        raise Refused(SPECIAL, path=shown, kind=kind(st.st_mode))
    if st.st_nlink > 1:
        raise Refused(HARD_LINK, path=shown, links=st.st_nlink)
    if st.st_size > limits.file_bytes:
        raise Refused(FILE_TOO_BIG, 413, path=shown, size=st.st_size, limit=limits.file_bytes)


def _parts(rel: str, shown: str) -> list[str]:
    if rel.startswith("/") or "\0" in rel:
        raise Refused(OUTSIDE, path=shown)
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused(OUTSIDE, path=shown)
    return parts


def _open_at(dir_fd: int | None, name: str, flags: int, shown: str) -> int:
    """`openat(dir_fd, name, flags)`; a symbolic link there is Refused (ELOOP under O_NOFOLLOW),
    as is a socket (ENXIO); a missing name stays FileNotFoundError."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise Refused(LINK, path=shown) from None
            if not stat.S_ISDIR(st.st_mode) and not stat.S_ISREG(st.st_mode):
                raise Refused(SPECIAL, path=shown, kind=kind(st.st_mode)) from None
        raise e  # missing (FileNotFoundError), a file where a folder was named (NotADirectoryError)


def open_regular(path: Path, limits: Limits = LIMITS, shown: str | None = None) -> BinaryIO:
    """Open one job-written file by its whole path, refusing a link, a FIFO, a socket, a device
    or a hard link as its last component (the folders above it are the server's: a run
    directory). For logs in a run directory; the outputs go through `JobFiles`."""
    label = shown or path.name
    fd = _open_at(None, str(path), _FILE_FLAGS, label)
    try:
        check_regular(os.fstat(fd), label, limits)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def regular_size(path: Path) -> int:
    """The size of a job-written file, 0 when it is missing or no regular file (never follows a
    link, never opens)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


class JobFiles:
    """What a job wrote under `root` (its `$AICC_OUTPUT_DIR`, or a folder of it), read only as
    the module's docstring says. `label` names the root in messages ("outputs"). Stateless:
    every call resolves its names again from the root."""

    def __init__(self, root: Path, *, label: str = "outputs", limits: Limits = LIMITS) -> None:
        self.root = root
        self.label = label
        self.limits = limits

    def shown(self, rel: str) -> str:
        return f"{self.label}/{rel}" if rel else self.label

    @contextlib.contextmanager
    def _dir(self, parts: list[str]) -> Iterator[int]:
        """An fd of the folder `parts` under the root, every component opened without
        following a link (the root's own last component too); a refusal names the component."""
        fd = _open_at(None, str(self.root), _DIR_FLAGS, self.label)
        try:
            for i, part in enumerate(parts):
                inner = _open_at(fd, part, _DIR_FLAGS, self.shown("/".join(parts[: i + 1])))
                os.close(fd)
                fd = inner
            yield fd
        finally:
            os.close(fd)

    def capped(self, file_bytes: int) -> JobFiles:
        """The same root with a smaller cap per file (a JSON report the server parses)."""
        limits = Limits(file_bytes, self.limits.total_bytes, self.limits.entries, self.limits.depth)
        return JobFiles(self.root, label=self.label, limits=limits)

    def subdir(self, rel: str) -> JobFiles:
        """The folder `rel` of the root as a root of its own (missing: FileNotFoundError; a
        file: NotADirectoryError; a link: Refused)."""
        shown = self.shown(rel)
        parts = _parts(rel, shown)
        with self._dir(parts):
            pass
        return JobFiles(self.root.joinpath(*parts), label=shown, limits=self.limits)

    def is_dir(self) -> bool:
        """Whether the root is there, as a folder (a link there: Refused)."""
        try:
            with self._dir([]):
                return True
        except (FileNotFoundError, NotADirectoryError):
            return False

    def names(self, rel: str = "") -> list[str]:
        """The names in the folder `rel` (sorted, at most the cap of entries: Refused past it),
        its components opened without following a link; what each is, is not checked here."""
        with self._dir(_parts(rel, self.shown(rel)) if rel else []) as fd:
            found = os.listdir(fd)
        if len(found) > self.limits.entries:
            raise Refused(TOO_MANY, 413, path=self.shown(rel), limit=self.limits.entries)
        return sorted(found)

    def open(self, rel: str) -> BinaryIO:
        """The regular file `rel`, opened for reading (missing: FileNotFoundError); reading
        past the cap per file, a file that grew after it was checked, is Refused (413)."""
        shown = self.shown(rel)
        parts = _parts(rel, shown)
        if not parts:
            raise Refused(SPECIAL, path=shown, kind="folder")
        with self._dir(parts[:-1]) as folder:
            fd = _open_at(folder, parts[-1], _FILE_FLAGS, shown)
        try:
            check_regular(os.fstat(fd), shown, self.limits)
        except BaseException:
            os.close(fd)
            raise
        return io.BufferedReader(_Capped(fd, shown, self.limits.file_bytes))

    def read_bytes(self, rel: str, most: int | None = None) -> bytes:
        """The file's bytes, or its first `most`; a file that grew past the cap after it was
        opened is refused too."""
        cap = self.limits.file_bytes
        with self.open(rel) as f:
            data = f.read((cap if most is None else min(most, cap)) + 1)
        if most is not None and len(data) > most:
            return data[:most]
        if len(data) > cap:
            raise Refused(FILE_TOO_BIG, 413, path=self.shown(rel), size=len(data), limit=cap)
        return data

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode("utf-8")

    def walk(self) -> list[JobFile]:
        """The regular files under the root, sorted by path, with their sizes. Refused at the
        first name that may not be there, or when the tree is over the caps; the whole tree is
        checked before anything is read."""
        found: list[JobFile] = []
        entries = 0
        total = 0

        def visit(fd: int, prefix: str, depth: int) -> None:
            nonlocal entries, total
            if depth > self.limits.depth:
                raise Refused(TOO_DEEP, 413, path=self.shown(prefix), limit=self.limits.depth)
            for name in sorted(os.listdir(fd)):
                rel = f"{prefix}/{name}" if prefix else name
                shown = self.shown(rel)
                entries += 1
                if entries > self.limits.entries:
                    raise Refused(TOO_MANY, 413, path=self.label, limit=self.limits.entries)
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    inner = _open_at(fd, name, _DIR_FLAGS, shown)
                    try:
                        visit(inner, rel, depth + 1)
                    finally:
                        os.close(inner)
                    continue
                check_regular(st, shown, self.limits)
                total += st.st_size
                if total > self.limits.total_bytes:
                    raise Refused(TOO_MUCH, 413, path=self.label, limit=self.limits.total_bytes)
                found.append(JobFile(rel, st.st_size))

        with self._dir([]) as root:
            visit(root, "", 0)
        found.sort(key=lambda f: f.path)
        return found

    def contents(self, leave_out: frozenset[str] = frozenset()) -> Iterator[tuple[str, BinaryIO]]:
        """(path, open file) of every file `walk` lists but those in `leave_out`, each opened
        and checked again on its fd when it is its turn: the reader (`uploads.ingest`) reads it
        a block at a time and closes it, so no file is ever held whole."""
        for item in self.walk():
            if item.path not in leave_out:
                yield item.path, self.open(item.path)


class _Capped(io.RawIOBase):
    """A job's file opened through the guard: its size was checked at open, but the job may
    still append to it, so reading past offset `cap` is Refused (413), never a server reading
    on for as long as a job writes. It seeks (a reader that goes on from where it was)."""

    def __init__(self, fd: int, shown: str, cap: int) -> None:
        self._file = io.FileIO(fd, "rb")
        self.shown, self.cap = shown, cap

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()

    def readinto(self, buffer: Any) -> int | None:
        n = self._file.readinto(buffer)
        if (at := self._file.tell()) > self.cap:
            raise Refused(FILE_TOO_BIG, 413, path=self.shown, size=at, limit=self.cap)
        return n

    def close(self) -> None:
        self._file.close()
        super().close()
