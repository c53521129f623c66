"""`aicc sim ...`: trace simulations that run the scheduler's own placement code, offline.

numpy and the simulator are imported inside the commands, so `aicc --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress

from aicc.cli.output import Column, err, fail, print_json, print_table, status

if TYPE_CHECKING:
    from aicc.sim.green import GreenConfig
    from aicc.sim.jobs import TraceJob

app = typer.Typer(help="Simulate the scheduler on public traces.", no_args_is_help=True)

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENB_DIR = REPO_ROOT.parent / "shared" / "data" / "traces" / "alibaba-gpu-v2023-openb" / "csv"
OPENB_NODES = OPENB_DIR / "openb_node_list_gpu_node.csv"
OPENB_PODS = OPENB_DIR / "openb_pod_list_default.csv"
PHILLY = REPO_ROOT.parent / "shared" / "data" / "traces" / "philly-sia" / "philly.csv"
PHILLY_ORIGIN = (
    "get philly.csv from github.com/siasosp23/artifacts, sia-simulator/traces/ (a per-job table "
    "of the Microsoft Philly trace), and pass --trace"
)
OPENB_ORIGIN = (
    "get the openb CSVs from github.com/hkust-adsl/kubernetes-scheduler-simulator, folder "
    "data/csv/ (or alibaba/clusterdata, cluster-trace-gpu-v2023/csv/), and pass --nodes/--pods"
)


#: Every simulation prints its results as a table, or as JSON with this flag.
SimJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
PhillyTrace = Annotated[
    Path | None,
    typer.Option(
        "--trace",
        help="Philly per-job CSV (default: philly.csv under ../shared/data/traces).",
        show_default=False,
    ),
]


@app.callback()
def main() -> None:
    """Simulate the scheduler's placement on public traces (offline; no server needed)."""


