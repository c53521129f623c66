"""What a job's own network namespace (`aicc/executors/netns.py`) adds to a replica's start and
to a gang's all-reduce, against the bubblewrap sandbox alone (issue 35, point 2).

Every replica of a sandboxed job runs in its job's namespace on its node: the first one pays
for making it (the launcher's and the holder's interpreters, `unshare`, loopback up), the
others join it (`setns`), and a gang's traffic then runs on the namespace's own loopback. Three
figures, each with and without the namespace, the sandbox the same (`sandbox.detect("bwrap")`):

- start: launch to the first line of `echo up` in the sandbox, `--starts` times, a fresh
  namespace each time (a job's first replica on a node);
- join: the same while one replica (`sleep`) holds the namespace (a job's later replicas);
- all-reduce: a torchrun-style 2-replica Gloo all-reduce of `--mib` MiB of float32 on
  MASTER_ADDR 127.0.0.1, `--iterations` after one warm-up, ms per all-reduce, rank 0's; the
  two ways alternate `--rounds` times.

Needs bubblewrap and torch, and user namespaces (or root). Prints JSON (ms).

    .venv/bin/python benchmarks/job_netns.py
    .venv/bin/python benchmarks/job_netns.py --starts 50 --mib 8 --rounds 5

`benchmarks/gang_link.py` runs the same all-reduce across the gang link.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aicc.executors import netns, sandbox
from aicc.testing.servers import free_port

ALL_REDUCE = """
import sys, time, torch, torch.distributed as dist
numel, iterations = int(sys.argv[1]), int(sys.argv[2])
dist.init_process_group("gloo")
t = torch.ones(numel)
dist.all_reduce(t)
start = time.perf_counter()
for _ in range(iterations):
    dist.all_reduce(t)
took = time.perf_counter() - start
dist.barrier()
if dist.get_rank() == 0:
    print(f"{took / iterations * 1000:.2f}")
dist.destroy_process_group()
"""


def boxed(box: sandbox.Sandbox, tmp: Path) -> list[str]:
    """The sandbox's argv for a replica whose only writable place is `tmp`."""
    return box.argv(writable=[tmp], cwd=tmp)


def alone(box: sandbox.Sandbox, tmp: Path, rank: int) -> list[str]:
    """A gang's replica in the sandbox alone."""
    return boxed(box, tmp)


def in_namespace(box: sandbox.Sandbox, tmp: Path, name: str, rank: int) -> list[str]:
    """A gang's replica in the sandbox, in the namespace `tmp/name` (made by the first)."""
    return [*netns.prefix(tmp / name), *boxed(box, tmp)]


def first_line(argv: list[str]) -> float:
    """Ms from launching `argv` (which prints a line) to reading that line."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    took = time.perf_counter() - start
    if proc.wait() != 0 or not line:
        raise RuntimeError(f"{argv[-2:]} failed (exit {proc.returncode})")
    return 1000 * took


def spread(runs: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(runs), 1), "min_ms": round(min(runs), 1)}


def all_reduce(
    tmp: Path,
    argv_of: Callable[[int], list[str]],
    env: dict[str, str],
    mib: int,
    iterations: int,
) -> float:
    """Ms per all-reduce of a 2-replica Gloo gang, each rank started as `argv_of(rank)` +
    python ALL_REDUCE with `env` on top of this process's (MASTER_ADDR, say)."""
    script = tmp / "all_reduce.py"
    script.write_text(ALL_REDUCE)
    port, procs = free_port(), []
    for rank in (0, 1):
        ranked = {"RANK": str(rank), "WORLD_SIZE": "2", "MASTER_PORT": str(port)}
        cmd = [*argv_of(rank), sys.executable, str(script), str(mib * 1024 * 1024 // 4)]
        procs.append(
            subprocess.Popen(
                [*cmd, str(iterations)],
                env={**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
                | ranked
                | env,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        out = procs[0].communicate(timeout=600)[0].strip()
        codes = [procs[0].returncode, procs[1].wait(timeout=60)]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if codes != [0, 0] or not out:
        raise RuntimeError(f"the all-reduce failed: exit codes {codes}")
    return float(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=20, help="launches timed each way")
    parser.add_argument("--mib", type=int, default=64, help="the all-reduce's tensor")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="all-reduces each way")
    args = parser.parse_args()
    box = sandbox.detect("bwrap")
    assert box is not None
    out: dict[str, Any] = {"starts": args.starts, "mib": args.mib, "iterations": args.iterations}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        echo = [*boxed(box, tmp), "echo", "up"]
        out["start_sandbox_alone"] = spread([first_line(echo) for _ in range(args.starts)])
        out["start_first_replica"] = spread(
            [first_line([*netns.prefix(tmp / f"s{i}"), *echo]) for i in range(args.starts)]
        )
        holding = tmp / "held"
        holder = subprocess.Popen([*netns.prefix(holding), *boxed(box, tmp), "sleep", "600"])
        try:
            out["start_joining_replica"] = spread(
                [first_line([*netns.prefix(holding), *echo]) for _ in range(args.starts)]
            )
        finally:
            holder.kill()  # the sandbox ignores SIGTERM (a supervisor's); its sleep dies with it
            holder.wait()
        runs: dict[str, list[float]] = {"all_reduce_sandbox_alone": [], "all_reduce_namespace": []}
        for n in range(args.rounds):
            ways: dict[str, Callable[[int], list[str]]] = {
                "all_reduce_sandbox_alone": functools.partial(alone, box, tmp),
                # both ranks in one namespace, a fresh one each round: one's launch makes it,
                # the other's joins
                "all_reduce_namespace": functools.partial(in_namespace, box, tmp, f"gang{n}"),
            }
            for way, argv_of in ways.items():
                runs[way].append(all_reduce(tmp, argv_of, {}, args.mib, args.iterations))
        for way, ms in runs.items():
            out[way] = {"runs_ms": ms, "median_ms": statistics.median(ms)}
    outside, inside = out["all_reduce_sandbox_alone"], out["all_reduce_namespace"]
    out["all_reduce_ratio"] = round(inside["median_ms"] / outside["median_ms"], 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
