"""Data sets against DVC on the same files (issue 18): hashing, stored bytes after an edit, and
a push of an unchanged directory against `dvc status`.

.venv/bin/python benchmarks/data.py --size-gib 1 --files 100000   # the recorded run
.venv/bin/python benchmarks/data.py                               # a quick one (smaller)

(a) hashing: `core.datasets.cut` (FastCDC + BLAKE3, one thread) over SIZE of random bytes in
    memory, best and median of three, in GB/s (10^9 bytes).
(b) stored bytes: a SIZE file pushed as v1, then edited as v2. AICC stores the chunks of v2 whose
    digests v1 lacks; DVC (`dvc add` twice in a `dvc init --no-scm` repo) stores what
    `.dvc/cache` grows by. Edits: 1% of the bytes overwritten in 10 scattered places; 1% inserted
    in 10 places; 100 bytes inserted in the middle.
(c) an unchanged directory of FILES small files: `aicc.sdk.datasets` push (a real server over HTTP
    on loopback, the stat cache warm) against `dvc status` (after `dvc add`, warm), best of three.

Data goes under a temporary directory in /tmp, deleted at the end. DVC: `pip install dvc`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aicc.core.datasets import cut

GB = 10**9
GIB = 1 << 30


def random_bytes(rng: random.Random, size: int) -> bytes:
    """Reproducible random bytes (randbytes takes at most 256 MiB at a time)."""
    step = 64 << 20
    return b"".join(rng.randbytes(min(step, size - at)) for at in range(0, size, step))


def hashing(data: bytes) -> dict[str, float]:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        cut(data)
        times.append(time.perf_counter() - start)
    return {
        "best_gb_s": len(data) / min(times) / GB,
        "median_gb_s": len(data) / statistics.median(times) / GB,
    }


def overwrite(data: bytes, rng: random.Random) -> bytes:
    """1% of the bytes overwritten with new random bytes, in 10 places spread over the file."""
    out = bytearray(data)
    piece = len(data) // 1000
    segment = len(data) // 10
    for i in range(10):
        at = i * segment + rng.randrange(segment - piece)
        out[at : at + piece] = rng.randbytes(piece)
    return bytes(out)


def insert(data: bytes, rng: random.Random) -> bytes:
    """1% of the file's size inserted as new random bytes, in 10 places spread over the file."""
    piece = len(data) // 1000
    segment = len(data) // 10
    cuts = sorted(i * segment + rng.randrange(segment) for i in range(10))
    parts, last = [], 0
    for at in cuts:
        parts += [data[last:at], rng.randbytes(piece)]
        last = at
    return b"".join([*parts, data[last:]])


def insert_small(data: bytes, rng: random.Random) -> bytes:
    """100 bytes inserted in the middle: everything after it shifts."""
    middle = len(data) // 2
    return data[:middle] + rng.randbytes(100) + data[middle:]


EDITS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "overwrite 1% in 10 places": overwrite,
    "insert 1% in 10 places": insert,
    "insert 100 B in the middle": insert_small,
}


def aicc_growth(v1: bytes, v2: bytes) -> int:
    """Bytes v2 adds to a content-addressed store that holds v1: its chunks v1 lacks."""
    old = {c.digest for c in cut(v1)}
    new = {c.digest: c.size for c in cut(v2) if c.digest not in old}
    return sum(new.values())


def dvc(work: Path, *args: str) -> float:
    """Run DVC in `work`; the seconds it took."""
    start = time.perf_counter()
    subprocess.run([DVC, *args], cwd=work, check=True, capture_output=True)
    return time.perf_counter() - start


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def dvc_repo(base: Path, name: str) -> Path:
    work = base / name
    work.mkdir()
    dvc(work, "init", "--no-scm", "-q")
    dvc(work, "config", "core.analytics", "false")
    return work


def dvc_growth(base: Path, v1: bytes, v2: bytes) -> tuple[int, float]:
    """What `.dvc/cache` grows by when v2 is added after v1, and the second `dvc add`'s time."""
    work = dvc_repo(base, "dvc-edit")
    try:
        (work / "data.bin").write_bytes(v1)
        dvc(work, "add", "-q", "data.bin")
        before = tree_bytes(work / ".dvc" / "cache")
        (work / "data.bin").unlink()  # a new file, not a write into a cache link
        (work / "data.bin").write_bytes(v2)
        seconds = dvc(work, "add", "-q", "data.bin")
        return tree_bytes(work / ".dvc" / "cache") - before, seconds
    finally:
        shutil.rmtree(work)


