"""The job simulator on small synthetic traces: every job finishes once, gangs start whole,
policies rank as they should, and `aicc sim jobs` reads the Philly CSV."""

from __future__ import annotations

import gc
import json
import pickle
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.sim import philly, synthetic
from aicc.sim.jobs import SimConfig, Simulation, offered_load, shape, simulate, summary

runner = CliRunner()
TRACE = synthetic.trace_jobs(400, gpus=32, load=0.9, seed=1)


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, float | int]]:
    return {p: simulate(TRACE, SimConfig(gpus=32, policy=p)) for p in ("fifo", "las", "default")}


def test_every_job_finishes_exactly_once_and_none_is_dropped(
    results: dict[str, dict[str, float | int]],
) -> None:
    for result in results.values():
        assert (result["finished"], result["dropped_jobs"]) == (400, 0)
        assert result["avg_jct_s"] >= result["avg_wait_s"] > 0
        assert 0 < result["gpu_util_pct"] <= 100


def test_preemptive_policies_beat_fifo_and_stay_fair(
    results: dict[str, dict[str, float | int]],
) -> None:
    fifo, las, default = results["fifo"], results["las"], results["default"]
    assert las["avg_jct_s"] < fifo["avg_jct_s"] and default["avg_jct_s"] < fifo["avg_jct_s"]
    assert las["preemptions"] > 0 and fifo["preemptions"] == 0
    # no preemption storm: about as many as LAS (a loop gave eight times more, test_service.py)
    assert default["preemptions"] <= 2 * las["preemptions"]
    assert default["jain_fairness"] > fifo["jain_fairness"]


def test_gangs_start_whole_and_no_device_is_given_twice() -> None:
    sim = Simulation(TRACE, SimConfig(gpus=32, policy="default"))
    starts: list[tuple[str, int]] = []
    original = sim._start

    def start(job, placements, now_s):  # type: ignore[no-untyped-def]
        starts.append((job.trace.id, len(placements)))
        original(job, placements, now_s)  # raises if a device is not free

    sim._start = start  # type: ignore[method-assign]
    sim.run()
    gangs = {j.id: shape(j.gpus, 8)[0] for j in TRACE if j.gpus > 8}
    assert gangs and all(n == gangs[i] for i, n in starts if i in gangs)
    assert all(len(n.free) == 8 for n in sim.nodes)  # everything given back at the end


def test_policies_never_see_true_durations_and_runs_are_repeatable() -> None:
    sim = Simulation(TRACE, SimConfig(gpus=32, seed=7))
    declared = [sim.jobs[j.id].declared_s for j in TRACE]
    assert sum(d != round(j.duration_s) for d, j in zip(declared, TRACE, strict=True)) > 350
    once = simulate(TRACE, SimConfig(gpus=32, seed=7))
    assert simulate(TRACE, SimConfig(gpus=32, seed=7)) == once


def test_jobs_larger_than_the_cluster_are_dropped() -> None:
    result = simulate(TRACE, SimConfig(gpus=8, policy="fifo"))
    assert result["dropped_jobs"] == sum(j.gpus > 8 for j in TRACE)
    assert result["finished"] == 400 - result["dropped_jobs"]


def write_philly(path: Path) -> Path:
    rows = ["timestamp,duration,num_gpus,gpu_time,cluster"]
    for j in TRACE[:120]:
        rows.append(f"{j.submitted:%Y-%m-%d %H:%M:%S},{j.duration_s},{j.gpus},0,{j.tenant}")
    path.write_text("\n".join(rows) + "\n\n")  # the real file ends with a blank line
    return path


