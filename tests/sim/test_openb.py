"""The openb protocol on small synthetic traces: loaders, arrival order, metrics, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from aicc.cli import sim as sim_cli
from aicc.scheduler.placement import TaskShape
from aicc.sim import openb, synthetic

runner = CliRunner()


def write_trace(folder: Path, *, five_columns: bool = False) -> tuple[Path, Path]:
    """A synthetic trace as openb CSVs (the multigpu variants' 5-column pod list optionally)."""
    nodes, pods = synthetic.nodes(seed=3), synthetic.pods(seed=3)
    node_csv = folder / "nodes.csv"
    rows = ["sn,cpu_milli,memory_mib,gpu,model"]
    for i, name in enumerate(nodes.names):
        rows.append(
            f"{name},{nodes.cpu_milli[i]},{nodes.memory_mib[i]},{nodes.gpus[i]},{nodes.model[i]}"
        )
    node_csv.write_text("\n".join(rows) + "\n")
    pod_csv = folder / "pods.csv"
    header = "name,cpu_milli,memory_mib,num_gpu,gpu_milli"
    rows = [header if five_columns else header + ",gpu_spec,qos,pod_phase"]
    for name, index in zip(pods.names, pods.shape, strict=True):
        s = pods.shapes[int(index)]
        row = f"{name},{s.cpu_milli},{s.memory_mib},{s.count},{s.milli}"
        if not five_columns:
            row += f",{'|'.join(s.models or ())},LS,Running"
        rows.append(row)
    pod_csv.write_text("\n".join(rows) + "\n")
    return node_csv, pod_csv


def test_loaders_read_gpu_spec_and_the_five_column_variant(tmp_path: Path) -> None:
    node_csv, pod_csv = write_trace(tmp_path)
    nodes, pods = openb.load_nodes(node_csv), openb.load_pods(pod_csv)
    assert len(nodes.names) == 60 and len(pods.names) == 300
    assert any(s.models == ("t4", "p100") for s in pods.shapes)  # matched case-insensitively
    (tmp_path / "five").mkdir()
    _, five = write_trace(tmp_path / "five", five_columns=True)
    five_pods = openb.load_pods(five)
    assert all(s.models is None for s in five_pods.shapes)
    assert len(five_pods.shapes) < len(pods.shapes)  # shapes differing only by model merge
    assert isinstance(five_pods.shapes[0], TaskShape)


def test_arrivals_shuffle_the_trace_then_resample_up_to_1_3x() -> None:
    nodes, pods = synthetic.nodes(seed=0), synthetic.pods(seed=0)
    capacity = nodes.gpu_capacity_milli
    assert 0.8 < pods.gpu_milli.sum() / capacity < 1.0
    order = openb.arrivals(pods, capacity, seed=42)
    assert sorted(order[:300].tolist()) == list(range(300))  # every pod once, shuffled
    assert order[:300].tolist() != list(range(300))
    assert pods.gpu_milli[order].sum() <= openb.TUNE_RATIO * capacity
    assert pods.gpu_milli[order].sum() > openb.TUNE_RATIO * capacity - 8_000
    assert (openb.arrivals(pods, capacity, seed=42) == order).all()
    # a trace that alone asks for more than 1.3x capacity is trimmed at random
    trimmed = openb.arrivals(pods, capacity // 4, seed=42)
    assert pods.gpu_milli[trimmed].sum() <= openb.TUNE_RATIO * capacity // 4
    assert len(set(trimmed.tolist())) == len(trimmed)


def test_metrics_round_half_to_even_and_fall_back_to_neighbours() -> None:
    cap = 1000
    arrived = np.array([795, 805, 895, 905, 1000, 1300])  # 79.5 -> 80, 80.5 -> 80, 89.5 -> 90
    allocated = np.array([700, 710, 800, 820, 900, 950])
    trace = openb.Trace(arrived, allocated, np.full(6, np.nan), cap, placed=6, seconds=1.0)
    result = openb.metrics(trace)
    assert result["alloc_pct"]["80"] == pytest.approx(70.5)
    assert result["alloc_pct"]["90"] == pytest.approx(81.0)  # 89.5 and 90.5 both round to 90
    assert result["alloc_pct"]["95"] is None  # nothing within 94..96
    assert result["alloc_pct"]["110"] is None
    assert result["unallocated_pct_at_100"] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("policy", "ties"),
    [("random", "random"), ("fgd", "random"), ("fgd", "node-order"), ("fgd-plus", "random")],
)
def test_protocol_on_a_synthetic_trace(policy: str, ties: str) -> None:
    nodes, pods = synthetic.nodes(seed=1), synthetic.pods(seed=1)
    trace = openb.simulate(nodes, pods, policy, seed=42, ties=ties)
    assert (np.diff(trace.arrived) >= 0).all() and (np.diff(trace.allocated) >= 0).all()
    assert (trace.allocated <= trace.arrived).all()
    assert trace.arrived[-1] <= openb.TUNE_RATIO * trace.capacity_milli
    result = openb.metrics(trace)
    assert set(result) >= {"alloc_pct", "unallocated_pct_at_100", "frag_ratio_pct_at_90"}
    assert list(result["alloc_pct"]) == ["80", "90", "95", "100", "110", "130"]
    for k, value in result["alloc_pct"].items():
        assert value is None or value <= int(k) + 1
    assert 0 <= result["frag_ratio_pct_at_90"] <= 100


def test_run_averages_seeds_in_worker_processes() -> None:
    nodes, pods = synthetic.nodes(30, seed=2), synthetic.pods(150, seed=2)
    seen: list[int] = []
    result = openb.run(
        nodes, pods, "best-fit", [43, 42], processes=2, on_seed=lambda r: seen.append(r["seed"])
    )
    assert sorted(seen) == [42, 43] and result["seeds"] == [42, 43]
    at100 = [r["alloc_pct"]["100"] for r in result["per_seed"]]
    assert result["alloc_pct"]["100"] == pytest.approx(sum(at100) / 2)
    again = openb.run(nodes, pods, "best-fit", [42, 43], processes=1)
    assert again["alloc_pct"] == result["alloc_pct"]


def test_cli_prints_the_issue_json(tmp_path: Path) -> None:
    node_csv, pod_csv = write_trace(tmp_path)
    args = ["openb", "--nodes", str(node_csv), "--pods", str(pod_csv), "--policy", "gpu-packing"]
    answer = runner.invoke(sim_cli.app, [*args, "--seeds", "42-43", "--json"])
    assert answer.exit_code == 0, answer.output
    data = json.loads(answer.stdout)
    assert set(data["alloc_pct"]) == {"80", "90", "95", "100", "110", "130"}
    assert {"unallocated_pct_at_100", "frag_ratio_pct_at_90", "per_seed"} <= set(data)
    assert [r["seed"] for r in data["per_seed"]] == [42, 43]
    table = runner.invoke(sim_cli.app, [*args, "--seeds", "42", "--processes", "1"])
    assert table.exit_code == 0 and "mean" in table.stdout


def test_cli_mounts_as_aicc_sim_openb(tmp_path: Path) -> None:
    node_csv, pod_csv = write_trace(tmp_path)
    parent = typer.Typer()
    parent.add_typer(sim_cli.app, name="sim")  # as aicc/cli/main.py mounts it
    args = ["sim", "openb", "--nodes", str(node_csv), "--pods", str(pod_csv), "--seeds", "42"]
    answer = runner.invoke(parent, [*args, "--policy", "fgd", "--ties", "node-order", "--json"])
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout)["ties"] == "node-order"


