"""What a share of a device is worth to the task mix: the dual prices of its cutting-stock LP.

FGD looks one task ahead, so it will put a 0.32 share on a device that holds 0.47 (leaving 0.21,
which only the rare shares of at most 0.21 can use) rather than open a device that a 0.65 share,
arriving later, would have filled to 0.97. What it misses is how the mix's shares fit together.

Packing the mix's shares as tightly as possible is a cutting-stock LP: the fewest devices that
hold `n(s)` shares of each size `s`, a pattern being a multiset of shares that fits one device.
Its dual prices each size at `worth(s)`, the part of a device one share of that size is worth: no
pattern is worth more than one device, and every pattern of a best packing is worth exactly one
(on the openb trace: 0.81 is worth 1, 0.65 2/3, 0.47 1/2, 0.32 1/3, 0.23 1/4, and the shares
of at most 0.16 nothing, for there are too few of them to fill the 0.19 that each 0.81 leaves).
A device with `g` milli free can still earn `best(g)`, the most worth that fits in `g` (a
knapsack over the sizes; `best(1000) = 1`). Placing a share `s` there forfeits

    loss(g, s) = best(g) - worth(s) - best(g - s)    (0 <= loss <= 1 device)

zero when the share is part of a best completion of the device, more the more of the device's
possible worth the placement makes unreachable. 0.32 on 0.47 forfeits 1/2 - 1/3 - 0 = 1/6 of a
device; on a fresh device, 1 - 1/3 - best(0.68) = 0 (0.32 and 0.65 make a pattern).

The LP is solved by column generation: a restricted master over known patterns (scipy's HiGHS)
gives prices, a knapsack over them finds a pattern worth more than one device, and that pattern
joins the master until none does. Prices depend only on the mix's proportions, rounded to
`MIX_STEP` so that a mix that drifts by less reuses them (`worth_of` remembers recent mixes).
scipy is imported with this module, so a process that loads the scheduler (the server, at its
start) pays its import (about 0.3 s of CPU) there, once, not inside its first cycle; the LP
itself takes a few milliseconds per new mix. Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from aicc.scheduler.placement.demand import MILLI
from aicc.scheduler.placement.state import FloatArray, IntArray
from aicc.scheduler.placement.task_mix import TaskMix

MIX_STEP = 0.01  # the mix's proportions are rounded to this before pricing
MAX_SIZES = 64  # the most common share sizes priced (a few milliseconds); the rest are worth 0
MAX_PATTERNS = 500  # column generation stops adding patterns here (never reached on real mixes)
TOLERANCE = 1e-9

Mix = tuple[tuple[int, int], ...]  # (share size in milli, its proportion in MIX_STEPs), largest 1st


@dataclass(frozen=True, eq=False)
class Worth:
    """Prices of share sizes (`values[i]` for `sizes[i]`, parts of a device) and `best`, the most
    worth that fits in each free share 0..MILLI."""

    sizes: tuple[int, ...]
    values: tuple[float, ...]
    best: FloatArray  # (MILLI + 1,)

    def of(self, milli: int) -> float:
        """A share's worth; 0 for a size the mix does not have."""
        try:
            return self.values[self.sizes.index(milli)]
        except ValueError:
            return 0.0

    def loss(self, free: IntArray, milli: int) -> FloatArray:
        """Part of a device forfeited by placing a `milli` share on devices with `free` milli
        free (an array of any shape); devices the share does not fit count as 0."""
        free = np.clip(free, 0, MILLI)
        rest = np.maximum(free - milli, 0)
        result: FloatArray = np.where(
            free >= milli, self.best[free] - self.of(milli) - self.best[rest], 0.0
        )
        return np.maximum(result, 0.0)


NOTHING = Worth((), (), np.zeros(MILLI + 1))


