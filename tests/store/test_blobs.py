"""BlobStore: streaming put, digest and size checks, safe extraction, bad digests."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from aicc.sdk.workdir import pack_workdir
from aicc.store import blobs
from aicc.store.blobs import BlobError, BlobStore

LIMIT = 64 * 1024 * 1024


def make_tar(build: Callable[[tarfile.TarFile], None]) -> bytes:
    """A .tar.gz written by hand, so tests can produce what pack_workdir never would."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return buffer.getvalue()


def add_file(tar: tarfile.TarFile, name: str, data: bytes = b"x", mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def add_link(tar: tarfile.TarFile, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


def add_special(tar: tarfile.TarFile, name: str, kind: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    tar.addfile(info)


def plant(store: BlobStore, data: bytes) -> str:
    """Write a blob straight into the layout, skipping put's checks (a tampered store)."""
    sha = hashlib.sha256(data).hexdigest()
    path = store.root / sha[:2] / f"{sha}.tar.gz"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return sha


def snapshot(path: Path) -> dict[str, tuple[bytes | str | None, bool]]:
    """Relative path -> (content or link target, executable) for every entry under path."""
    result: dict[str, tuple[bytes | str | None, bool]] = {}
    for item in sorted(path.rglob("*")):
        rel = item.relative_to(path).as_posix()
        if item.is_symlink():
            result[rel] = (os.readlink(item), False)
        elif item.is_dir():
            result[rel] = (None, False)
        else:
            result[rel] = (item.read_bytes(), bool(item.stat().st_mode & stat.S_IXUSR))
    return result


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_round_trip_pack_put_materialize(tmp_path: Path, store: BlobStore) -> None:
    work = tmp_path / "work"
    (work / "src/pkg").mkdir(parents=True)
    (work / "src/pkg/model.py").write_text("import torch\n")
    (work / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (work / "run.sh").chmod(0o755)
    (work / "data.bin").write_bytes(os.urandom(200_000))
    (work / "empty").mkdir()
    (work / "latest").symlink_to("src/pkg")
    packed = pack_workdir(work)
    try:
        with packed.path.open("rb") as fh:
            sha, size = store.put(fh, expected_sha256=packed.sha256, max_bytes=LIMIT)
    finally:
        packed.path.unlink()
    assert (sha, size) == (packed.sha256, packed.size)
    assert store.exists(sha)
    assert store.size(sha) == size
    assert store.total_bytes() == size
    assert (store.root / sha[:2] / f"{sha}.tar.gz").is_file()

    dest = tmp_path / "out" / "job-1"
    store.materialize(sha, dest)
    assert snapshot(dest) == snapshot(work)
    assert os.access(dest / "run.sh", os.X_OK)
    assert not os.access(dest / "src/pkg/model.py", os.X_OK)
    assert (dest / "latest").is_symlink()

    empty = tmp_path / "empty-dest"
    empty.mkdir()
    store.materialize(sha, empty)  # an existing empty directory is accepted
    assert snapshot(empty) == snapshot(work)

    store.delete(sha)
    assert not store.exists(sha)
    assert store.total_bytes() == 0
    store.delete(sha)  # deleting twice is fine
    with pytest.raises(FileNotFoundError):
        store.size(sha)
    with pytest.raises(FileNotFoundError):
        store.materialize(sha, tmp_path / "gone")


def test_put_is_idempotent(store: BlobStore) -> None:
    data = make_tar(lambda tar: add_file(tar, "a.txt", b"hello"))
    sha, size = store.put(io.BytesIO(data), max_bytes=LIMIT)
    path = store.root / sha[:2] / f"{sha}.tar.gz"
    before = path.stat()
    assert store.put(io.BytesIO(data), expected_sha256=sha, max_bytes=LIMIT) == (sha, size)
    after = path.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert store.total_bytes() == size == len(data)
    assert list((store.root / "tmp").iterdir()) == []


def test_digest_mismatch_rejected(store: BlobStore) -> None:
    data = make_tar(lambda tar: add_file(tar, "a.txt"))
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(BlobError, match="digest mismatch"):
        store.put(io.BytesIO(data), expected_sha256=wrong, max_bytes=LIMIT)
    assert store.total_bytes() == 0
    assert not store.exists(hashlib.sha256(data).hexdigest())
    assert list((store.root / "tmp").iterdir()) == []


def test_too_large_rejected(store: BlobStore) -> None:
    data = make_tar(lambda tar: add_file(tar, "noise.bin", os.urandom(50_000)))
    with pytest.raises(BlobError, match="larger than"):
        store.put(io.BytesIO(data), max_bytes=len(data) - 1)
    assert store.put(io.BytesIO(data), max_bytes=len(data))[1] == len(data)


def test_unpacked_size_limit(store: BlobStore) -> None:
    data = make_tar(lambda tar: add_file(tar, "zeros.bin", b"\0" * 100_000))
    with pytest.raises(BlobError, match="unpacks to more than"):
        store.put(io.BytesIO(data), max_bytes=LIMIT, max_unpacked_bytes=99_999)
    assert store.put(io.BytesIO(data), max_bytes=LIMIT, max_unpacked_bytes=100_000)


@pytest.mark.parametrize(
    "data",
    [
        b"definitely not gzip",
        gzip.compress(b"gzip, but not a tar archive " * 100),
        make_tar(lambda tar: add_file(tar, "a.txt", os.urandom(5000)))[:-200],  # truncated
        b"",
    ],
    ids=["not-gzip", "not-tar", "truncated", "empty"],
)
def test_not_a_tar_gz_rejected(store: BlobStore, data: bytes) -> None:
    with pytest.raises(BlobError):
        store.put(io.BytesIO(data), max_bytes=LIMIT)
    assert store.total_bytes() == 0
    assert list((store.root / "tmp").iterdir()) == []


def _malicious(outside: Path) -> dict[str, Callable[[tarfile.TarFile], None]]:
    def dotdot(tar: tarfile.TarFile) -> None:
        add_file(tar, "ok.txt")
        add_file(tar, "../escape.txt", b"pwned")

    def absolute(tar: tarfile.TarFile) -> None:
        add_file(tar, str(outside / "absolute.txt"), b"pwned")

    def symlink_etc(tar: tarfile.TarFile) -> None:
        add_link(tar, "etc", "/etc")

    def symlink_up(tar: tarfile.TarFile) -> None:
        add_link(tar, "sub/up", "../../escape.txt")

    def write_through_symlink(tar: tarfile.TarFile) -> None:
        add_link(tar, "out", "..")
        add_file(tar, "out/escape.txt", b"pwned")

    def chained_symlinks(tar: tarfile.TarFile) -> None:
        add_link(tar, "here", ".")
        add_link(tar, "up", "here/..")

    def hardlink_outside(tar: tarfile.TarFile) -> None:
        add_link(tar, "passwd", "/etc/passwd", tarfile.LNKTYPE)

    def hardlink_dotdot(tar: tarfile.TarFile) -> None:
        add_link(tar, "passwd", "../escape.txt", tarfile.LNKTYPE)

    def file_as_parent(tar: tarfile.TarFile) -> None:
        add_file(tar, "f")
        add_file(tar, "f/x")

    def char_device(tar: tarfile.TarFile) -> None:
        add_special(tar, "null", tarfile.CHRTYPE)

    def fifo(tar: tarfile.TarFile) -> None:
        add_special(tar, "pipe", tarfile.FIFOTYPE)

    return {
        "dotdot": dotdot,
        "absolute": absolute,
        "symlink-etc": symlink_etc,
        "symlink-up": symlink_up,
        "write-through-symlink": write_through_symlink,
        "chained-symlinks": chained_symlinks,
        "hardlink-outside": hardlink_outside,
        "hardlink-dotdot": hardlink_dotdot,
        "file-as-parent": file_as_parent,
        "char-device": char_device,
        "fifo": fifo,
    }


CASES = sorted(_malicious(Path("/nonexistent")))


@pytest.mark.parametrize("case", CASES)
def test_malicious_archive_rejected(tmp_path: Path, store: BlobStore, case: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    data = make_tar(_malicious(outside)[case])

    with pytest.raises(BlobError):
        store.put(io.BytesIO(data), max_bytes=LIMIT)
    assert store.total_bytes() == 0

    sha = plant(store, data)
    dest = tmp_path / "jobs" / "job"
    with pytest.raises(BlobError):
        store.materialize(sha, dest)
    assert not dest.exists()
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "jobs" / "escape.txt").exists()
    assert not (tmp_path / "escape.txt").exists()


# Not "absolute": the data filter strips the leading "/" and extracts inside dest instead.
@pytest.mark.parametrize(
    "case", ["dotdot", "symlink-etc", "symlink-up", "write-through-symlink", "hardlink-outside"]
)
def test_data_filter_is_a_second_line_of_defence(
    tmp_path: Path, store: BlobStore, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    sha = plant(store, make_tar(_malicious(outside)[case]))
    monkeypatch.setattr(blobs, "_validate", lambda members, *limits: list(members))
    dest = tmp_path / "jobs" / "job"
    with pytest.raises(BlobError):
        store.materialize(sha, dest)
    assert not dest.exists()
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "jobs" / "escape.txt").exists()


def test_failed_materialize_empties_a_given_directory(
    tmp_path: Path, store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "a.txt")
        add_file(tar, "../escape.txt")

    sha = plant(store, make_tar(build))
    dest = tmp_path / "dest"
    dest.mkdir()
    monkeypatch.setattr(blobs, "_validate", lambda members, *limits: list(members))
    with pytest.raises(BlobError):
        store.materialize(sha, dest)  # a.txt is written before the filter stops ../escape.txt
    assert dest.is_dir() and list(dest.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_materialize_refuses_a_non_empty_destination(tmp_path: Path, store: BlobStore) -> None:
    sha, _ = store.put(io.BytesIO(make_tar(lambda tar: add_file(tar, "a.txt"))), max_bytes=LIMIT)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "existing.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        store.materialize(sha, dest)
    assert (dest / "existing.txt").read_text() == "keep me"
    with pytest.raises(FileExistsError):
        store.materialize(sha, dest / "existing.txt")


def test_tar_root_entry_and_safe_links_accepted(tmp_path: Path, store: BlobStore) -> None:
    def build(tar: tarfile.TarFile) -> None:
        root = tarfile.TarInfo(".")
        root.type = tarfile.DIRTYPE
        tar.addfile(root)
        add_file(tar, "./a/b.txt", b"b")
        add_link(tar, "a/self", "../a/b.txt")
        add_link(tar, "top", ".")
        add_link(tar, "b-hard", "a/b.txt", tarfile.LNKTYPE)

    sha, _ = store.put(io.BytesIO(make_tar(build)), max_bytes=LIMIT)
    dest = tmp_path / "dest"
    store.materialize(sha, dest)
    assert (dest / "a/self").read_bytes() == b"b"
    assert (dest / "b-hard").read_bytes() == b"b"
    assert os.readlink(dest / "top") == "."


BAD_SHAS = [
    "",
    "abc",
    "A" * 64,
    "g" * 64,
    "0" * 63,
    "0" * 65,
    "../" + "0" * 61,
    "/" + "0" * 63,
    "0" * 62 + "\n0",
]


@pytest.mark.parametrize("bad", BAD_SHAS)
def test_bad_sha_strings_rejected(tmp_path: Path, store: BlobStore, bad: str) -> None:
    with pytest.raises(BlobError):
        store.exists(bad)
    with pytest.raises(BlobError):
        store.size(bad)
    with pytest.raises(BlobError):
        store.delete(bad)
    with pytest.raises(BlobError):
        store.materialize(bad, tmp_path / "dest")
    data = make_tar(lambda tar: add_file(tar, "a.txt"))
    with pytest.raises(BlobError):
        store.put(io.BytesIO(data), expected_sha256=bad, max_bytes=LIMIT)
    assert not (tmp_path / "dest").exists()


def test_total_bytes_ignores_strangers(store: BlobStore) -> None:
    sha, size = store.put(io.BytesIO(make_tar(lambda tar: add_file(tar, "a"))), max_bytes=LIMIT)
    (store.root / "tmp" / "upload.part").write_bytes(b"x" * 1000)
    (store.root / sha[:2] / "notes.txt").write_bytes(b"x" * 1000)
    (store.root / "README").write_bytes(b"x" * 1000)
    assert store.total_bytes() == size


# --- archives checked to their end, names as written (issue 35) ---


def _raw_tar(names: list[bytes], *, gnu_long: bytes | None = None, end: bool = True) -> bytes:
    """An uncompressed tar written block by block, so a name may hold what tarfile would never
    write (a NUL), a GNU long name may be given raw, and the end-of-archive blocks left out."""
    out = bytearray()

    def header(name: bytes, kind: bytes, size: int) -> bytes:
        info = tarfile.TarInfo("placeholder")
        info.type, info.size, info.mode = kind, size, 0o644
        block = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
        block[0:100] = name.ljust(100, b"\0")[:100]
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\0 " % sum(block)
        return bytes(block)

    if gnu_long is not None:
        out += header(b"././@LongLink", tarfile.GNUTYPE_LONGNAME, len(gnu_long))
        out += gnu_long.ljust(-(-len(gnu_long) // 512) * 512, b"\0")
        out += header(b"short", tarfile.REGTYPE, 1) + b"x".ljust(512, b"\0")
    for name in names:
        out += header(name, tarfile.REGTYPE, 1) + b"x".ljust(512, b"\0")
    if end:
        out += b"\0" * 1024
    return bytes(out)


def test_a_truncated_gzip_is_refused_as_cut_short(store: BlobStore) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "train.py", os.urandom(50_000))
        add_file(tar, "data.bin", os.urandom(50_000))

    whole = make_tar(build)
    store.put(io.BytesIO(whole), max_bytes=LIMIT)  # the whole one is fine
    for cut in (len(whole) - 4, len(whole) - 30, len(whole) // 2):
        with pytest.raises(BlobError, match="cut short"):
            store.put(io.BytesIO(whole[:cut]), max_bytes=LIMIT)
    assert not list((store.root / "tmp").iterdir())


def test_a_tar_without_its_end_is_refused_even_in_a_whole_gzip(store: BlobStore) -> None:
    cut = gzip.compress(_raw_tar([b"a.txt", b"b.txt"], end=False), mtime=0)
    with pytest.raises(BlobError, match=r"cut short after member 'b\.txt'"):
        store.put(io.BytesIO(cut), max_bytes=LIMIT)
    for at in (1024 + 100, 1536 + 100):  # in b.txt's header, in its data
        half = _raw_tar([b"a.txt", b"b.txt"])[:at]
        with pytest.raises(BlobError, match="cut short"):
            store.put(io.BytesIO(gzip.compress(half, mtime=0)), max_bytes=LIMIT)
    whole = gzip.compress(_raw_tar([b"a.txt", b"b.txt"]), mtime=0)
    assert store.put(io.BytesIO(whole), max_bytes=LIMIT)[1] == len(whole)


@pytest.mark.parametrize(
    "tar",
    [
        _raw_tar([b"ok.txt", b"evil\0.sh"]),
        _raw_tar([], gnu_long=b"d/" + b"x" * 120 + b"\0hidden\0"),
    ],
    ids=["ustar-name", "gnu-long-name"],
)
def test_a_nul_in_a_member_name_is_refused_not_cut(
    tmp_path: Path, store: BlobStore, tar: bytes
) -> None:
    archive = gzip.compress(tar, mtime=0)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as plain:
        assert all("\0" not in m.name for m in plain)  # tarfile alone would cut it silently
    with pytest.raises(BlobError, match="NUL byte"):
        store.put(io.BytesIO(archive), max_bytes=LIMIT)
    sha = plant(store, archive)  # kept before the check: refused when unpacked too
    with pytest.raises(BlobError, match="NUL byte"):
        store.materialize(sha, tmp_path / "w")
    assert not (tmp_path / "w").exists()