def test_cli_errors_say_where_to_get_the_trace(tmp_path: Path) -> None:
    answer = runner.invoke(sim_cli.app, ["openb", "--nodes", str(tmp_path / "missing.csv")])
    assert answer.exit_code == 1
    assert "kubernetes-scheduler-simulator" in answer.output
    answer = runner.invoke(sim_cli.app, ["openb", "--policy", "nope"])
    assert answer.exit_code == 1 and "unknown policy" in answer.output
    assert sim_cli.parse_seeds("42-44,50") == [42, 43, 44, 50]


def replay_with_fresh_cycles(
    nodes: openb.NodeList, pods: openb.PodList, seed: int, arrivals: int
) -> list[str]:
    """What the live server would do: a fresh `schedule()` per arrival over the nodes as they are
    (placed pods running, the arriving one pending), in the node order `node-order` lists them."""
    from dataclasses import replace

    from aicc.scheduler.framework import schedule
    from aicc.scheduler.profiles import get_profile
    from aicc.scheduler.snapshot import Bind, DeviceView, JobView, NodeView, Snapshot

    prof = replace(get_profile("default"), reserve=None, preempt=None)
    listing = np.argsort(np.random.default_rng([seed, 2]).permutation(len(nodes.names)))
    views = [
        NodeView(
            nodes.names[i],
            int(nodes.cpu_milli[i]),
            int(nodes.memory_mib[i]),
            [DeviceView(d, nodes.model[i], 0) for d in range(int(nodes.gpus[i]))],
            total_cpu_milli=int(nodes.cpu_milli[i]),
            total_memory_mib=int(nodes.memory_mib[i]),
        )
        for i in listing
    ]
    by_name = {v.name: v for v in views}
    running: list[JobView] = []
    where = []
    order = openb.arrivals(pods, nodes.gpu_capacity_milli, seed)[:arrivals]
    for k, pod in enumerate(order):
        request = pods.shapes[int(pods.shape[pod])].request()
        job = JobView(f"pod-{k}", 1, request, 100, openb.SIM_NOW)
        (decision,) = schedule(Snapshot(openb.SIM_NOW, views, [job], list(running)), prof)
        if not isinstance(decision, Bind):
            where.append("")
            continue
        (spot,) = decision.placements
        view = by_name[spot.node]
        view.free_cpu_milli -= request.cpu_milli
        view.free_memory_mib -= request.memory_mib
        for pick in spot.devices:
            view.devices[pick.index].free_milli -= pick.milli
        running.append(replace(job, started_at=openb.SIM_NOW, placements=decision.placements))
        where.append(spot.node)
    return where


