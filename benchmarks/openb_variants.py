"""CPU-heavy variants of openb's default pod list, for issue 38.1's "the more CPU-only pods, the
smaller the lead".

The shared variants (`cpu050`, `cpu100`) hold fewer CPU-only pods than `default` (375 and 789
against 1,088 of 8,152). This writes variants with more: GPU pods drawn at random (seeded) are
replaced by CPU-only pods drawn from `default`'s, each keeping the replaced pod's name and
times, so the arrival process stays the trace's. The node lists are copied beside them, so the
folder is a `--trace-dir` for `benchmarks/openb.py`:

    .venv/bin/python benchmarks/openb_variants.py --out /tmp/openbv --shares 0.25,0.35
    .venv/bin/python benchmarks/openb.py --trace-dir /tmp/openbv \\
        --variants cpuheavy25,cpuheavy35 --policies fgd,default --seeds 42-51

The trace is read from ../shared/data/traces and nothing of it is committed.
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
from pathlib import Path

TRACE = Path(__file__).resolve().parents[2] / "shared/data/traces/alibaba-gpu-v2023-openb/csv"
KEPT = ("name", "creation_time", "deletion_time", "scheduled_time", "pod_phase")


def variant(rows: list[dict[str, str]], share: float, seed: int) -> list[dict[str, str]]:
    """`rows` with GPU pods replaced by CPU-only ones until `share` of the pods are CPU-only."""
    rng = random.Random(seed)
    cpu_only = [row for row in rows if row["num_gpu"] == "0"]
    out = [dict(row) for row in rows]
    gpu_rows = [i for i, row in enumerate(out) if row["num_gpu"] != "0"]
    missing = int(share * len(out)) - len(cpu_only)
    if missing < 0:
        raise ValueError(f"the default list already has more than {share:.0%} CPU-only pods")
    for i in rng.sample(gpu_rows, missing):
        kept = {key: out[i][key] for key in KEPT}
        out[i] = dict(rng.choice(cpu_only)) | kept
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace-dir", type=Path, default=TRACE)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shares", default="0.25,0.35", help="CPU-only shares, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for nodes in args.trace_dir.glob("openb_node_list_*.csv"):
        shutil.copy(nodes, args.out / nodes.name)
    with (args.trace_dir / "openb_pod_list_default.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for share in (float(s) for s in args.shares.split(",")):
        path = args.out / f"openb_pod_list_cpuheavy{round(share * 100)}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(variant(rows, share, args.seed))
        print(path)


if __name__ == "__main__":
    main()
