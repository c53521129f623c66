"""The memory of one data set commit at the manifest cap (issue 35): `POST /uploads/{id}/commit`
of an honest manifest of FILES one-chunk files, each listing one of DISTINCT stored chunks.

.venv/bin/python benchmarks/manifest_commit.py --files 560000 --distinct 560000   # at the cap
.venv/bin/python benchmarks/manifest_commit.py --files 400000 --distinct 8        # 2026-11-25's

A real server in this process (`testing.servers.in_process`, SQLite under a temporary home, loops
on); its RSS is sampled every 5 ms while the commit runs (psutil, after `gc.collect()`), and the
commit's Python allocations are not traced (tracemalloc would slow it several times). Prints one
JSON line: the manifest's bytes, the commit's seconds, the peak over the RSS before it, and what
it kept. Run the code of another tree by putting its copy first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import threading
import time
from pathlib import Path

import psutil

from aicc.core.datasets import Chunk, FileEntry, Manifest, cut, digest, frame, pieces
from aicc.testing.servers import in_process
from aicc.testing.tenants import make_tenant

MiB = 1024 * 1024
BATCH = 6 * MiB  # bytes of frames per /chunks request (under limits.max_request_mib)


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


class Peak:
    """The highest RSS seen by a thread sampling every 5 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            self._stop.wait(0.005)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=8, help="stored chunks the files list")
    args = parser.parse_args()
    stored = {}
    for i in range(args.distinct):
        data = b"%016d" % i
        stored[digest(data)] = data
    names = list(stored)
    entries = [
        FileEntry(f"d{i % 1000:03d}/f{i:07d}.bin", 16, (Chunk(names[i % len(names)], 16),))
        for i in range(args.files)
    ]
    encoded = Manifest.of(entries).encode()
    del entries
    parts = {c.digest: data for c, data in pieces(encoded)}
    with tempfile.TemporaryDirectory(prefix="aicc-commit-") as tmp, in_process(Path(tmp)) as pair:
        api, _state = pair
        who = make_tenant(api, "bench")
        every = [*stored, *parts]
        for at in range(0, len(every), 50_000):  # as the SDK does, under the request limit
            body = {"chunks": every[at : at + 50_000], "create": {"name": "big"}}
            begun = api.post("/api/v1/datasets/big/uploads", json=body, headers=who.headers)
            assert begun.status_code == 201, begun.text
        upload = begun.json()["upload_id"]
        headers = {**who.headers, "Content-Type": "application/octet-stream"}
        batch: list[tuple[str, bytes]] = []
        size = 0
        for item in [*stored.items(), *parts.items()]:
            batch.append(item)
            size += len(item[1]) + 72
            if size >= BATCH:
                sent = api.post(
                    f"/api/v1/uploads/{upload}/chunks",
                    content=b"".join(frame(batch)),
                    headers=headers,
                )
                assert sent.status_code == 200, sent.text
                batch, size = [], 0
        if batch:
            sent = api.post(
                f"/api/v1/uploads/{upload}/chunks", content=b"".join(frame(batch)), headers=headers
            )
            assert sent.status_code == 200, sent.text
        commit = {"manifest_chunks": [[c.digest, c.size] for c in cut(encoded)]}
        del parts, stored, names
        before = _rss()
        with Peak() as peak:
            start = time.perf_counter()
            done = api.post(f"/api/v1/uploads/{upload}/commit", json=commit, headers=who.headers)
            took = time.perf_counter() - start
        assert done.status_code == 200, done.text
        after = _rss()
    print(
        json.dumps(
            {
                "files": args.files,
                "distinct": args.distinct,
                "manifest_mib": round(len(encoded) / MiB, 1),
                "commit_s": round(took, 2),
                "peak_mib": round((peak.peak - before) / MiB),
                "kept_mib": round((after - before) / MiB),
            }
        )
    )


if __name__ == "__main__":
    main()
