"""The checks of a burn-in, each a figure with its unit, or a reason it was skipped.

Short by design (`duration_s` per CPU and memory figure, `disk_mib` and `network_mib` of
traffic): a burn-in shows that a node is as its peers, not how fast it could go.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# figure name -> unit; every figure is "more is better"
FIGURES: dict[str, str] = {
    "cpu_gflops": "GFLOP/s",
    "cpu_hash_mbs": "MB/s",
    "memory_gbs": "GB/s",
    "disk_write_mbs": "MB/s",
    "disk_read_mbs": "MB/s",
    "network_mbs": "MB/s",
}
MIB = 1 << 20
DCGM_TIMEOUT_S = 900.0  # `dcgmi diag -r 1` takes about a minute on a healthy node


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str


@dataclass
class Result:
    """Figures measured, checks skipped with their reason, and the GPU check's verdict."""

    figures: dict[str, Figure] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    gpu: dict[str, str] = field(default_factory=dict)  # {"state": passed|failed|skipped, ...}

    def as_json(self, version: int) -> dict[str, object]:
        return {
            "version": version,
            "figures": {k: {"value": f.value, "unit": f.unit} for k, f in self.figures.items()},
            "skipped": dict(self.skipped),
            "gpu": dict(self.gpu),
        }


def _timed(seconds: float, once: object) -> tuple[int, float]:
    """Call `once` until `seconds` passed (at least twice): rounds done and time taken."""
    rounds, start = 0, time.perf_counter()
    while rounds < 2 or time.perf_counter() - start < seconds:
        once()  # type: ignore[operator]
        rounds += 1
    return rounds, time.perf_counter() - start


def cpu_gflops(seconds: float, n: int = 512) -> float:
    """Dense float64 matrix products (2n³ FLOPs each), on as many cores as BLAS takes."""
    a = np.random.default_rng(0).random((n, n))
    b = np.random.default_rng(1).random((n, n))
    rounds, took = _timed(seconds, lambda: a @ b)
    return 2 * n**3 * rounds / took / 1e9


def cpu_hash_mbs(seconds: float) -> float:
    """SHA-256 of 1 MiB blocks on one core: the single-core figure BLAS does not hide."""
    block = os.urandom(MIB)
    rounds, took = _timed(seconds, lambda: hashlib.sha256(block).digest())
    return rounds * MIB / took / 1e6


def memory_gbs(seconds: float, mib: int = 128) -> float:
    """Copy bandwidth of a buffer far larger than the caches (read and write counted)."""
    src = np.ones(mib * MIB // 8)
    dst = np.empty_like(src)
    rounds, took = _timed(seconds, lambda: np.copyto(dst, src))
    return 2 * src.nbytes * rounds / took / 1e9


def disk_mbs(scratch: Path, mib: int) -> tuple[float, float]:
    """Write `mib` MiB, fsync, read back: (write MB/s, read MB/s). The read may come from the
    page cache; the write is to the device, as fsync makes it."""
    path = scratch / "aicc-burnin.bin"
    block = os.urandom(MIB)
    try:
        start = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            for _ in range(mib):
                os.write(fd, block)
            os.fsync(fd)
        finally:
            os.close(fd)
        wrote = time.perf_counter() - start
        start = time.perf_counter()
        with open(path, "rb") as handle:
            while handle.read(8 * MIB):
                pass
        read = time.perf_counter() - start
    finally:
        path.unlink(missing_ok=True)
    size = mib * MIB / 1e6
    return size / wrote, size / read


def network_mbs(peer: str, mib: int, timeout_s: float = 30.0) -> float:
    """Send `mib` MiB to the server's sink at `peer` (HOST:PORT), which answers with one byte
    once it has them all: the time covers delivery, not only the local send buffer."""
    host, _, port = peer.rpartition(":")
    block = bytes(MIB)
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s) as conn:
        start = time.perf_counter()
        for _ in range(mib):
            conn.sendall(block)
        conn.shutdown(socket.SHUT_WR)
        if conn.recv(1) != b"!":
            raise OSError("the sink did not confirm what it received")
        took = time.perf_counter() - start
    return mib * MIB / took / 1e6


def gpu_check() -> dict[str, str]:
    """DCGM's quick diagnostic where `dcgmi` is installed; else whether `nvidia-smi` answers;
    else skipped with the reason."""
    if shutil.which("dcgmi"):
        done = _command(["dcgmi", "diag", "-r", "1"], DCGM_TIMEOUT_S)
        if done is None:
            return {"state": "failed", "tool": "dcgmi", "detail": "dcgmi diag -r 1 timed out"}
        text = (done.stdout + done.stderr)[-2000:]
        failed = done.returncode != 0 or "fail" in text.lower()
        return {"state": "failed" if failed else "passed", "tool": "dcgmi", "detail": text}
    if shutil.which("nvidia-smi"):
        done = _command(["nvidia-smi", "-L"], 60.0)
        if done is None or done.returncode != 0:
            return {"state": "failed", "tool": "nvidia-smi", "detail": "nvidia-smi -L failed"}
        detail = "no DCGM on this node; nvidia-smi lists: " + done.stdout.strip()[-1500:]
        return {"state": "passed", "tool": "nvidia-smi", "detail": detail}
    return {"state": "skipped", "tool": "", "detail": "skipped: no DCGM on this node"}


def _command(argv: list[str], timeout_s: float) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return None


def run(
    *,
    seconds: float,
    scratch: Path,
    disk_mib: int,
    network_mib: int,
    peer: str | None,
    gpus: int | None = None,
) -> Result:
    """Every check in turn; a check that raises is recorded as skipped with its error (the
    server then finds its figure missing, which fails the burn-in where a reference exists).
    `gpus`: the accelerators granted to the job (None: not known, check what is there)."""
    result = Result()
    measures = {
        "cpu_gflops": lambda: cpu_gflops(seconds),
        "cpu_hash_mbs": lambda: cpu_hash_mbs(seconds),
        "memory_gbs": lambda: memory_gbs(seconds),
    }
    for name, measure in measures.items():
        _record(result, name, measure)
    try:
        write, read = disk_mbs(scratch, disk_mib)
        result.figures["disk_write_mbs"] = Figure(round(write, 3), FIGURES["disk_write_mbs"])
        result.figures["disk_read_mbs"] = Figure(round(read, 3), FIGURES["disk_read_mbs"])
    except OSError as err:
        result.skipped["disk"] = f"failed: {err}"
    if peer:
        try:
            value = network_mbs(peer, network_mib)
            result.figures["network_mbs"] = Figure(round(value, 3), FIGURES["network_mbs"])
        except OSError as err:
            result.skipped["network_mbs"] = (
                f"skipped: {peer} is out of reach from this job ({err}); a sandboxed job's "
                "own network reaches no port of the server"
            )
    else:
        result.skipped["network"] = "skipped: no peer reachable from this node was given"
    if gpus == 0:  # a sandbox shows a job only the devices it was granted
        detail = "skipped: no accelerator of this node was free for the burn-in (or it has none)"
        result.gpu = {"state": "skipped", "tool": "", "detail": detail}
    else:
        result.gpu = gpu_check()
    return result


def _record(result: Result, name: str, measure: object) -> None:
    try:
        value = float(measure())  # type: ignore[operator]
    except (OSError, ValueError, MemoryError) as err:
        result.skipped[name] = f"failed: {err}"
        return
    result.figures[name] = Figure(round(value, 3), FIGURES[name])
