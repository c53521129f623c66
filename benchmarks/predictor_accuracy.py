"""How close the runtime predictions (`aicc/scheduler/predict.py`) come to the true runtimes on
the Philly trace, against the declared runtimes they improve on (issue 38.4).

Users' declared runtimes are noisy; a tenant's jobs of one size repeat, so the runtimes of its
finished like jobs say more. The simulator (`aicc/sim/jobs.py`) declares each job's runtime as
its true duration times a seeded lognormal factor (`--sigma`, seed `--seed`: the same draws as
`aicc sim jobs`), feeds the predictor each job as it finishes and hands each job the
prediction made when it joins the queue. This replays only that, without the scheduler: every
job of the trace is predicted at its submission from the jobs that would have finished by
then had none waited (submitted + duration <= its submission), then observed at its finish.
Three estimates of each job's runtime, each scored by |log(estimate / true)|:

- declared: the declaration alone;
- history: the key's (project, GPUs) median of recent runtimes (`RuntimePredictor.history`),
  the declaration where the key has fewer than `min_history` finished jobs;
- predicted: both, weighted by their precision (`RuntimePredictor.predict`).

The trace is read from ../shared/data/traces (`aicc sim jobs`' default) and nothing of it is
committed. Prints JSON.

    .venv/bin/python benchmarks/predictor_accuracy.py
    .venv/bin/python benchmarks/predictor_accuracy.py --sigma 0.5 --trace philly.csv
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from aicc.cli.sim import PHILLY
from aicc.scheduler import predict
from aicc.sim import philly
from aicc.sim.jobs import SimConfig

WITHIN = math.log(2.0)  # "within 2x of the true runtime"


def declarations(durations: list[float], seed: int, sigma: float) -> list[int]:
    """Each job's declared runtime, drawn as `Simulation` draws it (in the trace's order)."""
    factors = np.random.default_rng(seed).lognormal(0.0, sigma, size=len(durations))
    return [max(60, round(d * float(f))) for d, f in zip(durations, factors, strict=True)]


def score(errors: list[float]) -> dict[str, float]:
    """Median and mean |log error|, and the share of jobs within 2x of their runtime (%)."""
    return {
        "median_abs_log_error": round(statistics.median(errors), 3),
        "mean_abs_log_error": round(statistics.fmean(errors), 3),
        "within_2x_percent": round(100 * sum(e <= WITHIN for e in errors) / len(errors), 1),
    }


def main() -> None:
    defaults = SimConfig(gpus=1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", type=Path, default=PHILLY, help="Philly per-job CSV")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--sigma", type=float, default=defaults.sigma)
    args = parser.parse_args()
    jobs = philly.load(args.trace)
    declared = declarations([j.duration_s for j in jobs], args.seed, args.sigma)
    predictor = predict.RuntimePredictor()
    finishing: list[tuple[float, int]] = []  # (finish time, index), jobs not yet observed
    errors: dict[str, list[float]] = {"declared": [], "history": [], "predicted": []}
    base = jobs[0].submitted if jobs else None
    for i, job in enumerate(jobs):
        assert base is not None
        now = (job.submitted - base).total_seconds()
        while finishing and finishing[0][0] <= now:
            _, done = heapq.heappop(finishing)
            seen = jobs[done]
            predictor.observe(predict.key(seen.tenant, seen.gpus), seen.duration_s, declared[done])
        key = predict.key(job.tenant, job.gpus)
        known = predictor.history(key)
        estimates = {
            "declared": float(declared[i]),
            "history": math.exp(known[0]) if known else float(declared[i]),
            "predicted": predictor.predict(key, declared[i]),
        }
        truth = math.log(max(1.0, job.duration_s))
        for name, estimate in estimates.items():
            assert estimate is not None  # every job declares
            errors[name].append(abs(math.log(estimate) - truth))
        heapq.heappush(finishing, (now + job.duration_s, i))
    out: dict[str, Any] = {
        "trace": str(args.trace),
        "jobs": len(jobs),
        "seed": args.seed,
        "sigma": args.sigma,
        **{name: score(found) for name, found in errors.items()},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
