"""pack_workdir: ignore rules, skipped dirs, determinism, size limit, progress, links."""

from __future__ import annotations

import gzip
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aicc.sdk.workdir import PackedWorkdir, WorkdirTooLarge, pack_workdir


def write(path: Path, content: str | bytes = "x", mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    if mode is not None:
        path.chmod(mode)
    return path


@pytest.fixture
def packs() -> Iterator[list[PackedWorkdir]]:
    """Collects packed archives and deletes them after the test (the caller owns them)."""
    packed: list[PackedWorkdir] = []
    yield packed
    for item in packed:
        item.path.unlink(missing_ok=True)


def pack(root: Path, packs: list[PackedWorkdir], **kwargs: object) -> PackedWorkdir:
    result = pack_workdir(root, **kwargs)  # type: ignore[arg-type]
    packs.append(result)
    return result


def members(packed: PackedWorkdir) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(packed.path, "r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def files(packed: PackedWorkdir) -> set[str]:
    return {name for name, m in members(packed).items() if not m.isdir()}


def test_gitignore_root_and_nested_with_negation(
    tmp_path: Path, packs: list[PackedWorkdir]
) -> None:
    write(tmp_path / ".gitignore", "*.log\nbuild/\nlogs/*\n!logs/keep.txt\n")
    write(tmp_path / "sub/.gitignore", "secret.txt\n/local_only\n!keep.log\n")
    for name in [
        "main.py",
        "x.log",
        "build/out.bin",
        "logs/a.txt",
        "logs/keep.txt",
        "secret.txt",
        "sub/secret.txt",
        "sub/ok.txt",
        "sub/local_only",
        "sub/deeper/local_only",
        "sub/deeper/secret.txt",
        "sub/keep.log",
        "sub/other.log",
        "src/build",  # 'build/' only matches directories
    ]:
        write(tmp_path / name)
    packed = pack(tmp_path, packs)
    assert files(packed) == {
        ".gitignore",
        "main.py",
        "logs/keep.txt",
        "secret.txt",
        "sub/.gitignore",
        "sub/ok.txt",
        "sub/deeper/local_only",
        "sub/keep.log",
        "src/build",
    }
    assert "build" not in members(packed)


def test_aiccignore_applies_and_can_override_gitignore(
    tmp_path: Path, packs: list[PackedWorkdir]
) -> None:
    write(tmp_path / ".gitignore", "*.csv\n")
    write(tmp_path / ".aiccignore", "data/\n*.ckpt\n!small.csv\n")
    write(tmp_path / "nested/.aiccignore", "scratch.txt\n")
    for name in ["train.py", "data/big.bin", "model.ckpt", "small.csv", "large.csv"]:
        write(tmp_path / name)
    write(tmp_path / "nested/scratch.txt")
    write(tmp_path / "nested/kept.txt")
    packed = pack(tmp_path, packs)
    assert files(packed) == {
        ".gitignore",
        ".aiccignore",
        "train.py",
        "small.csv",
        "nested/.aiccignore",
        "nested/kept.txt",
    }


def test_always_skipped_directories(tmp_path: Path, packs: list[PackedWorkdir]) -> None:
    for name in [
        ".git/config",
        "__pycache__/m.cpython-311.pyc",
        "pkg/__pycache__/m.cpython-311.pyc",
        ".venv/bin/python",
        "venv/bin/python",
        "node_modules/left-pad/index.js",
        "web/node_modules/x.js",
        ".aicc/state.json",
        "pkg/mod.py",
    ]:
        write(tmp_path / name)
    packed = pack(tmp_path, packs)
    assert set(members(packed)) == {"pkg", "pkg/mod.py", "web"}  # web/ itself stays
    assert packed.files == 1


def test_deterministic_archive(tmp_path: Path, packs: list[PackedWorkdir]) -> None:
    write(tmp_path / "a.py", "print(1)\n")
    write(tmp_path / "run.sh", "#!/bin/sh\n", mode=0o755)
    write(tmp_path / "dir/b.txt", "b")
    first = pack(tmp_path, packs)
    second = pack(tmp_path, packs)
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.path != second.path

    os.utime(tmp_path / "a.py", (1_000_000, 1_000_000))
    os.utime(tmp_path / "dir", (2_000_000, 2_000_000))
    (tmp_path / "dir/b.txt").chmod(0o600)  # only the executable bit is significant
    assert pack(tmp_path, packs).sha256 == first.sha256

    write(tmp_path / "a.py", "print(2)\n")
    assert pack(tmp_path, packs).sha256 != first.sha256


def test_archive_metadata_is_normalised(tmp_path: Path, packs: list[PackedWorkdir]) -> None:
    write(tmp_path / "run.sh", "#!/bin/sh\n", mode=0o700)
    write(tmp_path / "d/data.txt", "hello", mode=0o600)
    packed = pack(tmp_path, packs)
    raw = packed.path.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime
    assert not raw[3] & 0x08  # no file name in the gzip header
    infos = members(packed)
    assert [*infos] == ["d", "d/data.txt", "run.sh"]
    for info in infos.values():
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (0, 0, 0, "", "")
    assert infos["run.sh"].mode == 0o755
    assert infos["d/data.txt"].mode == 0o644
    assert infos["d"].mode == 0o755
    assert packed.raw_bytes == len("#!/bin/sh\n") + 5
    assert packed.files == 2
    assert packed.size == len(raw)
    with gzip.open(packed.path) as fh:
        assert fh.read()  # a valid gzip stream


def test_size_limit_raises_before_writing(
    tmp_path: Path, packs: list[PackedWorkdir], monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    root = tmp_path / "work"
    write(root / "weights/model.bin", b"\0" * 3000)
    write(root / "train.py", "x" * 10)
    with pytest.raises(WorkdirTooLarge) as info:
        pack(root, packs, max_bytes=2048)
    message = str(info.value)
    assert "2.9 KiB" in message  # the size
    assert "2.0 KiB" in message  # the limit
    assert ".gitignore" in message and ".aiccignore" in message
    assert "weights/" in message
    assert info.value.size == 3010 and info.value.limit == 2048
    assert isinstance(info.value, ValueError)
    assert list(spool.iterdir()) == []

    write(root / ".aiccignore", "weights/\n")
    assert pack(root, packs, max_bytes=2048).raw_bytes == 10 + len("weights/\n")


def test_progress_reports_up_to_the_total(tmp_path: Path, packs: list[PackedWorkdir]) -> None:
    write(tmp_path / "big.bin", os.urandom(3 * 1024 * 1024 + 17))
    write(tmp_path / "small.txt", "abc")
    calls: list[tuple[int, int]] = []
    packed = pack(tmp_path, packs, progress=lambda done, total: calls.append((done, total)))
    total = 3 * 1024 * 1024 + 17 + 3
    assert packed.raw_bytes == total
    assert calls[0] == (0, total)
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert len(calls) > 3  # intermediate reports inside the big file


def test_symlinks_inside_kept_outside_skipped(tmp_path: Path, packs: list[PackedWorkdir]) -> None:
    outside = write(tmp_path / "outside.txt", "secret")
    root = tmp_path / "work"
    write(root / "data/v2/train.csv", "1,2\n")
    (root / "data/current").symlink_to("v2")
    (root / "abs_inside").symlink_to(root / "data/v2/train.csv")
    (root / "roundabout").symlink_to("../work/data/v2")
    (root / "escape").symlink_to(outside)
    (root / "escape_rel").symlink_to("../outside.txt")
    (root / "etc").symlink_to("/etc")
    (root / "dangling").symlink_to("missing.txt")
    os.mkfifo(root / "pipe")
    infos = members(pack(root, packs))
    assert "escape" not in infos and "escape_rel" not in infos and "etc" not in infos
    assert "pipe" not in infos
    assert infos["data/current"].issym() and infos["data/current"].linkname == "v2"
    assert infos["abs_inside"].linkname == "data/v2/train.csv"
    assert infos["roundabout"].linkname == "data/v2"
    assert infos["dangling"].linkname == "missing.txt"


def test_long_and_unicode_names(tmp_path: Path, packs: list[PackedWorkdir]) -> None:
    long_name = "d" * 60 + "/" + "f" * 120 + ".txt"
    write(tmp_path / long_name, "long")
    write(tmp_path / "données/été.txt", "utf8")
    names = files(pack(tmp_path, packs))
    assert names == {long_name, "données/été.txt"}


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        pack_workdir(write(tmp_path / "file.txt"))
    with pytest.raises(NotADirectoryError):
        pack_workdir(tmp_path / "missing")
