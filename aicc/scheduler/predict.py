"""Runtime predictions from the history of like jobs (Tiresias, Lucid, Gandiva's observations).

Users' declared runtimes are noisy (on the Philly replay, off by a factor of e^1 in log terms),
but a tenant's jobs of one size repeat: the runtimes of its recently finished jobs of that size
say much about the next one. Philly's durations are heavy-tailed, so the history's centre is a
quantile (the median by default) of log runtimes, never a mean of runtimes.

`RuntimePredictor` learns only from what it is handed: `observe(key, runtime, declared)` for a
job that has finished (the caller's promise: never a job still running, so a prediction never
sees a job's own future). `predict(key, declared)` combines the two estimates in log space,
each weighted by its precision (the inverse of its variance): the spread of the key's recent
runtimes, and how far declarations have been from the runtimes of finished jobs (learned too,
with a prior of `declared_var` until `min_history` jobs have declared). A key with fewer than
`min_history` finished jobs falls back to the declaration; with neither, there is no prediction.

Pure: no I/O, no clock; the caller keeps the predictor and hands each prediction to the
scheduler in the job's view (`aicc.sim.jobs` does; the live server reads finished jobs from its
store). A key is any hashable: `key(project, gpus)` is what both use.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

FLOOR_VAR = 0.05  # log-runtime variance never counted below this (a key of identical jobs)


def key(project: str, gpus: float) -> tuple[str, float]:
    """Like jobs: the same project (Philly's virtual cluster) asking the same devices."""
    return (project, gpus)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile of sorted `values` (linear between order statistics, numpy's default)."""
    at = q * (len(values) - 1)
    low = math.floor(at)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (at - low)


@dataclass
class RuntimePredictor:
    """Recent runtimes of finished jobs per key, and the error of declarations."""

    window: int = 200  # finished jobs kept per key (the most recent)
    q: float = 0.5  # the quantile of the key's log runtimes taken as its centre
    min_history: int = 3
    declared_var: float = 1.0  # prior variance of log(declared / runtime)
    _runs: dict[Hashable, deque[float]] = field(default_factory=dict, repr=False)
    _declared_sq: float = 0.0  # sum of log(declared / runtime)^2 over finished jobs
    _declared_n: int = 0

    def __post_init__(self) -> None:
        if self.window < 1 or self.min_history < 1 or not 0.0 <= self.q <= 1.0:
            raise ValueError("predictor window and min_history must be >= 1, q in [0, 1]")

    def observe(self, job_key: Hashable, runtime_s: float, declared_s: float | None = None) -> None:
        """A job of `job_key` finished after `runtime_s` seconds of run (all its attempts),
        having declared `declared_s` (None: it declared nothing)."""
        runtime = math.log(max(1.0, runtime_s))
        runs = self._runs.get(job_key)
        if runs is None:
            runs = self._runs[job_key] = deque(maxlen=self.window)
        runs.append(runtime)
        if declared_s is not None and declared_s > 0:
            self._declared_sq += (math.log(declared_s) - runtime) ** 2
            self._declared_n += 1

    def declared_variance(self) -> float:
        """The variance of log(declared / runtime) over finished jobs (the prior until enough)."""
        if self._declared_n < self.min_history:
            return self.declared_var
        return max(FLOOR_VAR, self._declared_sq / self._declared_n)

    def history(self, job_key: Hashable) -> tuple[float, float] | None:
        """(centre, variance) of the key's recent log runtimes; None below `min_history`."""
        runs = self._runs.get(job_key)
        if runs is None or len(runs) < self.min_history:
            return None
        values = sorted(runs)
        mean = sum(values) / len(values)
        variance = sum((v - mean) ** 2 for v in values) / len(values)
        return quantile(values, self.q), max(FLOOR_VAR, variance)

    def predict(self, job_key: Hashable, declared_s: float | None = None) -> float | None:
        """Predicted runtime in seconds of a job of `job_key` that declared `declared_s`."""
        known = self.history(job_key)
        if known is None:
            return None if declared_s is None else float(declared_s)
        centre, variance = known
        if declared_s is None or declared_s <= 0:
            return math.exp(centre)
        trust = 1.0 / self.declared_variance()
        mixed = (trust * math.log(declared_s) + centre / variance) / (trust + 1.0 / variance)
        return math.exp(mixed)