def parse_seeds(text: str) -> list[int]:
    """'42-51', '42,45,47' or '42' (ranges inclusive, parts comma-separated)."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        if not (low.isdigit() and (high.isdigit() if dash else True)) or (
            dash and int(high) < int(low)
        ):
            raise typer.BadParameter(f"{text!r}: give seeds as 42-51 or 42,43,44")
        seeds.extend(range(int(low), int(high) + 1) if dash else [int(low)])
    return list(dict.fromkeys(seeds))


def _trace_file(given: Path | None, default: Path, what: str, origin: str = OPENB_ORIGIN) -> Path:
    path = given or default
    if not path.is_file():
        if given is None:
            fail(f"the default {what} is not at {default}", origin)
        fail(f"no such file: {path}", origin)
    return path


CHECKPOINT_EVERY_S = 300.0
VC_ROWS = 10  # virtual clusters the table shows, worst mean slowdown first


class _Saver:
    """Pickles the simulation to `path` at most every `CHECKPOINT_EVERY_S` seconds of wall
    time, through a temporary file, so a crash never leaves half a checkpoint."""

    def __init__(self, path: Path, key: tuple[object, ...]) -> None:
        import time

        self.path, self.key = path, key
        self.clock = time.monotonic
        self.last = self.clock()

    def __call__(self, sim: object) -> None:
        if self.clock() - self.last >= CHECKPOINT_EVERY_S:
            self.save(sim)

    def save(self, sim: object) -> None:
        import os
        import pickle

        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("wb") as handle:
            pickle.dump({"key": self.key, "simulation": sim}, handle, pickle.HIGHEST_PROTOCOL)
        os.replace(partial, self.path)
        self.last = self.clock()


def _resume(path: Path, key: tuple[object, ...]) -> Any:
    """The simulation saved at `path` for the same arguments, or None when there is none."""
    import pickle

    if not path.exists():
        return None
    try:
        with path.open("rb") as handle:
            saved = pickle.load(handle)  # the user's own file (see --checkpoint)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        fail(f"cannot read the checkpoint {path}: {exc}", "delete it to start over")
    if not isinstance(saved, dict) or saved.get("key") != key:
        fail(
            f"the checkpoint {path} was written by a simulation with other arguments",
            "pass the same --trace/--gpus/--policy/--from/--to/--seed/--sigma, or another file",
        )
    return saved["simulation"]


def _progress() -> Progress:
    """A bar on stderr (so `--json` output stays clean) that disappears when done."""
    from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _pct(value: Any) -> str | None:
    return None if value is None else f"{value:.2f}"


def _alloc_at(k: int) -> Callable[[dict[str, Any]], str | None]:
    return lambda row: _pct(row["alloc_pct"][str(k)])


@app.command("openb")
def openb_command(
    nodes: Annotated[
        Path | None,
        typer.Option(
            "--nodes",
            help="Node list CSV (default: the 1,213 GPU nodes under ../shared/data/traces).",
            show_default=False,
        ),
    ] = None,
    pods: Annotated[
        Path | None,
        typer.Option(
            "--pods", help="Pod list CSV (default: openb_pod_list_default.csv).", show_default=False
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="A placement policy (fgd, fgd-plus, best-fit, ...) or a scheduler profile "
            "(default, fifo, ...): a profile places through the server's own cycle.",
        ),
    ] = "fgd",
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds, e.g. 42-51 or 42,43.")] = "42-51",
    processes: Annotated[
        int, typer.Option("--processes", min=1, help="Worker processes (one seed each).")
    ] = 2,
    ties: Annotated[
        str,
        typer.Option(
            "--ties",
            help="Equal best scores: 'random' per decision (the protocol, kube-scheduler) or "
            "'node-order' (first in a seeded node order, as the FGD authors' simulator).",
        ),
    ] = "random",
    as_json: SimJson = False,
) -> None:
    """Replay the FGD paper's openb experiment (docs/benchmarks-protocol.md §1) with one policy.

    Per seed: shuffle the pods, append resampled pods up to 1.3x the GPU capacity, place them one
    at a time (nothing departs, what does not fit is dropped), and report the GPU allocation %
    at 80..130 % of the capacity requested. Results are averaged over the seeds. A scheduler
    profile (--policy default) offers each pod to the server's own scheduling cycle, its
    placement policy fed the task mix of the pods placed so far and the one arriving.
    """
    from aicc.sim import openb

    _check_openb(policy, ties)
    seed_list = parse_seeds(seeds)
    node_path = _trace_file(nodes, OPENB_NODES, "openb node list")
    pod_path = _trace_file(pods, OPENB_PODS, "openb pod list")
    try:
        node_list = openb.load_nodes(node_path)
        pod_list = openb.load_pods(pod_path)
    except (KeyError, ValueError) as exc:
        fail(f"cannot read the trace: {exc}", "expected the openb CSV columns (see SOURCE.md)")
    with _progress() as progress:
        task = progress.add_task(f"{policy} on {pod_path.name}", total=len(seed_list))
        result = openb.run(
            node_list,
            pod_list,
            policy,
            seed_list,
            processes=processes,
            ties=ties,
            on_seed=lambda _: progress.advance(task),
        )
    result = {"nodes": str(node_path), "pods": str(pod_path), **result}
    if as_json:
        print_json(result)
        return
    _print_openb(result, policy, ties, pod_path)


def _check_openb(policy: str, ties: str) -> None:
    """A policy or profile and a tie rule the simulator knows, or the command ends naming them."""
    from aicc.scheduler.placement import POLICIES
    from aicc.scheduler.profiles import PROFILES
    from aicc.sim import openb

    if policy not in POLICIES and policy not in PROFILES:
        fail(
            f"unknown policy {policy!r}",
            f"a placement policy ({', '.join(POLICIES)}) or a scheduler profile "
            f"({', '.join(PROFILES)})",
        )
    if ties not in openb.TIES:
        fail(f"unknown --ties {ties!r}", f"one of {', '.join(openb.TIES)}")


def _print_openb(result: dict[str, Any], policy: str, ties: str, pod_path: Path) -> None:
    """The table of `aicc sim openb`: allocation % by arrived %, per seed and their mean."""
    from aicc.sim import openb

    rows = [*result["per_seed"], {"seed": "mean", **result}]
    points = openb.ALLOC_POINTS
    columns = [Column("seed", lambda r: r["seed"])]
    columns += [Column(f"@{k}", _alloc_at(k), "right") for k in points]
    columns += [
        Column("unalloc @100", lambda r: _pct(r["unallocated_pct_at_100"]), "right"),
        Column("frag @90", lambda r: _pct(r["frag_ratio_pct_at_90"]), "right"),
    ]
    print_table(rows, columns, title=f"GPU allocation % by arrived % — {policy} ({ties} ties)")
    speed = result.get("decisions_per_s")
    if speed:
        status(f"[dim]{escape(pod_path.name)}: {speed:,.0f} placements/s per process[/dim]")


def _date(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give a date as 2017-10-01", param_hint=flag) from None


@app.command("jobs")
def jobs_command(
    gpus: Annotated[int, typer.Option("--gpus", min=1, help="GPUs in the cluster, 8 per node.")],
    trace: PhillyTrace = None,
    policy: Annotated[str, typer.Option("--policy", help="Scheduler profile.")] = "default",
    start: Annotated[
        str | None, typer.Option("--from", help="First submission day, e.g. 2017-10-01.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Submissions before this day.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the runtime errors.")] = 42,
    sigma: Annotated[
        float, typer.Option("--sigma", min=0.0, help="Lognormal sigma of declared runtimes.")
    ] = 1.0,
    overhead: Annotated[
        float,
        typer.Option("--restart-overhead", min=0.0, help="Seconds of work a preemption loses."),
    ] = 60.0,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="Save the simulation to this file every few minutes, and resume from it when "
            "it exists (long runs survive a restart). Load only checkpoints you wrote.",
            show_default=False,
        ),
    ] = None,
    as_json: SimJson = False,
) -> None:
    """Replay a job trace's arrivals through the whole scheduler (quotas, fair share, gangs,
    backfill, preemption) on a cluster of GPUS, and report completion times and fairness.

    Each virtual cluster is a tenant guaranteed its share of the trace's GPU-time; policies see
    declared runtimes (true duration x a seeded lognormal error), never the true ones."""
    from aicc.scheduler.profiles import get_profile
    from aicc.sim import philly
    from aicc.sim.jobs import SimConfig, Simulation, by_vc, offered_load, summary

    try:
        get_profile(policy)
    except ValueError as exc:
        fail(str(exc))
    path = _trace_file(trace, PHILLY, "Philly trace", PHILLY_ORIGIN)
    try:
        jobs = philly.load(path, _date(start, "--from"), _date(end, "--to"))
    except ValueError as exc:
        fail(f"cannot read the trace: {exc}", "expected the Philly CSV columns (see SOURCE.md)")
    if not jobs:
        fail("no job was submitted in that window", "widen --from/--to")
    config = SimConfig(
        gpus=gpus, policy=policy, seed=seed, sigma=sigma, restart_overhead_s=overhead
    )
    key = (str(path.resolve()), start, end, config)
    sim = _resume(checkpoint, key) if checkpoint is not None else None
    with _progress() as progress:
        task = progress.add_task(f"{policy} on {gpus} GPUs", total=len(jobs))
        if sim is None:
            sim = Simulation(jobs, config)
        saver = _Saver(checkpoint, key) if checkpoint is not None else None
        outcome = sim.run(
            on_progress=lambda done: progress.update(task, completed=done), between=saver
        )
        if saver is not None:
            saver.save(sim)
    result: dict[str, Any] = {
        "trace": str(path),
        "policy": policy,
        "from": jobs[0].submitted.isoformat(),
        "to": jobs[-1].submitted.isoformat(),
        "offered_load_pct": round(offered_load(jobs, gpus), 2),
        **summary(outcome, gpus, len(jobs)),
        "per_vc": by_vc(outcome),
    }
    if as_json:
        print_json(result)
        return
    _print_jobs(result, path, policy, gpus)


def _print_jobs(result: dict[str, Any], path: Path, policy: str, gpus: int) -> None:
    """The two tables of `aicc sim jobs`: the run's measures, then the worst virtual clusters."""
    hours = {k: v / 3600 for k, v in result.items() if k.endswith("_s")}
    measures = [
        ("jobs (finished / dropped)", f"{result['finished']} / {result['dropped_jobs']}"),
        ("offered load", f"{result['offered_load_pct']:.1f} %"),
        ("average JCT", f"{hours['avg_jct_s']:.2f} h"),
        ("median / p99 JCT", f"{hours['p50_jct_s']:.2f} h / {hours['p99_jct_s']:.1f} h"),
        ("average wait", f"{hours['avg_wait_s']:.2f} h"),
        ("makespan", f"{hours['makespan_s']:.1f} h"),
        ("GPU utilization", f"{result['gpu_util_pct']:.1f} %"),
        ("Jain fairness (slowdown by VC)", f"{result['jain_fairness']:.3f}"),
        ("preemptions", str(result["preemptions"])),
    ]
    print_table(
        [{"measure": k, "value": v} for k, v in measures],
        [Column("measure", lambda r: r["measure"]), Column("value", lambda r: r["value"], "right")],
        title=f"{escape(path.name)}: {policy} on {gpus} GPUs",
    )
    print_table(
        result["per_vc"][:VC_ROWS],
        [
            Column("virtual cluster", lambda r: escape(str(r["vc"]))),
            Column("jobs", lambda r: str(r["finished"]), "right"),
            Column("mean slowdown", lambda r: f"{r['mean_slowdown']:.2f}", "right"),
            Column("max slowdown", lambda r: f"{r['max_slowdown']:.1f}", "right"),
            Column("worst job's share", lambda r: f"{r['worst_job_share_pct']:.0f} %", "right"),
        ],
        title=f"slowdown by virtual cluster (worst {VC_ROWS}; all with --json)",
    )


