"""The green planner: when deferrable jobs should start, to cut carbon (or cost) under their
deadlines and the capacity left to them (issue 22 point 3). Pure: a function of the jobs still
waiting, the forecasts and the capacity per hour, so calling it again as jobs arrive or the
forecast changes re-plans; the live server and `aicc sim green` call the same function.

Time is in whole hours from the plan's hour 0 (the caller's "now"), the resolution of grid
carbon and price data. A job that starts in hour `s` runs `duration_h` hours (fractional); it
holds its devices (and its power) in every hour it touches, `s .. s + ceil(duration_h) - 1`,
and its energy in each hour is its power times the part of the hour it runs.

The model is a MIP solved by HiGHS (`highspy`): one binary per job and allowed start hour,
each job starts once, and in every hour the devices (and the power, where a cap is given) of
the jobs running fit. A MIP rather than an LP relaxation with a repair step: the relaxation of
these interval-packing problems is often fractional exactly where capacity binds, and the
repair then costs what the plan gained, while HiGHS solves the sizes met here (hundreds of jobs,
a few dozen starts each) in well under a second; `time_limit_s` bounds the rest, and the best
plan found by then is used.

A deadline that cannot be met (too close, or no capacity before it) does not make the plan
infeasible: a job may also start after its latest start, each hour late costing more than any
carbon saving (`LATE_PENALTY`), so the plan says how late it must be rather than nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from aicc.scheduler.snapshot import JobView, Snapshot, WaitReason

LATE_PENALTY = 1e6  # objective units per hour past the latest start: above any saving
EARLIER = 1e-7  # objective units per hour of delay: among equal plans, the earlier start
MAX_STARTS = 96  # start hours tried per job (its window, then late hours), to bound the model
LATE_HOURS = 24  # hours past the latest start a job may be planned when its deadline is lost


@dataclass(frozen=True)
class GreenJob:
    """A deferrable job as the planner sees it. `release` and `deadline` are hours from the
    plan's hour 0 (`deadline` the hour by which it should have ended, fractional allowed)."""

    id: str
    duration_h: float
    devices: int
    power_kw: float
    release: int = 0
    deadline: float = math.inf

    @property
    def span(self) -> int:
        """Hours the job holds its devices."""
        return max(1, math.ceil(self.duration_h - 1e-9))

    @property
    def latest_start(self) -> int:
        """The last start hour that ends by the deadline (may be before `release`)."""
        if math.isinf(self.deadline):
            return 1 << 30
        return math.floor(self.deadline - self.duration_h + 1e-9)


@dataclass(frozen=True)
class Forecast:
    """Hourly carbon intensity (gCO₂/kWh) and price (per kWh) from hour 0; the plan's
    horizon is their length. `pue` multiplies IT power into facility power."""

    carbon: Sequence[float] | np.ndarray
    price: Sequence[float] | np.ndarray | None = None
    pue: float = 1.0

    @property
    def hours(self) -> int:
        return len(self.carbon)


@dataclass(frozen=True)
class Capacity:
    """What the planned jobs may use in each hour from hour 0: devices, and optionally a power
    cap in kW (demand response). Hours beyond the sequences have the last value."""

    devices: Sequence[int]
    power_kw: Sequence[float] | None = None


@dataclass(frozen=True)
class Weights:
    """The objective: `carbon` per kg CO₂e plus `cost` per currency unit."""

    carbon: float = 1.0
    cost: float = 0.0


@dataclass(frozen=True)
class Plan:
    """Start hour per job id; `late` the jobs planned past their deadline, `unplanned` those the
    horizon cannot hold (the caller starts them as soon as it can); `status` HiGHS's word."""

    starts: dict[str, int]
    late: tuple[str, ...] = ()
    unplanned: tuple[str, ...] = ()
    objective: float = 0.0
    status: str = "empty"

    def starting(self, hour: int = 0) -> list[str]:
        """The jobs planned to start at `hour` or before."""
        return [job for job, start in self.starts.items() if start <= hour]


def energy_cost(job: GreenJob, start: int, series: np.ndarray) -> float:
    """Σ over the hours the job runs of (kWh in that hour) x series[hour]; hours past the
    series take its last value."""
    whole = math.floor(job.duration_h + 1e-9)
    part = job.duration_h - whole
    hours = np.arange(start, start + whole + (1 if part > 1e-9 else 0))
    values = series[np.minimum(hours, len(series) - 1)]
    shares = np.ones(len(hours))
    if part > 1e-9:
        shares[-1] = part
    return float(job.power_kw * (values * shares).sum())