def test_the_cli_replays_a_philly_csv_as_json(tmp_path: Path) -> None:
    csv = write_philly(tmp_path / "philly.csv")
    jobs = philly.load(csv)
    assert len(jobs) == 120 and offered_load(jobs, 32) > 0
    result = runner.invoke(app, ["sim", "jobs", "--trace", str(csv), "--gpus", "32", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for key in ("avg_jct_s", "p50_jct_s", "p99_jct_s", "avg_wait_s", "makespan_s", "gpu_util_pct"):
        assert out[key] > 0
    assert out["finished"] == 120 and out["policy"] == "default" and 0 < out["jain_fairness"] <= 1
    # Jain's index is over the virtual clusters' mean slowdowns, which the JSON lists, worst first
    means = [vc["mean_slowdown"] for vc in out["per_vc"]]
    assert means == sorted(means, reverse=True) and len(means) > 1
    assert sum(vc["finished"] for vc in out["per_vc"]) == 120
    jain = sum(means) ** 2 / (len(means) * sum(m * m for m in means))
    assert jain == pytest.approx(out["jain_fairness"], abs=1e-3)
    assert all(vc["max_slowdown"] >= vc["mean_slowdown"] >= 1 for vc in out["per_vc"])
    table = runner.invoke(
        app, ["sim", "jobs", "--trace", str(csv), "--gpus", "32", "--policy", "las"]
    )
    assert table.exit_code == 0 and "average JCT" in table.stdout
    assert "slowdown by virtual cluster" in table.stdout and out["per_vc"][0]["vc"] in table.stdout


def test_the_cli_says_what_to_fix(tmp_path: Path) -> None:
    csv = write_philly(tmp_path / "philly.csv")
    bad = runner.invoke(app, ["sim", "jobs", "--trace", str(csv), "--gpus", "8", "--policy", "x"])
    assert bad.exit_code != 0 and "unknown scheduler profile" in bad.output
    empty = runner.invoke(
        app, ["sim", "jobs", "--trace", str(csv), "--gpus", "8", "--from", "2030-01-01"]
    )
    assert empty.exit_code != 0 and "no job was submitted" in empty.output
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    wrong = runner.invoke(
        app, ["sim", "jobs", "--trace", str(tmp_path / "other.csv"), "--gpus", "8"]
    )
    assert wrong.exit_code != 0 and "missing column" in wrong.output


def test_jobs_over_a_node_become_gangs_of_equal_replicas() -> None:
    assert shape(1, 8) == (1, 1) and shape(8, 8) == (1, 8)
    assert shape(16, 8) == (2, 8) and shape(12, 8) == (2, 6) and shape(24, 8) == (3, 8)


class Interrupted(Exception):
    pass


def test_a_simulation_resumed_from_a_checkpoint_ends_as_one_never_stopped() -> None:
    config = SimConfig(gpus=32)
    saved: list[bytes] = []

    def stop_after_100_cycles(sim: Simulation) -> None:
        if sim.outcome.cycles == 100:
            saved.append(pickle.dumps(sim))
            raise Interrupted  # as if the machine went down right after the save

    with pytest.raises(Interrupted):
        Simulation(TRACE, config).run(between=stop_after_100_cycles)
    resumed = pickle.loads(saved[0])
    assert 0 < len(resumed.outcome.jct_s) < len(TRACE)
    assert summary(resumed.run(), 32, len(TRACE)) == simulate(TRACE, config)


def test_the_cli_checkpoint_is_kept_and_tied_to_its_arguments(tmp_path: Path) -> None:
    csv = write_philly(tmp_path / "philly.csv")
    state = tmp_path / "run.ckpt"
    args = ["sim", "jobs", "--trace", str(csv), "--gpus", "32", "--json", "--checkpoint"]
    first = runner.invoke(app, [*args, str(state)])
    assert first.exit_code == 0, first.output
    assert state.exists() and not (tmp_path / "run.ckpt.partial").exists()
    again = runner.invoke(app, [*args, str(state)])  # resumes the finished run
    assert again.exit_code == 0 and json.loads(again.stdout) == json.loads(first.stdout)
    other = runner.invoke(app, [*args, str(state), "--gpus", "40"])
    assert other.exit_code != 0 and "other arguments" in other.output


def test_memory_is_bounded_by_what_the_results_keep_not_by_the_cycles_run() -> None:
    """With the collector off, so that only reference counting frees (as between the cycles
    of a long replay, where the collector's full passes are rare), the memory a replay holds
    at any time beyond its own start is about the per-job results: a few KB per job, however
    many cycles ran. Each cycle's cluster once stayed behind (about 100 KB a job here, 24 GB
    on the whole Philly trace)."""
    jobs = TRACE[:200]
    sim = Simulation(jobs, SimConfig(gpus=32, policy="predicted"))
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        sim.run()
        peak = tracemalloc.get_traced_memory()[1]  # traced from the run's start
    finally:
        tracemalloc.stop()
        gc.enable()
    assert len(sim.outcome.jct_s) == len(jobs) and sim.outcome.cycles > len(jobs)
    assert peak < 8 * 1024 * len(jobs)  # 21 MB before the fix, under 0.6 MB after
