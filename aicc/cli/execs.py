"""`aicc job exec`'s two sides of the channel: a raw terminal (keys in, the screen out, its
size on SIGWINCH) or plain pipes (stdin to the end, then EOF; stdout and stderr apart)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import termios
import threading
import tty as ttys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.sdk.execs import ExecChannel


def run_exec(api: Client, job_id: str, command: list[str], *, tty: bool, replica: int) -> int:
    """Run the session to its end; the command's exit status (255 when the server sent none)."""
    size = shutil.get_terminal_size()
    channel = api.jobs.exec(
        job_id, command, tty=tty, replica=replica, cols=size.columns, rows=size.lines
    )
    with channel, _raw() if tty else contextlib.nullcontext():
        if tty:
            signal.signal(signal.SIGWINCH, lambda *_: _resize(channel))
        feeder = threading.Thread(target=_feed, args=(channel, tty), daemon=True)
        feeder.start()
        for stream, data in channel:
            out = sys.stderr if stream == "stderr" else sys.stdout
            out.buffer.write(data)
            out.buffer.flush()
    if channel.error:
        print(f"aicc job exec: {channel.error}", file=sys.stderr)
    return 255 if channel.exit_code is None else channel.exit_code


def _resize(channel: ExecChannel) -> None:
    size = shutil.get_terminal_size()
    with contextlib.suppress(Exception):
        channel.resize(size.columns, size.lines)


def _feed(channel: ExecChannel, tty: bool) -> None:
    """stdin to the command as it comes; at its end, EOF (pipes) — a terminal's ^D is a key."""
    with contextlib.suppress(Exception):
        while data := _read_some(tty):
            channel.send(data)
        if not tty:
            channel.end_input()


def _read_some(tty: bool) -> bytes:
    """What stdin has now (a key on a terminal), or b"" at its end."""
    if tty:
        return os.read(sys.stdin.fileno(), 65536)
    stream = sys.stdin.buffer
    read1 = getattr(stream, "read1", None)  # at once what there is (a pipe's line)
    data = read1(65536) if read1 is not None else stream.read(65536)
    return bytes(data)


@contextlib.contextmanager
def _raw() -> Iterator[None]:
    """The local terminal in raw mode for the session (keys go to the remote one as typed)."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        ttys.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