def plan(
    jobs: Sequence[GreenJob],
    forecast: Forecast,
    capacity: Capacity,
    *,
    weights: Weights = Weights(),
    time_limit_s: float = 10.0,
) -> Plan:
    """Start hours for `jobs` minimising weights.carbon x kg CO₂e + weights.cost x cost, with
    every job started once at or after its release, ended by its deadline where capacity
    allows, and devices (and power) within `capacity` in every hour. Deterministic for the
    same input. Raises ValueError when the forecast is empty."""
    if forecast.hours == 0:
        raise ValueError("the forecast holds no hour")
    horizon = forecast.hours
    carbon = np.asarray(forecast.carbon, dtype=float) * forecast.pue / 1000.0  # kg per kWh
    price = (
        np.asarray(forecast.price, dtype=float) * forecast.pue
        if forecast.price is not None
        else np.zeros(horizon)
    )
    per_kwh = weights.carbon * carbon + weights.cost * price
    columns: list[tuple[int, int, float]] = []  # (job index, start, objective)
    unplanned: list[str] = []
    for index, job in enumerate(jobs):
        first = max(0, job.release)
        latest = min(job.latest_start, horizon - job.span)
        last = min(max(latest, first - 1) + LATE_HOURS, horizon - job.span)
        if last < first:
            unplanned.append(job.id)
            continue
        options = list(range(first, last + 1))
        if len(options) > MAX_STARTS:  # keep the window's cheapest, and the late ones
            window = [s for s in options if s <= job.latest_start]
            after = [s for s in options if s > job.latest_start][:LATE_HOURS]
            keep = max(1, MAX_STARTS - len(after))
            window = sorted(window, key=lambda s: (energy_cost(job, s, per_kwh), s))[:keep]
            options = sorted(window + after)
        for start in options:
            value = energy_cost(job, start, per_kwh) + EARLIER * start
            if start > job.latest_start:
                value += LATE_PENALTY * (start - max(job.latest_start, first - 1))
            columns.append((index, start, value))
    if not columns:
        return Plan({}, unplanned=tuple(unplanned))
    chosen, objective, status = _solve(jobs, columns, capacity, horizon, time_limit_s)
    starts = {jobs[i].id: s for i, s in chosen.items()}
    late = tuple(jobs[i].id for i, s in sorted(chosen.items()) if s > jobs[i].latest_start)
    missing = [jobs[i].id for i in sorted({c[0] for c in columns}) if i not in chosen]
    return Plan(
        starts,
        late=late,
        unplanned=(*unplanned, *missing),
        objective=objective,
        status=status,
    )


def _level(values: Sequence[float] | None, hour: int) -> float:
    if values is None or not len(values):
        return math.inf
    return float(values[min(hour, len(values) - 1)])