def test_a_profile_places_each_pod_as_a_fresh_server_cycle_would() -> None:
    """`--policy default` runs the server's own cycle with the online workload (the pods placed
    so far and the arriving one): pod by pod, the same nodes as a new `schedule()` per arrival."""
    nodes, pods = synthetic.nodes(12, seed=4), synthetic.pods(60, seed=4)
    trace = openb.simulate(nodes, pods, "default", seed=42, ties="node-order")
    assert trace.where is not None
    assert trace.where[:40] == replay_with_fresh_cycles(nodes, pods, 42, 40)
    assert trace.placed == sum(1 for w in trace.where if w) > 0


@pytest.mark.parametrize("ties", openb.TIES)
def test_every_profile_runs_the_protocol(ties: str) -> None:
    nodes, pods = synthetic.nodes(30, seed=2), synthetic.pods(150, seed=2)
    for name in ("default", "fifo", "spread"):
        trace = openb.simulate(nodes, pods, name, seed=43, ties=ties)
        assert (np.diff(trace.allocated) >= 0).all() and (trace.allocated <= trace.arrived).all()
        assert trace.placed > 100


def test_cli_runs_a_profile_and_names_both_kinds_when_unknown(tmp_path: Path) -> None:
    node_csv, pod_csv = write_trace(tmp_path)
    args = ["openb", "--nodes", str(node_csv), "--pods", str(pod_csv), "--seeds", "42"]
    answer = runner.invoke(sim_cli.app, [*args, "--policy", "default", "--json"])
    assert answer.exit_code == 0, answer.output
    data = json.loads(answer.stdout)
    assert data["policy"] == "default" and data["per_seed"][0]["placed"] > 0
    answer = runner.invoke(sim_cli.app, [*args, "--policy", "defualt"])
    assert answer.exit_code == 1
    assert "fgd-plus" in answer.output and "fifo" in answer.output