def small_files(root: Path, count: int, rng: random.Random) -> None:
    """`count` files of 100 B to 4 KiB, 1,000 to a folder."""
    for i in range(count):
        folder = root / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"f{i:06d}.txt").write_bytes(rng.randbytes(rng.randrange(100, 4096)))


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def unchanged_push(base: Path, tree: Path) -> dict[str, float] | str:
    """A push of `tree` (cold, then unchanged and warm) to a real server over HTTP."""
    try:
        from aicc.sdk.datasets import StatCache
    except ImportError:
        return "skipped: aicc.sdk.datasets (the lead's SDK push) is not on this branch"
    from aicc.sdk.client import Client
    from aicc.testing.servers import over_http

    with over_http(base / "home", loops=False) as (url, token, _), Client(url, token) as client:
        cache = StatCache(base / "stat.db")
        start = time.perf_counter()
        first = client.datasets.push("small", tree, cache=cache)
        cold = time.perf_counter() - start
        again = best_of(3, lambda: client.datasets.push("small", tree, cache=cache))
        last = client.datasets.push("small", tree, cache=cache)
        assert not last.created, "an unchanged directory made a new version"
        assert first.version.number == last.version.number
        cache.close()
    return {"cold_s": cold, "unchanged_s": again}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size-gib", type=float, default=0.125, help="the large file (b), data (a)"
    )
    parser.add_argument("--files", type=int, default=2000, help="small files for (c)")
    parser.add_argument("--only", choices=["a", "b", "c"], action="append", help="parts to run")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    parts = set(args.only or "abc")
    rng = random.Random(args.seed)
    size = int(args.size_gib * GIB)
    base = Path(tempfile.mkdtemp(prefix="aicc-bench-data-", dir="/tmp"))
    print(f"size {size / GIB:.3f} GiB, {args.files} small files, DVC {dvc_version()}, in {base}")
    try:
        data = random_bytes(rng, size) if parts & {"a", "b"} else b""
        if "a" in parts:
            speed = hashing(data)
            print(
                f"(a) cut (FastCDC + BLAKE3, 1 thread) on {size / GIB:.3f} GiB: "
                f"best {speed['best_gb_s']:.2f} GB/s, median {speed['median_gb_s']:.2f} GB/s"
            )
        if "b" in parts:
            print("(b) stored bytes after an edit, as % of the file's size")
            print("    edit | AICC | DVC | DVC/AICC | dvc add of v2")
            for name, edit in EDITS.items():
                v2 = edit(data, rng)
                ours = aicc_growth(data, v2)
                theirs, seconds = dvc_growth(base, data, v2)
                print(
                    f"    {name} | {ours / size:.2%} ({ours / 2**20:.1f} MiB) | "
                    f"{theirs / size:.2%} ({theirs / 2**20:.1f} MiB) | "
                    f"{theirs / max(ours, 1):.1f}x | {seconds:.1f} s"
                )
            del data, v2
        if "c" in parts:
            work = dvc_repo(base, "dvc-small")
            tree = work / "small"  # the same files for both
            small_files(tree, args.files, rng)
            add = dvc(work, "add", "-q", "small")
            status = best_of(3, lambda: dvc(work, "status", "-q"))
            print(f"(c) {args.files} small files: dvc add {add:.1f} s, dvc status {status:.2f} s")
            ours = unchanged_push(base, tree)
            if isinstance(ours, str):
                print(f"    AICC: {ours}")
            else:
                print(
                    f"    AICC push: first {ours['cold_s']:.1f} s, unchanged "
                    f"{ours['unchanged_s']:.2f} s; dvc status / AICC unchanged push = "
                    f"{status / ours['unchanged_s']:.1f}x"
                )
    finally:
        shutil.rmtree(base, ignore_errors=True)


def dvc_version() -> str:
    try:
        return subprocess.run([DVC, "--version"], capture_output=True, text=True).stdout.strip()
    except FileNotFoundError:
        sys.exit(f"DVC not found at {DVC}: pip install dvc")


DVC = os.environ.get("DVC", str(Path(sys.executable).with_name("dvc")))

if __name__ == "__main__":
    main()
