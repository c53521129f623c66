"""A replica's working copy: the store's limits hold again when an engine unpacks the workdir
(issue 16), for an archive stored before the limits were lowered."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from aicc.executors import workdir
from aicc.store.blobs import BlobStore
from aicc.testing.jobs import tar_gz


def test_unpacking_refuses_an_archive_past_the_limits(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    big, _ = BlobStore(root).put(io.BytesIO(tar_gz({"z.bin": b"\0" * 4096})), max_bytes=1 << 20)
    many, _ = BlobStore(root).put(
        io.BytesIO(tar_gz({f"f{i}": b"x" for i in range(11)})), max_bytes=1 << 20
    )
    strict = BlobStore(root, max_unpacked_bytes=4095, max_members=10)
    run = tmp_path / "run"
    with pytest.raises(workdir.WorkdirError, match="unpacks to more than the 4095 byte limit"):
        workdir.materialize(strict, big, run / "work")
    with pytest.raises(workdir.WorkdirError, match="more than the limit of 10 files"):
        workdir.materialize(strict, many, run / "work")
    assert not (run / "work").exists() and not (run / "work.partial").exists()

    roomy = BlobStore(root, max_unpacked_bytes=4096, max_members=11)
    workdir.materialize(roomy, big, run / "work")
    assert (run / "work" / "z.bin").stat().st_size == 4096
