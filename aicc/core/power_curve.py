"""A node's power curve: its measured samples over a window cut into at most `MAX_BUCKETS`
buckets (min, mean and max watts, and the limit in force), and a summary (the last reading,
the mean, the peak and the energy). Pure: the samples and the window are given.

Energy is the trapezoid between consecutive samples; a gap longer than `max_gap` (ten minutes,
or three times the median spacing of the samples when the node is sampled more rarely) is a
time the node was not measured and counts nothing, so a BMC that stopped answering for a night
is not an invented night of power. A sparkline (`spark`) draws bucket means in eight levels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median

MAX_BUCKETS = 300
MIN_GAP = timedelta(minutes=10)
BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Sample:
    """One measured power of a node: when, watts, and the limit its BMC said was in force."""

    at: datetime
    watts: float
    limit_w: float | None = None


@dataclass(frozen=True)
class Bucket:
    """The samples of [at, at + width): how many, their least, mean and greatest watts, and the
    last limit in force among them."""

    at: datetime
    samples: int
    min_w: float
    avg_w: float
    max_w: float
    limit_w: float | None


@dataclass(frozen=True)
class Curve:
    """Buckets that hold a sample (oldest first), their width, and the window's summary."""

    width: timedelta
    buckets: tuple[Bucket, ...]
    samples: int
    now_w: float | None  # the last sample's watts
    now_at: datetime | None
    avg_w: float | None  # energy over the measured time, else the samples' mean
    max_w: float | None
    kwh: float
    limit_w: float | None  # the last sample's limit in force


def width(since: datetime, until: datetime, buckets: int = MAX_BUCKETS) -> timedelta:
    """A bucket's width: the window over `buckets`, in whole seconds, at least one."""
    seconds = (until - since).total_seconds()
    return timedelta(seconds=max(1, math.ceil(seconds / max(1, buckets))))


def max_gap(samples: Sequence[Sample]) -> timedelta:
    """The longest spacing still counted as measured: `MIN_GAP`, or three median spacings."""
    spacings = [(b.at - a.at).total_seconds() for a, b in pairwise(samples)]
    if not spacings:
        return MIN_GAP
    return max(MIN_GAP, timedelta(seconds=3 * median(spacings)))


def curve(
    samples: Sequence[Sample], *, since: datetime, until: datetime, buckets: int = MAX_BUCKETS
) -> Curve:
    """The curve of the samples within [since, until] (any outside are ignored), which must be
    in time order."""
    kept = [s for s in samples if since <= s.at <= until]
    step = width(since, until, buckets)
    cut: dict[int, list[Sample]] = {}
    for s in kept:
        cut.setdefault(min(int((s.at - since) / step), buckets - 1), []).append(s)
    made = tuple(
        Bucket(
            at=since + step * n,
            samples=len(group),
            min_w=min(s.watts for s in group),
            avg_w=sum(s.watts for s in group) / len(group),
            max_w=max(s.watts for s in group),
            limit_w=group[-1].limit_w,
        )
        for n, group in sorted(cut.items())
    )
    joules, measured_s = _energy(kept)
    last = kept[-1] if kept else None
    if measured_s > 0:
        avg: float | None = joules / measured_s
    else:
        avg = sum(s.watts for s in kept) / len(kept) if kept else None
    return Curve(
        width=step,
        buckets=made,
        samples=len(kept),
        now_w=last.watts if last else None,
        now_at=last.at if last else None,
        avg_w=avg,
        max_w=max((s.watts for s in kept), default=None),
        kwh=joules / 3.6e6,
        limit_w=last.limit_w if last else None,
    )


def _energy(samples: Sequence[Sample]) -> tuple[float, float]:
    """Joules between consecutive samples (trapezoids) and the seconds they cover, skipping
    gaps longer than `max_gap`."""
    gap = max_gap(samples).total_seconds()
    joules = seconds = 0.0
    for a, b in pairwise(samples):
        dt = (b.at - a.at).total_seconds()
        if 0 < dt <= gap:
            joules += (a.watts + b.watts) / 2 * dt
            seconds += dt
    return joules, seconds


def spark(values: Sequence[float | None], width: int = 48) -> str:
    """A text sparkline of at most `width` characters (values averaged into as many columns;
    a column without a value is a space)."""
    if not values:
        return ""
    columns: list[float | None] = []
    per = math.ceil(len(values) / width)
    for n in range(0, len(values), per):
        group = [v for v in values[n : n + per] if v is not None]
        columns.append(sum(group) / len(group) if group else None)
    known = [v for v in columns if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low
    top = len(BLOCKS) - 1
    return "".join(
        " " if v is None else BLOCKS[round((v - low) / span * top) if span else top // 2]
        for v in columns
    )
