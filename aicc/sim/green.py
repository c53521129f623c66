"""`aicc sim green`: a job trace with a share of deferrable jobs, replayed hour by hour against a
year of hourly grid carbon, under four policies (issue 22 point 3):

- `carbon-blind`: every job starts as soon as devices are free (first come, first fit);
- `threshold`: a deferrable job waits until the hour's intensity is at or below the
  `percentile` of the last week's, or until its latest start;
- `optimal`: the clairvoyant plan, `scheduler.green.plan` over all of a window's deferrable
  jobs at once with the true carbon and the true arrivals;
- `default`: the same planner re-planning every hour over the deferrable jobs waiting, with a
  forecast that knows only the past: by default `seasonal`, each hour ahead the mean of two
  means, of the same hour of day over the last seven days and of the same hour of the same
  weekday over the last two weeks (the current hour is observed). `weekly`, `weekday` and
  `persistence` (the same hour of the last day seen) are its parts and a simpler one, which did
  worse on the 2020 German data (BENCHMARKS.md); `learned` corrects `seasonal` with a model
  fitted on the profile's own past (`aicc.sim.forecast`, issue 38 point 5; it sees eight weeks
  more of the year before the window), and `analog` adds to `seasonal` the errors it made the
  times the past was like the present (`aicc.sim.analog`; the same longer past); `perfect`
  (the truth) is there to show that the rest of the gap to `optimal` is the forecast's,
  `perfect:H` (the truth H hours ahead, `seasonal` beyond) how far ahead the cut needs knowing,
  and `noisy:E` (the truth with an error that grows with the lead, E the day-ahead MAPE) measures
  what a forecast of a given quality buys, standing for the day-ahead forecast an operator
  supplies (`site.carbon_forecast`).

The model is hourly, as the carbon data: jobs start at hour boundaries (an arrival waits for
the next one) and hold their devices in every hour they touch; energy is exact (devices x
watts x the part of each hour run x that hour's intensity). Jobs that are not deferrable go
first in every hour, under every policy; deferrable ones fit in what is left. The clairvoyant
plan reserves what the non-deferrable jobs will use.

The year is covered by `windows` windows spread evenly over it: window k replays `days` days
of the trace's arrivals (its busiest weeks in turn) starting at the k-th point of the carbon
year (two weeks of carbon before it feed the forecasts and the threshold), and runs until
every job has ended. No I/O: the caller loads the trace and the carbon.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from aicc.scheduler import green
from aicc.sim.jobs import TraceJob

POLICIES = ("carbon-blind", "threshold", "optimal", "default")
HOUR = 3600.0


@dataclass(frozen=True)
class GreenConfig:
    gpus: int = 256
    power_w: float = 300.0  # per device, IT power (the catalog's tdp_w of the trace's GPUs)
    pue: float = 1.0
    deferrable: float = 0.3  # share of jobs that are deferrable
    slack: float = 1.0  # a deferrable job's slack: this multiple of its runtime ...
    min_slack_h: float = 12.0  # ... and at least this many hours
    percentile: float = 30.0  # the threshold policy's
    windows: int = 12
    days: int = 7
    seed: int = 0
    forecast: str = "seasonal"  # the default policy's (FORECASTS)
    time_limit_s: float = 20.0  # per plan (the clairvoyant's is 6x)


@dataclass
class SimJob:
    id: str
    submit_s: float  # seconds from the window's hour 0
    duration_s: float
    gpus: int
    deferrable: bool
    deadline_s: float  # inf when not deferrable
    start_h: int | None = None

    @property
    def release(self) -> int:
        return math.ceil(self.submit_s / HOUR - 1e-9)

    @property
    def span(self) -> int:
        return max(1, math.ceil(self.duration_s / HOUR - 1e-9))

    @property
    def end_s(self) -> float:
        assert self.start_h is not None
        return self.start_h * HOUR + self.duration_s

    def as_green(self, config: GreenConfig, offset: int = 0) -> green.GreenJob:
        return green.GreenJob(
            self.id,
            self.duration_s / HOUR,
            self.gpus,
            self.gpus * config.power_w / 1000.0,
            release=self.release - offset,
            deadline=self.deadline_s / HOUR - offset,
        )


def mark(jobs: Sequence[TraceJob], config: GreenConfig) -> list[tuple[TraceJob, bool, float]]:
    """Each job with whether it is deferrable (a seeded share) and its slack in seconds."""
    rng = np.random.default_rng(config.seed)
    picks = rng.random(len(jobs)) < config.deferrable
    return [
        (j, bool(p), max(config.slack * j.duration_s, config.min_slack_h * HOUR))
        for j, p in zip(jobs, picks, strict=True)
    ]


def window_jobs(
    marked: Sequence[tuple[TraceJob, bool, float]], start_index: int, days: int, gpus_cap: int
) -> list[SimJob]:
    """`days` days of arrivals from `marked[start_index]`'s day, times from that day's 00:00;
    jobs asking for more devices than the cluster has ask for all of it."""
    first = marked[start_index][0].submitted
    origin = first.replace(hour=0, minute=0, second=0, microsecond=0)
    end = origin + timedelta(days=days)
    out = []
    for job, deferrable, slack in marked[start_index:]:
        if job.submitted >= end:
            break
        submit = (job.submitted - origin).total_seconds()
        out.append(
            SimJob(
                job.id,
                submit,
                job.duration_s,
                min(job.gpus, gpus_cap) or 1,
                deferrable,
                submit + job.duration_s + slack if deferrable else math.inf,
            )
        )
    return out


class Cluster:
    """Devices in use per hour from hour 0; grows as needed."""

    def __init__(self, gpus: int) -> None:
        self.gpus = gpus
        self.used = np.zeros(256, dtype=np.int64)

    def _grow(self, hour: int) -> None:
        while hour >= len(self.used):
            self.used = np.concatenate([self.used, np.zeros(len(self.used), dtype=np.int64)])

    def fits(self, job: SimJob, hour: int) -> bool:
        self._grow(hour + job.span)
        return bool((self.used[hour : hour + job.span] + job.gpus <= self.gpus).all())

    def take(self, job: SimJob, hour: int) -> None:
        self._grow(hour + job.span)
        self.used[hour : hour + job.span] += job.gpus
        job.start_h = hour

    def free(self, hours: int, start: int) -> list[int]:
        self._grow(start + hours)
        return [int(self.gpus - u) for u in self.used[start : start + hours]]


def _greedy_plain(jobs: Sequence[SimJob], gpus: int) -> Cluster:
    """What the non-deferrable jobs alone use, started first come, first fit."""
    cluster = Cluster(gpus)
    _run(
        [SimJob(j.id, j.submit_s, j.duration_s, j.gpus, False, math.inf) for j in jobs],
        cluster,
        lambda hour, waiting, cluster: [],
    )
    return cluster


def _run(
    jobs: Sequence[SimJob],
    cluster: Cluster,
    choose: Callable[[int, list[SimJob], Cluster], list[SimJob]],
) -> None:
    """Hour by hour: arrivals join; non-deferrable jobs start first come, first fit; then the
    deferrable jobs `choose` names, in that order, where they fit."""
    pending = sorted(jobs, key=lambda j: (j.release, j.submit_s))
    plain: list[SimJob] = []
    deferred: list[SimJob] = []
    hour, next_job = 0, 0
    while next_job < len(pending) or plain or deferred:
        while next_job < len(pending) and pending[next_job].release <= hour:
            job = pending[next_job]
            (deferred if job.deferrable else plain).append(job)
            next_job += 1
        for job in list(plain):
            if cluster.fits(job, hour):
                cluster.take(job, hour)
                plain.remove(job)
        if deferred:
            for job in choose(hour, deferred, cluster):
                if cluster.fits(job, hour):
                    cluster.take(job, hour)
                    deferred.remove(job)
        hour += 1


def simulate(
    jobs: Sequence[SimJob],
    carbon: np.ndarray,
    policy: str,
    config: GreenConfig,
    history: np.ndarray | None = None,
) -> list[SimJob]:
    """The jobs with their start hours under `policy`; `carbon[h]` is hour h's true intensity.
    `history`, the hours of the year before `carbon[0]`, is the longer past a learned forecast
    fits on (LEARNED_HISTORY_H); the other forecasts and policies do not read it."""
    jobs = [
        SimJob(j.id, j.submit_s, j.duration_s, j.gpus, j.deferrable, j.deadline_s) for j in jobs
    ]
    cluster = Cluster(config.gpus)
    if policy == "carbon-blind":
        for job in jobs:
            job.deferrable = False
        _run(jobs, cluster, lambda hour, waiting, cluster: [])
    elif policy == "threshold":
        _run(jobs, cluster, _threshold(carbon, config))
    elif policy == "optimal":
        planned = _clairvoyant(jobs, carbon, config)
        _run(jobs, cluster, lambda hour, waiting, _: _due(waiting, planned, hour))
    elif policy == "default":
        _run(jobs, cluster, _replanner(carbon, config, history))
    else:
        raise ValueError(f"unknown policy {policy!r}; one of {', '.join(POLICIES)}")
    return jobs


def _due(waiting: list[SimJob], planned: dict[str, int], hour: int) -> list[SimJob]:
    due = [j for j in waiting if planned.get(j.id, j.release) <= hour]
    return sorted(due, key=lambda j: (j.deadline_s, j.submit_s))


def _latest(job: SimJob) -> int:
    return math.floor((job.deadline_s - job.duration_s) / HOUR + 1e-9)


def _threshold(
    carbon: np.ndarray, config: GreenConfig
) -> Callable[[int, list[SimJob], Cluster], list[SimJob]]:
    def choose(hour: int, waiting: list[SimJob], cluster: Cluster) -> list[SimJob]:
        now = min(hour + WEEK_BEFORE, len(carbon) - 1)
        seen = carbon[now - 167 : now + 1]  # the last week's
        level = float(np.percentile(seen, config.percentile))
        green_now = carbon[min(hour + WEEK_BEFORE, len(carbon) - 1)] <= level
        due = [j for j in waiting if green_now or hour >= _latest(j)]
        return sorted(due, key=lambda j: (j.deadline_s, j.submit_s))

    return choose


WEEK_BEFORE = 336  # the carbon arrays start two weeks before the window's hour 0
LEARNED_HISTORY_H = 56 * 24  # and the learned forecast sees eight weeks more, within the year


def _clairvoyant(jobs: Sequence[SimJob], carbon: np.ndarray, config: GreenConfig) -> dict[str, int]:
    deferrable = [j for j in jobs if j.deferrable]
    if not deferrable:
        return {}
    plain = _greedy_plain([j for j in jobs if not j.deferrable], config.gpus)
    horizon = len(carbon) - WEEK_BEFORE
    result = green.plan(
        [j.as_green(config) for j in deferrable],
        green.Forecast(carbon[WEEK_BEFORE:], pue=config.pue),
        green.Capacity(plain.free(horizon, 0)),
        time_limit_s=config.time_limit_s * 6,
    )
    return result.starts


def persistence(carbon: np.ndarray, now: int, hours: int) -> np.ndarray:
    """Day-ahead persistence from absolute index `now` (observed): hour now+k is expected to be
    as hour now+k-24*ceil(k/24) was."""
    k = np.arange(hours)
    back = 24 * np.ceil(k / 24).astype(np.int64)
    out: np.ndarray = carbon[now + k - back]
    return out


def weekly(carbon: np.ndarray, now: int, hours: int, span: int = 7) -> np.ndarray:
    """Each hour ahead as the mean of the same hour of day over the last `span` days seen,
    the current hour observed."""
    k = np.arange(hours)
    days = 24 * np.maximum(1, np.ceil(k / 24)).astype(np.int64)
    past = np.stack([carbon[now + k - days - 24 * d] for d in range(span)])
    out: np.ndarray = past.mean(axis=0)
    out[0] = carbon[now]
    return out


def weekday(carbon: np.ndarray, now: int, hours: int, weeks: int = 2) -> np.ndarray:
    """Each hour ahead as the mean of the same hour of the same weekday over the last `weeks`
    weeks (working days draw more, and dirtier, power than weekends), the current hour
    observed."""
    k = np.arange(hours)
    back = 168 * np.maximum(1, np.ceil(k / 168)).astype(np.int64)
    out: np.ndarray = np.mean([carbon[now + k - back - 168 * w] for w in range(weeks)], axis=0)
    out[0] = carbon[now]
    return out


def seasonal(carbon: np.ndarray, now: int, hours: int) -> np.ndarray:
    """The mean of `weekly` (the day's shape, recent) and `weekday` (the week's shape)."""
    out: np.ndarray = 0.5 * weekly(carbon, now, hours) + 0.5 * weekday(carbon, now, hours)
    return out


def perfect(carbon: np.ndarray, now: int, hours: int) -> np.ndarray:
    """The true future: not a forecast any site has, a diagnostic (with it the re-planner
    matches the clairvoyant plan, so what `default` misses is the forecast's error)."""
    picks = np.minimum(now + np.arange(hours), len(carbon) - 1)
    out: np.ndarray = carbon[picks]
    return out


def known_for(hours_known: int) -> Forecaster:
    """The truth for the next `hours_known` hours, `seasonal` beyond: a diagnostic of how far
    ahead the cut needs knowing. No forecast that reaches that far, however good, adds to it;
    a forecast from the past alone reaches less (its error a day ahead is near the shape's)."""

    def forecast(carbon: np.ndarray, now: int, hours: int) -> np.ndarray:
        out = seasonal(carbon, now, hours)
        known = min(hours_known, hours)
        out[:known] = perfect(carbon, now, known)
        return out

    return forecast


def learned() -> Forecaster:
    """A fresh `learned` forecast (aicc.sim.forecast): fitted on the past, cached per run."""
    from aicc.sim.forecast import Learned

    return Learned()


FORECASTS = {
    "seasonal": seasonal,
    "weekly": weekly,
    "weekday": weekday,
    "persistence": persistence,
    "perfect": perfect,
}
Forecaster = Callable[[np.ndarray, int, int], np.ndarray]
NOISE_PHI = 0.95  # hour-to-hour persistence of a noisy forecast's relative error
DAY_AHEAD_H = 24  # the lead at which `noisy:E` has a mean absolute percentage error of E


def noisy(error: float, seed: int = 0) -> Forecaster:
    """A forecast of known quality: the truth times (1 + e_k) at lead k hours, e an AR(1) in
    the lead, e_0 = 0 (the current hour observed), e_k = phi x e_(k-1) + s x z_k with z
    standard normal and phi = NOISE_PHI, s chosen so that E|e_24| = `error` (the day-ahead
    MAPE; the error grows with the lead, a third of it at 1 h, and levels off beyond two
    days). Each re-plan hour draws a new path (seeded by `seed` and the hour): a forecast
    issued again every hour, its errors independent from one issue to the next."""
    if not 0 < error < 1:
        raise ValueError(f"noisy:{error:g}: the day-ahead error is a fraction between 0 and 1")
    sigma_day = error * math.sqrt(math.pi / 2)  # E|N(0, s^2)| = s x sqrt(2 / pi)
    phi2 = NOISE_PHI**2
    step = sigma_day * math.sqrt((1 - phi2) / (1 - phi2**DAY_AHEAD_H))

    def forecast(carbon: np.ndarray, now: int, hours: int) -> np.ndarray:
        shocks = np.random.default_rng((seed, now)).standard_normal(hours) * step
        errors = np.zeros(hours)
        for k in range(1, hours):
            errors[k] = NOISE_PHI * errors[k - 1] + shocks[k]
        out: np.ndarray = np.maximum(perfect(carbon, now, hours) * (1 + errors), 0.0)
        return out

    return forecast


def forecaster(name: str, seed: int = 0) -> Forecaster:
    """The forecast a `--forecast` names: one of FORECASTS, `learned` (a fresh one each call:
    it caches its fits), `analog` or `analog:W` (W the analogs' weight, 0 to 1), `perfect:H`
    (the truth H hours ahead, `seasonal` beyond) or `noisy:E` (E a fraction, 0.1, or a
    percentage, 10%). Raises ValueError naming what would do."""
    if name == "learned":
        return learned()
    weight = analog_weight(name)
    if weight is not None:
        from aicc.sim import analog

        return analog.forecast(weight)
    if name in FORECASTS:
        return FORECASTS[name]
    kind, _, value = name.partition(":")
    if kind == "perfect" and value.isdigit() and int(value) >= 1:
        return known_for(int(value))
    if kind == "noisy" and value:
        try:
            error = float(value.removesuffix("%")) / (100 if value.endswith("%") else 1)
        except ValueError:
            error = math.nan
        if 0 < error < 1:
            return noisy(error, seed)
    raise ValueError(
        f"unknown forecast {name!r}; one of {', '.join(FORECASTS)}, learned, analog[:W] "
        "(W from 0 to 1), perfect:H (the truth H hours ahead, H at least 1), or noisy:E "
        "(the truth with a day-ahead error E, e.g. noisy:0.1 or noisy:10%)"
    )


def analog_weight(name: str) -> float | None:
    """The weight W of an `analog` or `analog:W` forecast name (aicc.sim.analog), W between 0
    and 1; None for any other name."""
    from aicc.sim import analog

    kind, _, value = name.partition(":")
    if kind != "analog":
        return None
    try:
        weight = float(value) if value else analog.WEIGHT
    except ValueError:
        return None
    return weight if 0 <= weight <= 1 else None


def _replanner(
    carbon: np.ndarray, config: GreenConfig, history: np.ndarray | None = None
) -> Callable[[int, list[SimJob], Cluster], list[SimJob]]:
    predict = forecaster(config.forecast, config.seed)
    longer = config.forecast == "learned" or analog_weight(config.forecast) is not None
    before = history if history is not None and longer else carbon[:0]
    seen = np.concatenate([before, carbon])  # the learned and analog forecasts' longer past

    def choose(hour: int, waiting: list[SimJob], cluster: Cluster) -> list[SimJob]:
        jobs = [j.as_green(config, offset=hour) for j in waiting]
        horizon = max(j.span + max(0, j.latest_start) for j in jobs) + green.LATE_HOURS + 1
        now = min(hour + WEEK_BEFORE, len(carbon) - 1)
        forecast = predict(seen, len(before) + now, horizon)
        result = green.plan(
            jobs,
            green.Forecast(forecast, pue=config.pue),
            green.Capacity(cluster.free(horizon, hour)),
            time_limit_s=config.time_limit_s,
        )
        planned = {k: v + hour for k, v in result.starts.items()}
        return _due(waiting, planned, hour)

    return choose


def measure(
    jobs: Sequence[SimJob], carbon: np.ndarray, price: np.ndarray, config: GreenConfig
) -> dict[str, float]:
    """kg CO₂e, cost, deadline misses and mean JCT of finished jobs."""
    kg = cost = 0.0
    misses = 0
    jct = 0.0
    for job in jobs:
        assert job.start_h is not None
        kw = job.gpus * config.power_w / 1000.0 * config.pue
        run = green.GreenJob(job.id, job.duration_s / HOUR, job.gpus, kw)
        kg += green.energy_cost(run, job.start_h, carbon[WEEK_BEFORE:]) / 1000.0
        cost += green.energy_cost(run, job.start_h, price[WEEK_BEFORE:])
        misses += job.end_s > job.deadline_s + 1e-6
        jct += job.end_s - job.submit_s
    return {"carbon_kg": kg, "cost": cost, "deadline_misses": misses, "jct_sum_s": jct}


def tariff(hours_utc: np.ndarray) -> np.ndarray:
    """A time-of-use price per kWh by UTC hour (CNY; Beijing time, UTC+8): peak 1.2 at 8-11
    and 17-21, valley 0.3 at 23-7, flat 0.7 between. No price trace ships with the carbon
    data, so cost is this tariff's, the same for every policy."""
    local = (hours_utc + 8) % 24
    peak = ((local >= 8) & (local < 11)) | ((local >= 17) & (local < 21))
    valley = (local >= 23) | (local < 7)
    return np.where(peak, 1.2, np.where(valley, 0.3, 0.7))


def hourly_array(hourly: dict[int, float]) -> tuple[int, np.ndarray]:
    """(first epoch hour, values) of a series keyed by epoch hour, gaps holding the hour before."""
    first, last = min(hourly), max(hourly)
    values = np.empty(last - first + 1)
    held = hourly[first]
    for i in range(len(values)):
        held = hourly.get(first + i, held)
        values[i] = held
    return first, values


def window_starts(jobs: Sequence[TraceJob], config: GreenConfig) -> list[int]:
    """Index of the first job of each window's arrivals: the trace's busiest `days`-day blocks,
    busiest first, taken in turn."""
    if not jobs:
        return []
    origin = jobs[0].submitted.replace(hour=0, minute=0, second=0, microsecond=0)
    blocks: dict[int, int] = {}
    firsts: dict[int, int] = {}
    for i, job in enumerate(jobs):
        block = (job.submitted - origin).days // config.days
        blocks[block] = blocks.get(block, 0) + 1
        firsts.setdefault(block, i)
    busiest = sorted(blocks, key=lambda b: (-blocks[b], b))
    return [firsts[busiest[k % len(busiest)]] for k in range(config.windows)]


def run(
    trace: Sequence[TraceJob],
    carbon_hourly: dict[int, float],
    config: GreenConfig,
    *,
    policies: Sequence[str] = POLICIES,
    on_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Every policy over every window; totals per policy and the share of the clairvoyant
    reduction (against carbon-blind) each achieves. `on_step` is called after each policy of
    each window (windows x policies steps)."""
    first, year = hourly_array(carbon_hourly)
    marked = mark(trace, config)
    starts = window_starts(trace, config)
    usable = len(year) - WEEK_BEFORE - config.days * 24
    if usable <= 0:
        raise ValueError("the carbon series is shorter than a week plus a window")
    totals = {
        p: {"carbon_kg": 0.0, "cost": 0.0, "deadline_misses": 0, "jct_sum_s": 0.0} for p in policies
    }
    count = deferrable = 0
    for k, index in enumerate(starts):
        offset = WEEK_BEFORE + (k * usable) // max(1, config.windows)
        offset += -(first + offset) % 24  # the window starts at 00:00 UTC
        jobs = window_jobs(marked, index, config.days, config.gpus)
        tail = max((j.deadline_s if j.deferrable else j.duration_s) for j in jobs) / HOUR
        length = WEEK_BEFORE + config.days * 24 + int(tail) + 24 * 30
        picks = (offset - WEEK_BEFORE + np.arange(length)) % len(year)
        carbon = year[picks]
        history = year[max(0, offset - WEEK_BEFORE - LEARNED_HISTORY_H) : offset - WEEK_BEFORE]
        price = tariff((first + offset - WEEK_BEFORE + np.arange(length)) % 24)
        count += len(jobs)
        deferrable += sum(j.deferrable for j in jobs)
        for policy in policies:
            done = simulate(jobs, carbon, policy, config, history)
            for key, value in measure(done, carbon, price, config).items():
                totals[policy][key] += value
            if on_step is not None:
                on_step()
    result: dict[str, dict[str, float]] = {}
    for policy, sums in totals.items():
        result[policy] = {
            "carbon_kg": round(sums["carbon_kg"], 1),
            "cost": round(sums["cost"], 2),
            "deadline_misses": int(sums["deadline_misses"]),
            "avg_jct_s": round(sums["jct_sum_s"] / max(1, count), 1),
        }
    blind = result.get("carbon-blind")
    best = result.get("optimal")
    for row in result.values():
        if blind is None:
            break
        row["carbon_reduction_pct"] = round(100 * (1 - row["carbon_kg"] / blind["carbon_kg"]), 2)
        row["jct_penalty_s"] = round(row["avg_jct_s"] - blind["avg_jct_s"], 1)
        if best is not None and blind["carbon_kg"] > best["carbon_kg"]:
            gained = blind["carbon_kg"] - row["carbon_kg"]
            row["share_of_optimal_reduction"] = round(
                gained / (blind["carbon_kg"] - best["carbon_kg"]), 3
            )
    return {
        "jobs": count,
        "deferrable_jobs": deferrable,
        "windows": len(starts),
        "policies": result,
    }