def share_mix(workload: TaskMix) -> Mix:
    """The workload's device shares (one-device replicas asking for less than a whole device):
    each size's proportion of them, in MIX_STEPs, at least one step for a size present; only
    the MAX_SIZES most common sizes."""
    counts: dict[int, float] = {}
    for shape, weight in zip(workload.shapes, workload.weights, strict=True):
        if shape.count == 1 and 0 < shape.milli < MILLI:
            counts[shape.milli] = counts.get(shape.milli, 0.0) + float(weight)
    total = sum(counts.values())
    common = sorted(counts, key=lambda size: (-counts[size], size))[:MAX_SIZES]
    return tuple(
        (size, max(1, round(counts[size] / total / MIX_STEP)))
        for size in sorted(common, reverse=True)
    )


@functools.lru_cache(maxsize=256)
def worth_of(mix: Mix) -> Worth:
    """The prices of a mix (`share_mix`): the dual of its cutting-stock LP (module docstring)."""
    if not mix:
        return NOTHING
    packing = cutting_stock([size for size, _ in mix], [n for _, n in mix])
    return packing.worth if packing is not None else NOTHING


@dataclass(frozen=True, eq=False)
class Packing:
    """The cutting-stock LP's optimum: `devices`, the fewest (fractional) devices that hold the
    shares, and the prices that prove it (`worth`)."""

    devices: float
    worth: Worth


def cutting_stock(sizes: Sequence[int], need: Sequence[float]) -> Packing | None:
    """The LP of packing `need[i]` shares of `sizes[i]` milli (largest first) on devices, by
    column generation; None if the master LP fails (never seen: every size has a pattern).

    Its optimum is a lower bound on the devices any placement of those shares uses, which
    `benchmarks/openb_bound.py` compares placements against."""
    want = np.array(need, dtype=np.float64)
    patterns = [_greedy(sizes, first) for first in range(len(sizes))]
    while True:
        a = np.array(patterns, dtype=np.float64).T
        master = linprog(
            np.ones(len(patterns)), A_ub=-a, b_ub=-want, bounds=(0, None), method="highs"
        )
        if master.status != 0:
            return None
        values = np.maximum(-master.ineqlin.marginals, 0.0)
        best, pattern = _knapsack(sizes, values)
        if best[MILLI] <= 1 + TOLERANCE or len(patterns) >= MAX_PATTERNS:
            worth = Worth(tuple(sizes), tuple(float(v) for v in values), best)
            return Packing(float(master.fun), worth)
        patterns.append(pattern)


def _greedy(sizes: Sequence[int], first: int) -> list[int]:
    """A pattern: one share of `sizes[first]`, the rest of the device filled largest first."""
    pattern = [0] * len(sizes)
    pattern[first] = 1
    left = MILLI - sizes[first]
    for i, size in enumerate(sizes):  # largest first
        take = left // size
        pattern[i] += take
        left -= take * size
    return pattern


def _knapsack(sizes: Sequence[int], values: FloatArray) -> tuple[FloatArray, list[int]]:
    """`best[g]`, the most worth of shares that fit in g milli (any number of each size), and a
    pattern worth `best[MILLI]`. Each size enters as 0/1 items of 1, 2, 4, ... shares (binary
    splitting), one vector step each."""
    best = np.zeros(MILLI + 1)
    items: list[tuple[int, int, float]] = []  # (size index, shares, their worth)
    for i, size in enumerate(sizes):
        shares, most = 1, MILLI // size
        while most > 0:
            take = min(shares, most)
            items.append((i, take, take * float(values[i])))
            most -= take
            shares *= 2
    took = np.zeros((len(items), MILLI + 1), dtype=np.bool_)
    for k, (i, shares, worth) in enumerate(items):
        width = shares * sizes[i]
        with_it = best[: MILLI + 1 - width] + worth
        better = with_it > best[width:] + TOLERANCE
        took[k, width:] = better
        best[width:] = np.where(better, with_it, best[width:])
    pattern = [0] * len(sizes)
    left = MILLI
    for k in range(len(items) - 1, -1, -1):
        if took[k, left]:
            i, shares, _ = items[k]
            pattern[i] += shares
            left -= shares * sizes[i]
    return best, pattern
