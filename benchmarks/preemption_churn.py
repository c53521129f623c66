"""Preemption churn: how often a stream of short jobs evicts long ones under a profile.

Three jobs of 8 GPUs x 50 h share 8 GPUs with a 1-GPU job of 5 minutes that arrives every 10
minutes for 8 days. Least-attained-service lets each short job evict a long one (the `service`
rule); `preempt.service_min_run_s` spares attempts younger than that. For each value it prints
the preemptions, the most of one job, and the average JCT, through the job simulator.

    .venv/bin/python benchmarks/preemption_churn.py [--policy default] [--min-run 0 300 600]
"""

from __future__ import annotations

import argparse
import copy
from datetime import datetime, timedelta

from aicc.scheduler.profiles import PROFILES, build_profile
from aicc.sim.jobs import SimConfig, Simulation, TraceJob

T0 = datetime(2017, 10, 1)


def trace() -> list[TraceJob]:
    long = [
        TraceJob(f"long{i}", T0 + timedelta(minutes=i), 50 * 3600.0, 8, f"t{i}") for i in range(3)
    ]
    short = [
        TraceJob(f"short{i}", T0 + timedelta(minutes=5 + 10 * i), 300.0, 1, "short")
        for i in range(8 * 24 * 6)
    ]
    return long + short


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="default")
    parser.add_argument("--min-run", type=int, nargs="+", default=[0, 300, 600, 1800])
    args = parser.parse_args()
    for min_run in args.min_run:
        config = copy.deepcopy(PROFILES[args.policy])
        config["preempt"] = {**(config.get("preempt") or {}), "service_min_run_s": min_run}
        sim = Simulation(trace(), SimConfig(gpus=8, profile=build_profile(config)))
        outcome = sim.run()
        most = max(len(job.preempted_by) for job in sim.jobs.values())
        jct_h = sum(outcome.jct_s) / len(outcome.jct_s) / 3600
        print(
            f"service_min_run_s={min_run}: {outcome.preemptions} preemptions, "
            f"at most {most} of one job, average JCT {jct_h:.2f} h"
        )


if __name__ == "__main__":
    main()
