"""The guard of job-written files: every hostile name a job can leave is refused, without
blocking and without reading a byte of what it points at; honest trees read as they are."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from aicc.executors import jobfiles, logfile
from aicc.executors.jobfiles import JobFiles, Limits, Refused

SECRET = b"the-admin-token-0123456789"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A job's outputs beside a secret of the server's."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "admin.token").write_bytes(SECRET)
    root = tmp_path / "runs" / "job" / "outputs"
    (root / "model").mkdir(parents=True)
    (root / "model" / "weights.bin").write_bytes(b"w" * 10)
    (root / "metrics.json").write_text('{"acc": 0.9}')
    return root, home


def refused(call: object, status: int = 422) -> Refused:
    assert callable(call)
    with pytest.raises(Refused) as caught:
        call()
    assert caught.value.status == status
    return caught.value


def test_an_honest_tree_reads_as_it_is(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    files = JobFiles(root)
    assert [(f.path, f.size) for f in files.walk()] == [
        ("metrics.json", 12),
        ("model/weights.bin", 10),
    ]
    assert {path: _read(f) for path, f in files.contents()} == {
        "metrics.json": b'{"acc": 0.9}',
        "model/weights.bin": b"w" * 10,
    }
    assert files.subdir("model").read_bytes("weights.bin") == b"w" * 10
    assert files.read_bytes("model/weights.bin", 3) == b"www"
    assert files.read_text("metrics.json") == '{"acc": 0.9}'
    with pytest.raises(FileNotFoundError):
        files.open("nothing.txt")
    with pytest.raises(NotADirectoryError):
        files.subdir("metrics.json")
    assert files.is_dir() and not JobFiles(root / "missing").is_dir()


def test_a_link_anywhere_is_refused_and_nothing_of_its_target_is_read(
    tree: tuple[Path, Path],
) -> None:
    root, home = tree
    (root / "home").symlink_to(home)
    (root / "model" / "token").symlink_to(home / "admin.token")
    files = JobFiles(root)
    error = refused(files.walk)
    assert error.detail == (
        "outputs/home is a symbolic link: a job's outputs may hold only regular files and folders"
    )
    assert "outputs/home" in refused(lambda: files.subdir("home")).detail
    assert "outputs/home" in refused(lambda: files.read_bytes("home/admin.token")).detail
    assert "outputs/model/token" in refused(lambda: files.read_bytes("model/token")).detail
    assert SECRET.decode() not in error.detail


def test_the_root_itself_may_not_be_a_link(tree: tuple[Path, Path]) -> None:
    root, home = tree
    link = root.parent / "linked"
    link.symlink_to(home)
    refused(lambda: JobFiles(link).walk())
    refused(lambda: JobFiles(link).is_dir())


def test_paths_that_leave_the_root_are_refused(tree: tuple[Path, Path]) -> None:
    files = JobFiles(tree[0])
    for rel in ("../../../home/admin.token", "/etc/passwd", "model/../../x", "a\0b"):
        assert "not a path inside" in refused(lambda rel=rel: files.read_bytes(rel)).detail


def test_a_hard_link_is_refused(tree: tuple[Path, Path]) -> None:
    root, home = tree
    os.link(home / "admin.token", root / "copy")
    assert "outputs/copy has 2 names" in refused(JobFiles(root).walk).detail
    refused(lambda: JobFiles(root).read_bytes("copy"))


def test_a_fifo_is_refused_at_once(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    os.mkfifo(root / "metrics.jsonl")
    started = time.monotonic()
    assert "outputs/metrics.jsonl is a FIFO" in refused(JobFiles(root).walk).detail
    assert "is a FIFO" in refused(lambda: JobFiles(root).read_bytes("metrics.jsonl")).detail
    assert "is a FIFO" in refused(lambda: logfile.read(root / "metrics.jsonl")).detail
    assert logfile.size(root / "metrics.jsonl") == 0
    assert time.monotonic() - started < 5  # nobody ever opened the pipe for writing


def test_a_socket_is_refused(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(root / "sock"))
        assert "outputs/sock is a socket" in refused(JobFiles(root).walk).detail
        assert "is a socket" in refused(lambda: JobFiles(root).open("sock")).detail


def test_a_huge_file_is_refused_before_a_byte_is_read(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    with (root / "huge.bin").open("wb") as f:
        f.truncate(jobfiles.MAX_FILE_BYTES + 1)  # sparse: costs no disk
    error = refused(JobFiles(root).walk, 413)
    assert error.detail.startswith(f"outputs/huge.bin has {jobfiles.MAX_FILE_BYTES + 1} bytes")
    refused(lambda: JobFiles(root).read_bytes("huge.bin"), 413)


def test_trees_over_the_caps_are_refused(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    for i in range(5):
        (root / f"f{i}").write_bytes(b"x" * 100)
    assert "more than 4 files" in refused(JobFiles(root, limits=Limits(entries=4)).walk, 413).detail
    many = refused(JobFiles(root, limits=Limits(total_bytes=300)).walk, 413)
    assert many.detail.startswith("outputs holds more than 300 bytes")
    deep = root / "d"
    for _ in range(5):
        deep = deep / "d"
    deep.mkdir(parents=True)
    assert "nested more than 3" in refused(JobFiles(root, limits=Limits(depth=3)).walk, 413).detail
    small = JobFiles(root).capped(50)
    refused(lambda: small.read_bytes("f0"), 413)


def test_logs_are_read_through_the_guard(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    assert logfile.read(log) == "" and logfile.size(log) == 0  # not written yet
    log.write_text("hello\nworld\n")
    assert logfile.read(log) == "hello\nworld\n"
    assert logfile.read(log, 6) == "world\n"
    assert logfile.size(log) == 12
    secret = tmp_path / "admin.token"
    secret.write_bytes(SECRET)
    log.unlink()
    log.symlink_to(secret)
    assert "stdout.log is a symbolic link" in refused(lambda: logfile.read(log)).detail
    assert logfile.size(log) == 0


def _read(f: BinaryIO) -> bytes:
    with f:
        return f.read()
