"""`GET /jobs/{id}/outputs` streams its tar.gz (issue 35: the archive was built whole in memory,
so a job writing tens of GiB made the server hold them): downloading a job's 512 MiB of
incompressible outputs raises the server's peak of Python memory by a few MiB, and the archive
unpacks to the same bytes. A tree the guard refuses is still a clean 422 before any byte."""

from __future__ import annotations

import hashlib
import io
import tarfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx

from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http

MiB = 1 << 20
SIZE = 512 * MiB


class Body(io.RawIOBase):
    """A response's bytes as a file `tarfile` reads as a stream (mode `r|gz`)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces = pieces
        self.left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self.left:
            self.left = next(self.pieces, b"")
            if not self.left:
                return 0
        n = min(len(buffer), len(self.left))
        buffer[:n] = self.left[:n]
        self.left = self.left[n:]
        return n


def test_a_512_mib_output_downloads_without_the_server_holding_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with over_http(home) as (url, token, _state):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            write = f'head -c {SIZE} /dev/urandom > "$AICC_OUTPUT_DIR/weights.bin"; echo hi > '
            job = submit(client, {"command": write + '"$AICC_OUTPUT_DIR/note.txt"'})
            assert wait_state(client, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
            on_disk = home / "runs" / job["id"] / "outputs" / "weights.bin"
            expected = hashlib.sha256(on_disk.read_bytes()).hexdigest()

            received: dict[str, str] = {}
            tracemalloc.start()
            try:
                with client.stream("GET", f"/api/v1/jobs/{job['id']}/outputs") as answer:
                    assert answer.status_code == 200
                    assert "content-length" not in answer.headers  # sent as it is read
                    body = io.BufferedReader(Body(answer.iter_bytes(MiB)), MiB)
                    with tarfile.open(fileobj=body, mode="r|gz") as tar:
                        for member in tar:
                            digest = hashlib.sha256()
                            f = tar.extractfile(member)
                            assert f is not None
                            while piece := f.read(MiB):
                                digest.update(piece)
                            received[member.name] = digest.hexdigest()
                _now, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert received["weights.bin"] == expected
            assert received["note.txt"] == hashlib.sha256(b"hi\n").hexdigest()
            assert peak < 32 * MiB, f"peak {peak / MiB:.1f} MiB while downloading 512 MiB"
            print(f"peak of Python memory while downloading 512 MiB: {peak / MiB:.1f} MiB")

            link = submit(client, {"command": 'ln -s /etc/passwd "$AICC_OUTPUT_DIR/passwd"'})
            assert wait_state(client, link["id"], {"succeeded", "failed"})["state"] == "succeeded"
            refused = client.get(f"/api/v1/jobs/{link['id']}/outputs")
            assert refused.status_code == 422, refused.text
            assert "outputs/passwd is a symbolic link" in refused.json()["detail"]