def _solve(
    jobs: Sequence[GreenJob],
    columns: list[tuple[int, int, float]],
    capacity: Capacity,
    horizon: int,
    time_limit_s: float,
) -> tuple[dict[int, int], float, str]:
    """The MIP. Rows: one "starts once" row per job, then one devices row and (with a cap)
    one power row per hour. HiGHS is imported here: `aicc --help` and the scheduler's other
    callers do not pay for it."""
    import highspy

    job_rows = {i: r for r, i in enumerate(sorted({c[0] for c in columns}))}
    device_row0 = len(job_rows)
    capped = capacity.power_kw is not None
    power_row0 = device_row0 + horizon
    rows = power_row0 + (horizon if capped else 0)
    starts_idx: list[int] = [0]
    index: list[int] = []
    value: list[float] = []
    for i, start, _ in columns:
        job = jobs[i]
        index.append(job_rows[i])
        value.append(1.0)
        for hour in range(start, min(start + job.span, horizon)):
            index.append(device_row0 + hour)
            value.append(float(job.devices))
            if capped:
                index.append(power_row0 + hour)
                value.append(job.power_kw)
        starts_idx.append(len(index))
    lower = np.zeros(rows)
    upper = np.empty(rows)
    lower[:device_row0] = 1.0
    upper[:device_row0] = 1.0
    for hour in range(horizon):
        upper[device_row0 + hour] = _level(capacity.devices, hour)
        if capped:
            upper[power_row0 + hour] = _level(capacity.power_kw, hour)
    lower[device_row0:] = -highspy.kHighsInf
    upper[np.isinf(upper)] = highspy.kHighsInf

    lp = highspy.HighsLp()
    lp.num_col_ = len(columns)
    lp.num_row_ = rows
    lp.col_cost_ = np.array([c[2] for c in columns])
    lp.col_lower_ = np.zeros(len(columns))
    lp.col_upper_ = np.ones(len(columns))
    lp.row_lower_ = lower
    lp.row_upper_ = upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array(starts_idx, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * len(columns)
    # highspy.Highs, the Python wrapper, prints a banner on stdout (it would break `--json`);
    # the binding under it does not.
    core = getattr(highspy, "_core", None)
    make = core._Highs if core is not None and hasattr(core, "_Highs") else highspy.Highs
    solver = make()
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("time_limit", float(time_limit_s))
    solver.setOptionValue("mip_rel_gap", 1e-4)
    solver.setOptionValue("random_seed", 0)
    solver.setOptionValue("threads", 1)
    solver.passModel(lp)
    solver.run()
    status = solver.modelStatusToString(solver.getModelStatus())
    if solver.getInfo().primal_solution_status != 2:  # no feasible point found
        return {}, math.inf, status
    solution = solver.getSolution().col_value
    chosen: dict[int, int] = {}
    best: dict[int, float] = {}
    for (i, start, _), x in zip(columns, solution, strict=True):
        if x > best.get(i, 0.5):
            chosen[i], best[i] = start, x
    return chosen, float(solver.getInfo().objective_function_value), status


DEVICE_KW = 0.3  # a held job's power per device, and per replica without one, for the plan
HOLD_TIME_LIMIT_S = 1.0  # a scheduling pass plans within this


def holds(snapshot: Snapshot) -> dict[str, WaitReason]:
    """The deferrable jobs that should wait for a greener hour, each with its reason ("deferred
    to 14:00 UTC for greener power"): the planner over the waiting deferrable jobs with a
    deadline and a declared runtime, on `snapshot.carbon`, with the accelerators the running
    jobs leave per hour (until their declared end; all along without one). A job planned for
    the current hour is not held; nor is any job when the snapshot has no carbon forecast.
    Re-planned at every cycle: a new arrival or forecast moves the others."""
    if not snapshot.carbon:
        return {}
    waiting = [
        j for j in snapshot.pending if j.deferrable and j.deadline is not None and j.max_runtime_s
    ]
    if not waiting:
        return {}
    hour0 = snapshot.now.replace(minute=0, second=0, microsecond=0)
    into = (snapshot.now - hour0).total_seconds() / 3600  # a start "at hour 0" is now
    hours = len(snapshot.carbon)
    shed = _shed_hours(snapshot, hour0, hours)
    devices = _free_devices(snapshot, hour0, hours)
    # Jobs whose deadline cannot wait out the events are planned as if there were none (the
    # power cap's budget treats them as guaranteed too); the others keep out of their hours.
    over = max((end for _, end in snapshot.shed), default=None)
    pressed = [j for j in waiting if over is not None and not _can_wait(j, over)]
    flexible = [j for j in waiting if j not in pressed]
    starts: dict[str, int] = {}
    for group, power_kw in (
        (flexible, [0.0 if h in shed else math.inf for h in range(hours)] if shed else None),
        (pressed, None),
    ):
        if group:
            result = plan(
                [_green_job(j, hour0, into) for j in group],
                Forecast(snapshot.carbon),
                Capacity(devices, power_kw),
                time_limit_s=HOLD_TIME_LIMIT_S / (2 if pressed else 1),
            )
            starts.update(result.starts)
    held: dict[str, WaitReason] = {}
    for job in waiting:
        start = starts.get(job.id, 0)
        if start > 0:
            at = hour0 + timedelta(hours=start)
            if any(h in shed for h in range(start)):
                why = (
                    f"deferred to {at:%H:%M} UTC, after the demand-response event "
                    f"(deadline {job.deadline:%Y-%m-%d %H:%M} UTC)"
                )
            else:
                then, now = snapshot.carbon[min(start, hours - 1)], snapshot.carbon[0]
                why = (
                    f"deferred to {at:%H:%M} UTC for greener power "
                    f"({then:.0f} gCO2/kWh then, {now:.0f} now; "
                    f"deadline {job.deadline:%Y-%m-%d %H:%M} UTC)"
                )
            held[job.id] = WaitReason("green", why)
    return held


def _can_wait(job: JobView, until: datetime) -> bool:
    assert job.deadline is not None and job.max_runtime_s is not None
    return until + timedelta(seconds=job.max_runtime_s) <= job.deadline


def _shed_hours(snapshot: Snapshot, hour0: datetime, hours: int) -> set[int]:
    """The plan's hours that a demand-response window touches: no deferrable job runs in them
    (capacity 0 kW), so the plan moves flexible work out of the event, as the power cap's
    budget holds it at start (power.py)."""
    found: set[int] = set()
    for start, end in snapshot.shed:
        first = max(0, math.floor((start - hour0).total_seconds() / 3600))
        last = min(hours, math.ceil((end - hour0).total_seconds() / 3600))
        found.update(range(first, last))
    return found


def _devices(job: JobView) -> int:
    return job.replicas * max(1, job.request.accel_count)


def _green_job(job: JobView, hour0: datetime, into: float) -> GreenJob:
    assert job.deadline is not None and job.max_runtime_s is not None
    devices = _devices(job)
    deadline = (job.deadline - hour0).total_seconds() / 3600 - into  # starting late in hour 0
    return GreenJob(
        job.id,
        job.max_runtime_s / 3600,
        devices if job.request.accel_count else 0,
        devices * DEVICE_KW,
        release=0,
        deadline=deadline,
    )


def _free_devices(snapshot: Snapshot, hour0: datetime, hours: int) -> list[int]:
    total = sum(len(n.devices) for n in snapshot.nodes if n.schedulable)
    free = [total] * hours
    for job in snapshot.running:
        if not job.request.accel_count:
            continue
        end = hours
        if job.max_runtime_s is not None and job.started_at is not None:
            ends = job.started_at + timedelta(seconds=job.max_runtime_s)
            end = max(0, min(hours, math.ceil((ends - hour0).total_seconds() / 3600)))
        for hour in range(end):
            free[hour] -= _devices(job)
    return [max(0, f) for f in free]
