"""A job without a sandbox writes its run directory: the cancel request file there is hostile.
The server neither writes through a link the job planted nor blocks on a FIFO it made."""

from __future__ import annotations

import os
import time
from pathlib import Path

from aicc.executors import cancel


def test_a_cancel_request_is_recorded_once_and_read_back(tmp_path: Path) -> None:
    assert cancel.requested(tmp_path) is None
    assert cancel.mark(tmp_path) is None
    first = cancel.requested(tmp_path)
    assert first is not None and first > 0
    assert cancel.mark(tmp_path) == first


def test_a_fifo_in_its_place_reads_as_a_request_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / cancel.CANCEL_FILE)
    started = time.monotonic()
    assert cancel.requested(tmp_path) == 0.0
    assert cancel.mark(tmp_path) == 0.0
    assert time.monotonic() - started < 1.0


def test_a_planted_link_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "server-file"
    victim.write_text("the server's own bytes")
    (tmp_path / "run").mkdir()
    os.symlink(victim, tmp_path / "run" / cancel.CANCEL_FILE)
    assert cancel.mark(tmp_path / "run") == 0.0
    assert victim.read_text() == "the server's own bytes"
