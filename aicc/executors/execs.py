"""A command run inside a running replica (`aicc job exec`), as the engines hand it to the
server: a pty or three pipes and the process group to kill. Engine-neutral, so the base and the
API's pump (api/terminal.py) know it without knowing which engine made it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import termios
from dataclasses import dataclass, field

import psutil


class ExecRefused(ValueError):
    """The replica cannot be entered (the message says why and what to do): a 409 or 422."""


@dataclass(frozen=True)
class ExecRequest:
    """What to run in a replica and how: an argv, on a pty (`tty`, of `cols` x `rows`) or on
    pipes; `withhold`: environment names the command must not get (the job's secrets). One value
    the base hands to the engine, and the engine to what enters the sandbox."""

    command: tuple[str, ...]
    tty: bool
    withhold: frozenset[str] = frozenset()
    cols: int = 80
    rows: int = 24


@dataclass
class ExecProcess:
    """A command running in a replica: a pty (`master`) or three pipes, and its process group.

    The caller owns it: `close()` kills what is left and closes the descriptors."""

    proc: subprocess.Popen[bytes]
    master: int | None = None  # the pty's master: stdin and stdout in one
    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None
    closed: bool = field(default=False)

    @property
    def tty(self) -> bool:
        return self.master is not None

    def resize(self, cols: int, rows: int) -> None:
        """The terminal's size (TIOCSWINSZ; the kernel signals SIGWINCH to its foreground)."""
        if self.master is not None:
            size = struct.pack("HHHH", max(1, min(rows, 1000)), max(1, min(cols, 1000)), 0, 0)
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)

    def kill(self) -> None:
        """SIGKILL to every process descended from the command's first one, and its group."""
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self) -> int:
        """Kill what is left, reap it and close the descriptors; the exit status (a signal N
        is 128+N, as a shell says)."""
        if self.proc.poll() is None:
            self.kill()
        code = self.proc.wait()
        if not self.closed:
            self.closed = True
            for fd in (self.master, self.stdin, self.stdout, self.stderr):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        return 128 - code if code < 0 else code
