"""openb placement benchmark: every policy on every trace variant present, next to the paper.

Runs the FGD paper's protocol (`aicc sim openb`, docs/benchmarks-protocol.md §1) for each policy and
each `openb_pod_list_*.csv` in the trace folder, averaged over the seeds, and writes a markdown
table of unallocated GPU % and GPU allocation % at arrival 100, with the authors' published
figures (`fgd_expected_results/summary_by_workload_policy.csv`) side by side. Results are saved
per (variant, policy) in a JSON file as they finish, so an interrupted run resumes.

    .venv/bin/python benchmarks/openb.py --seeds 42-51 --out /tmp/openb.md
    .venv/bin/python benchmarks/openb.py --variants default --policies fgd,fgd-plus
    .venv/bin/python benchmarks/openb.py --policies default   # a scheduler profile, as served
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

from aicc.cli.sim import OPENB_DIR, parse_seeds
from aicc.scheduler.placement import POLICIES
from aicc.sim import openb

PUBLISHED = OPENB_DIR.parent / "fgd_expected_results" / "summary_by_workload_policy.csv"
PAPER_NAMES = {
    "random": "01-Random",
    "dot-product": "02-DotProd",
    "gpu-clustering": "03-GpuClustering",
    "gpu-packing": "04-GpuPacking",
    "best-fit": "05-BestFit",
    "fgd": "06-FGD",
}


def variants(folder: Path) -> list[str]:
    """Variant names (default first) of the pod lists in the folder."""
    names = sorted(p.stem.removeprefix("openb_pod_list_") for p in folder.glob("openb_pod_list_*"))
    return sorted(names, key=lambda v: (v != "default", v))


def published(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """(variant, paper policy) -> {"alloc": %, "unalloc": %} at arrival 100."""
    table: dict[tuple[str, str], dict[str, float]] = {}
    if not path.is_file():
        return table
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            variant = row["workload"].removeprefix("openb_pod_list_")
            table[variant, row["sc_policy"]] = {
                "alloc": float(row["alloc_mean@100"]),
                "unalloc": float(row["unalloc_mean@100"]),
            }
    return table


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown(
    results: dict[str, dict[str, Any]],
    paper: dict[tuple[str, str], dict[str, float]],
    variant_names: list[str],
    policy_names: list[str],
    ties: str,
) -> str:
    """Two tables (unallocated % and allocation % at arrival 100): policy rows, variant columns,
    each cell 'ours (paper)'; fgd-plus is set against the paper's FGD."""
    lines = []
    for key, title in (
        ("unalloc", "Unallocated GPU % at arrival 100"),
        ("alloc", "GPU alloc % @100"),
    ):
        lines.append(f"{title}, ours ({ties} ties) and (published), mean of seeds:\n")
        lines.append("| policy | " + " | ".join(variant_names) + " |")
        lines.append("|---|" + "---|" * len(variant_names))
        for policy in policy_names:
            cells = []
            for variant in variant_names:
                ours = results.get(f"{variant}/{policy}/{ties}")
                value = None
                if ours is not None:
                    value = (
                        ours["unallocated_pct_at_100"]
                        if key == "unalloc"
                        else ours["alloc_pct"]["100"]
                    )
                # ours without a published twin (fgd-plus, profiles) face the paper's FGD
                ref = paper.get((variant, PAPER_NAMES.get(policy, "06-FGD")))
                ref_text = f" ({ref[key]:.2f})" if ref else ""
                cells.append(_fmt(value) + ref_text)
            lines.append(f"| {policy} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trace-dir", type=Path, default=OPENB_DIR)
    parser.add_argument("--nodes", type=Path, default=None, help="default: the GPU node list")
    parser.add_argument("--variants", default="", help="comma-separated; default: all present")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--seeds", default="42-51")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--ties", default="random", choices=openb.TIES)
    parser.add_argument("--results", type=Path, default=Path("/tmp/aicc-openb-results.json"))
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default stdout)")
    args = parser.parse_args(argv)

    folder: Path = args.trace_dir
    if not folder.is_dir():
        print(
            f"no trace folder at {folder}; see aicc/cli/sim.py for where to get it", file=sys.stderr
        )
        return 2
    node_list = openb.load_nodes(args.nodes or folder / "openb_node_list_gpu_node.csv")
    variant_names = [v for v in args.variants.split(",") if v] or variants(folder)
    policy_names = [p for p in args.policies.split(",") if p]
    seeds = parse_seeds(args.seeds)
    results: dict[str, dict[str, Any]] = {}
    if args.results.is_file():
        results = json.loads(args.results.read_text())
    for variant in variant_names:
        pod_list = openb.load_pods(folder / f"openb_pod_list_{variant}.csv")
        for policy in policy_names:
            key = f"{variant}/{policy}/{args.ties}"
            if key in results and results[key]["seeds"] == seeds:
                continue
            began = time.monotonic()
            results[key] = openb.run(
                node_list, pod_list, policy, seeds, processes=args.processes, ties=args.ties
            )
            results[key]["wall_s"] = round(time.monotonic() - began, 1)
            args.results.write_text(json.dumps(results, indent=1))
            at100 = results[key]["alloc_pct"]["100"]
            print(f"{key}: alloc@100 {at100:.2f} ({results[key]['wall_s']} s)", file=sys.stderr)
    paper = published(folder.parent / "fgd_expected_results" / PUBLISHED.name)
    text = markdown(results, paper, variant_names, policy_names, args.ties)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