def _share_of_optimal(row: dict[str, Any]) -> str | None:
    share = row.get("share_of_optimal_reduction")
    return None if share is None else f"{100 * share:.1f} %"


CARBON_2020 = REPO_ROOT.parent / "shared" / "data" / "traces" / "carbon-2020" / "ger_ci.csv"
CARBON_ORIGIN = (
    "get ger_ci.csv from github.com/dos-group/lets-wait-awhile, data/ (2020 grid carbon of "
    "Germany), and pass --carbon"
)


@app.command("green")
def green_command(
    trace: PhillyTrace = None,
    carbon: Annotated[
        Path | None,
        typer.Option(
            "--carbon",
            help="Hourly (or finer) carbon CSV, Time,Carbon Intensity in UTC (default: the "
            "German 2020 profile under ../shared/data/traces/carbon-2020).",
            show_default=False,
        ),
    ] = None,
    gpus: Annotated[int, typer.Option("--gpus", min=1, help="GPUs in the cluster.")] = 256,
    sample: Annotated[
        float,
        typer.Option("--sample", min=0.001, max=1.0, help="Share of the trace's jobs replayed."),
    ] = 0.1,
    deferrable: Annotated[
        float, typer.Option("--deferrable", min=0.0, max=1.0, help="Share of deferrable jobs.")
    ] = 0.3,
    slack: Annotated[
        float, typer.Option("--slack", min=0.0, help="Deadline slack, a multiple of runtime.")
    ] = 1.0,
    min_slack: Annotated[
        float, typer.Option("--min-slack-h", min=0.0, help="Deadline slack, at least (hours).")
    ] = 12.0,
    windows: Annotated[
        int, typer.Option("--windows", min=1, help="Windows spread over the carbon year.")
    ] = 12,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of arrivals per window.")] = 7,
    power: Annotated[float, typer.Option("--power-w", min=1.0, help="Watts per GPU.")] = 300.0,
    forecast: Annotated[
        str,
        typer.Option(
            "--forecast",
            help="The default policy's carbon forecast: seasonal (the mean of weekly and "
            "weekday), weekly (mean of the same hour over the last 7 days), weekday (of the "
            "same weekday's hour over the last 2 weeks), persistence (the same hour "
            "yesterday), learned (seasonal corrected by a LightGBM model fitted daily on the "
            "last six weeks; the `green` extra), analog or analog:W (seasonal plus W, 0-1, "
            "times the errors it made at the most similar past hours), perfect (the truth, a "
            "diagnostic), perfect:H (the truth H hours ahead, seasonal beyond: how far ahead "
            "the cut needs knowing) or noisy:E "
            "(the truth with an "
            "AR(1) error growing with the lead, E the day-ahead MAPE: noisy:0.1 or noisy:10%; "
            "what a supplied day-ahead forecast of that quality buys).",
        ),
    ] = "seasonal",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample and the share.")] = 0,
    as_json: SimJson = False,
) -> None:
    """Replay a job trace with a share of deferrable jobs against a year of hourly grid carbon,
    under four policies: carbon-blind, threshold (wait for an hour below the last week's 30th
    percentile), optimal (the clairvoyant plan) and default (the HiGHS planner re-planning
    hourly on a forecast from the past, --forecast). Reports kg CO2e, cost (a time-of-use
    tariff), deadline misses and mean JCT per policy."""
    from aicc.sim import green

    try:
        green.forecaster(forecast)
    except ValueError as exc:
        fail(f"--forecast: {exc}", "e.g. --forecast seasonal or --forecast noisy:0.1")
    trace_path = _trace_file(trace, PHILLY, "Philly trace", PHILLY_ORIGIN)
    carbon_path = _trace_file(carbon, CARBON_2020, "carbon profile", CARBON_ORIGIN)
    jobs, hourly = _green_inputs(trace_path, carbon_path, sample, seed)
    config = green.GreenConfig(
        gpus=gpus,
        power_w=power,
        deferrable=deferrable,
        slack=slack,
        min_slack_h=min_slack,
        windows=windows,
        days=days,
        seed=seed,
        forecast=forecast,
    )
    result = _run_green(jobs, hourly, config)
    result = {"trace": str(trace_path), "carbon": str(carbon_path), "gpus": gpus, **result}
    if as_json:
        print_json(result)
        return
    _print_green(result, windows, days, gpus, carbon_path)


