"""Registering a model streams a job's files (issue 35): `register_job` read every output file
whole into memory (4 GiB a file allowed), and its chunks besides. Now each file is read through
the guard's open fd a block at a time, cut exactly as the whole file is cut, and its chunks
received a batch at a time. Real server, real job, Python's memory measured by tracemalloc."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest

from aicc.core import datasets as core
from aicc.executors import jobfiles
from aicc.services.data import uploads
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process

MiB = 1024 * 1024


def _sparse_ish(size: int) -> bytes:
    """Random mebibytes between runs of zeros, as a checkpoint with empty tensors looks."""
    return b"".join(
        os.urandom(min(MiB, size - at)) if (at // MiB) % 3 else bytes(min(MiB, size - at))
        for at in range(0, size, MiB)
    )


@pytest.mark.parametrize(
    "size",
    [0, 1, 70_000, uploads.READ_BLOCK - 1, uploads.READ_BLOCK, 3 * uploads.READ_BLOCK + 777_777],
)
def test_a_file_read_a_block_at_a_time_is_cut_as_the_whole_file(size: int) -> None:
    data = _sparse_ish(size)
    got = list(uploads.pieces(io.BytesIO(data)))
    assert [c for c, _ in got] == [c for c, _ in core.pieces(data)]
    assert b"".join(piece for _, piece in got) == data


def test_a_file_grown_past_its_cap_is_refused_while_it_is_read(tmp_path: Path) -> None:
    """The guard checked the size at open; a job that appends meanwhile does not make the
    server read on: past the cap the read is Refused (413), naming the file."""
    (tmp_path / "big.bin").write_bytes(bytes(2 * MiB))
    limits = jobfiles.Limits(file_bytes=2 * MiB)
    with jobfiles.JobFiles(tmp_path, label="outputs", limits=limits).open("big.bin") as f:
        with (tmp_path / "big.bin").open("ab") as grow:
            grow.write(bytes(MiB))
        with pytest.raises(jobfiles.Refused) as refused:
            list(uploads.pieces(f))
    assert refused.value.status == 413 and "big.bin" in refused.value.detail


WRITE = """
import os
out = open(os.path.join(os.environ["AICC_OUTPUT_DIR"], "weights.bin"), "wb")
for i in range({mib}):
    out.write(os.urandom(1 << 20) if i % 3 else bytes(1 << 20))
"""


def test_registering_a_jobs_big_file_holds_a_batch_not_the_file(tmp_path: Path) -> None:
    """96 MiB of outputs: the peak of Python's memory while the API registers them stays under
    48 MiB (it was over twice the file: the file, then its chunks), and the version's chunks are
    those of the whole file."""
    mib = 96
    with in_process(tmp_path / "home") as (api, _state):
        job = submit(api, {"command": ["python", "-c", WRITE.format(mib=mib)]})
        done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=120)
        assert done["state"] == "succeeded", done
        written = tmp_path / "home" / "runs" / job["id"] / "outputs" / "weights.bin"
        tracemalloc.start()
        try:
            answer = api.post("/api/v1/models/big/versions", json={"job_id": job["id"]})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert answer.status_code == 201, answer.text
        version = answer.json()
        assert version["files"] == [{"path": "weights.bin", "size": mib * MiB}]
        assert peak < 48 * MiB, f"peak {peak / MiB:.1f} MiB"
        manifest = api.get(f"/api/v1/models/big/versions/{version['number']}/manifest")
        assert manifest.status_code == 200, manifest.text
        (entry,) = manifest.json()["files"]
        whole = [[c.digest, c.size] for c in core.cut(written.read_bytes())]
        assert entry["chunks"] == whole
