"""The simulator's runtime predictions: learned only from jobs it has seen finish, carried in each
waiting job's view, and read by the `predicted` profile."""

from __future__ import annotations

from dataclasses import replace

from aicc.sim import synthetic
from aicc.sim.jobs import SimConfig, Simulation, TraceJob, simulate

TRACE = synthetic.trace_jobs(400, gpus=32, load=0.9, seed=1)


def predictions(trace: list[TraceJob], policy: str = "fifo") -> dict[str, tuple[float, int]]:
    """Each job's prediction when it last joined the queue (under FIFO: at its submission), and
    its declared runtime."""
    sim = Simulation(trace, SimConfig(gpus=32, policy=policy))
    sim.run()
    out = {}
    for job_id, job in sim.jobs.items():
        assert job.view.predicted_runtime_s is not None
        out[job_id] = (job.view.predicted_runtime_s, job.declared_s)
    return out


def test_a_prediction_never_sees_the_future() -> None:
    """Jobs submitted after a job cannot have finished before it joined the queue: however long
    they run, its prediction stays; theirs change, since they learn from each other."""
    before = predictions(TRACE)
    target = TRACE[len(TRACE) // 2]
    later = {j.id for j in TRACE if j.submitted > target.submitted}
    changed = [replace(j, duration_s=j.duration_s * 1000) if j.id in later else j for j in TRACE]
    after = predictions(changed)
    assert all(after[j.id] == before[j.id] for j in TRACE if j.id not in later)
    # a later job declares a thousand times more too: what moved beyond that is the history
    ratio = {i: (after[i][0] / after[i][1], before[i][0] / before[i][1]) for i in later}
    assert any(abs(a - b) > 1e-6 for a, b in ratio.values())


def test_every_job_gets_a_prediction_and_the_predicted_profile_finishes_them_all() -> None:
    assert all(p > 0 for p, _ in predictions(TRACE).values())
    result = simulate(TRACE, SimConfig(gpus=32, policy="predicted"))
    las = simulate(TRACE, SimConfig(gpus=32, policy="las"))
    fifo = simulate(TRACE, SimConfig(gpus=32, policy="fifo"))
    assert (result["finished"], result["dropped_jobs"]) == (400, 0)
    assert result["avg_jct_s"] < fifo["avg_jct_s"]
    assert result["preemptions"] <= 2 * las["preemptions"]
