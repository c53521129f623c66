"""A replica's log files, written by its supervisor and read by the server: each stream keeps
its first half of the budget (`STREAM.log`) and rotating tail chunks (`STREAM.tail.K`), so
disk use stays near the budget whatever the job prints, and `logs --follow` sees output at once.
The server reads them only through the guard of job-written files (`jobfiles.open_regular`):
a job may have replaced any of them by a link or a FIFO (executors/local/runtime.py)."""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

from aicc.executors import jobfiles

TAIL_CHUNKS = 4  # full tail chunks that together hold at least the tail budget
MAX_UNLAID_BYTES = 64 << 20  # a log file read when launch.json (its budget) is gone
DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


@dataclass(frozen=True)
class LogLayout:
    """How a stream's log budget splits: head file, then tail chunks of chunk_size bytes.

    Byte i of the stream (i >= head_limit) lives in chunk (i - head_limit) // chunk_size, so the
    total a replica ever wrote follows from the newest chunk's index and size alone.
    """

    head_limit: int
    tail_limit: int
    chunk_size: int

    @classmethod
    def for_limit(cls, log_limit_bytes: int) -> LogLayout:
        limit = max(0, log_limit_bytes)
        head = limit // 2
        tail = limit - head
        return cls(head, tail, max(1, -(-tail // TAIL_CHUNKS)))


def head_path(run_dir: Path, stream: str) -> Path:
    return run_dir / f"{stream}.log"


def chunk_path(run_dir: Path, stream: str, index: int) -> Path:
    return run_dir / f"{stream}.tail.{index}"


class StreamLog:
    """One stream's capped log: the first head_limit bytes, then rotating tail chunks.

    Writes go straight to the files (no buffering) so `logs --follow` sees output at once; at most
    TAIL_CHUNKS + 1 chunks exist, so disk use stays near log_limit whatever the job prints.
    """

    def __init__(self, run_dir: Path, stream: str, layout: LogLayout) -> None:
        self.run_dir, self.stream, self.layout = run_dir, stream, layout
        self.head_fd = self._open(head_path(run_dir, stream))
        self.head_len = 0
        self.chunk_fd: int | None = None
        self.chunk_index = -1
        self.chunk_len = 0
        self.total = 0
        self.dropped = 0  # bytes not kept while the disk was full

    @staticmethod
    def _open(path: Path) -> int:
        """A new, empty file under `path`: whatever was there (a link a job left, a FIFO, a
        hard link to another file) is unlinked, never opened, truncated or followed."""
        path.unlink(missing_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.open(path, flags, 0o644)

    def write(self, data: bytes) -> None:
        """Keep `data`; on a full disk drop it (and say so once there is room again) rather
        than fail: the replica must not die because its log cannot grow."""
        try:
            if self.dropped:
                note = f"\n[aicc: {self.dropped} bytes of output lost: the disk was full]\n"
                self._write(note.encode())
                self.dropped = 0
            self._write(data)
        except OSError as err:
            if err.errno not in DISK_FULL:
                raise
            self.dropped += len(data)
        self.total += len(data)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.head_len < self.layout.head_limit:
                n = min(len(view), self.layout.head_limit - self.head_len)
                _write_all(self.head_fd, view[:n])
                self.head_len += n
            else:
                if self.chunk_fd is None or self.chunk_len >= self.layout.chunk_size:
                    self._rotate()
                assert self.chunk_fd is not None
                n = min(len(view), self.layout.chunk_size - self.chunk_len)
                _write_all(self.chunk_fd, view[:n])
                self.chunk_len += n
            view = view[n:]

    def _rotate(self) -> None:
        if self.chunk_fd is not None:
            os.close(self.chunk_fd)
        self.chunk_index += 1
        self.chunk_fd = self._open(chunk_path(self.run_dir, self.stream, self.chunk_index))
        self.chunk_len = 0
        stale = self.chunk_index - TAIL_CHUNKS - 1
        if stale >= 0:
            chunk_path(self.run_dir, self.stream, stale).unlink(missing_ok=True)

    def close(self) -> None:
        for fd in (self.head_fd, self.chunk_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.chunk_fd = None


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def chunk_indices(run_dir: Path, stream: str) -> list[int]:
    prefix = f"{stream}.tail."
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return []
    return sorted(int(n[len(prefix) :]) for n in names if n.startswith(prefix) and n[-1].isdigit())


def size(run_dir: Path, stream: str, layout: LogLayout | None) -> int:
    """Total bytes the replica ever wrote to `stream`, kept or not (offsets for `logs --follow`).
    A log file that is no regular file counts 0 (never followed, never opened)."""
    chunks = chunk_indices(run_dir, stream)
    if layout is None or not chunks:
        return jobfiles.regular_size(head_path(run_dir, stream))
    newest = chunks[-1]
    path = chunk_path(run_dir, stream, newest)
    if not path.exists() and not path.is_symlink():  # rotated away in between: look again
        return size(run_dir, stream, layout)
    return layout.head_limit + newest * layout.chunk_size + jobfiles.regular_size(path)


def _read_capped(path: Path, most: int) -> bytes:
    """At most `most` bytes of a log file, through the guard (missing: FileNotFoundError; a
    link, a hard link, a FIFO: `jobfiles.Refused`). A log file is never longer than its share of
    the budget unless the job made it so: the rest is not read."""
    with jobfiles.open_regular(path, _LOG_LIMITS, shown=path.name) as f:
        return f.read(most)


_LOG_LIMITS = jobfiles.Limits(file_bytes=jobfiles.MAX_TOTAL_BYTES)


def read(
    run_dir: Path, stream: str, layout: LogLayout | None, tail_bytes: int | None = None
) -> str:
    """The stream as kept: head, then "[... N bytes omitted ...]" and the tail when capped.

    With tail_bytes, only the last tail_bytes bytes of that text. Invalid UTF-8 is replaced.
    """
    if tail_bytes is not None and tail_bytes <= 0:
        return ""
    tail = b""
    first = 0
    for index in reversed(chunk_indices(run_dir, stream)):
        path = chunk_path(run_dir, stream, index)
        most = layout.chunk_size if layout is not None else MAX_UNLAID_BYTES
        try:
            tail = _read_capped(path, most) + tail
        except FileNotFoundError:
            break  # rotated away while we read; the newer chunks already cover the tail budget
        first = index
    if layout is not None and tail:
        kept = tail[max(0, len(tail) - layout.tail_limit) :] if layout.tail_limit else b""
        omitted = first * layout.chunk_size + len(tail) - len(kept)
    else:
        kept, omitted = tail, 0
    if tail_bytes is not None and len(kept) >= tail_bytes:
        return kept[len(kept) - tail_bytes :].decode("utf-8", errors="replace")
    most = layout.head_limit if layout is not None else MAX_UNLAID_BYTES
    try:
        head = _read_capped(head_path(run_dir, stream), most)
    except FileNotFoundError:
        head = b""
    if omitted > 0:
        sep = b"\n" if head and not head.endswith(b"\n") else b""
        head += sep + f"[... {omitted} bytes omitted ...]\n".encode()
    text = head + kept
    if tail_bytes is not None:
        text = text[max(0, len(text) - tail_bytes) :]
    return text.decode("utf-8", errors="replace")