def _green_inputs(
    trace_path: Path, carbon_path: Path, sample: float, seed: int
) -> tuple[list[TraceJob], dict[int, float]]:
    """The trace's jobs, the `sample` share of them drawn with `seed`, and the hourly carbon;
    a file that cannot be read, or a sample left empty, ends the command with a hint."""
    from zoneinfo import ZoneInfo

    import numpy as np

    from aicc.core.energy import CARBON, ProfileError, parse_csv
    from aicc.sim import philly

    try:
        jobs = philly.load(trace_path)
    except ValueError as exc:
        fail(f"cannot read the trace: {exc}", "expected the Philly CSV columns (see SOURCE.md)")
    try:
        hourly = parse_csv(
            carbon_path.read_text(),
            name=carbon_path.name,
            column=None,
            bounds=CARBON,
            zone=ZoneInfo("UTC"),
        )
    except ProfileError as exc:
        fail(f"cannot read the carbon profile: {exc}", "expected Time,Carbon Intensity rows")
    picks = np.random.default_rng(seed).random(len(jobs)) < sample
    jobs = [job for job, keep in zip(jobs, picks, strict=True) if keep]
    if not jobs:
        fail("no job left after --sample", "give a larger --sample")
    return jobs, hourly


def _run_green(
    jobs: list[TraceJob], hourly: dict[int, float], config: GreenConfig
) -> dict[str, Any]:
    """Every policy over every window, with a progress bar; a carbon profile shorter than a
    year ends the command."""
    from aicc.sim import green

    with _progress() as progress:
        total = config.windows * len(green.POLICIES)
        task = progress.add_task("policies x windows", total=total)
        try:
            return green.run(jobs, hourly, config, on_step=lambda: progress.advance(task))
        except ValueError as exc:
            fail(str(exc), "give a year of carbon data")


def _print_green(
    result: dict[str, Any], windows: int, days: int, gpus: int, carbon_path: Path
) -> None:
    """The table of `aicc sim green`: one row per policy."""
    rows = [{"policy": name, **row} for name, row in result["policies"].items()]
    print_table(
        rows,
        [
            Column("policy", lambda r: r["policy"]),
            Column("kg CO2e", lambda r: f"{r['carbon_kg']:,.1f}", "right"),
            Column("reduction", lambda r: f"{r.get('carbon_reduction_pct', 0):.2f} %", "right"),
            Column("of optimal", _share_of_optimal, "right"),
            Column("cost", lambda r: f"{r['cost']:,.2f}", "right"),
            Column("misses", lambda r: str(r["deadline_misses"]), "right"),
            Column("avg JCT", lambda r: f"{r['avg_jct_s'] / 3600:.2f} h", "right"),
        ],
        title=f"{result['jobs']} jobs ({result['deferrable_jobs']} deferrable), "
        f"{windows} windows of {days} days, {gpus} GPUs, {escape(carbon_path.name)}",
    )
