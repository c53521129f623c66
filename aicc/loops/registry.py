"""Where a controller's steps come from: each step's module declares it, the registry finds it.

A module of `aicc.loops` that holds a step says so in a module attribute `STEP`, a `Declared`:
its place in a pass and how it is built from the `Context`. `declared` walks the package and
reads that attribute from every module (an import whose value is used, never one made for its
effect), so a context adds a step with a module of its own and edits neither the controller nor
a list. `build` makes one controller's steps, in their order; a step not configured builds as
None and is left out. This module imports no step's module: they import it.
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType

import aicc.loops
from aicc.executors.base import Executor
from aicc.loops.keeper import Keeper
from aicc.loops.lease import Lease
from aicc.loops.steps import Step
from aicc.scheduler.framework import Profile
from aicc.services.billing import budgets
from aicc.services.center import power
from aicc.services.images.images import Pulls
from aicc.services.jobs import snapshots
from aicc.services.nodes import node_health
from aicc.store.chunkstore import ChunkStore
from aicc.store.db import Database
from aicc.store.sealing import Sealer


@dataclass(frozen=True)
class Context:
    """What a step is built from, one per controller (loops/controller.py makes it from the
    server's `Setup`). The store, the engines, the sealer and the lease that fences every
    write; the scheduler's profile, the nodes that are all this machine (`same_host`), the
    waiting jobs' views kept between passes (`parsed`) and the site as each pass sees it; when a
    failing node is cordoned (`health`), images' pull credentials, the data sets' chunk store;
    the deployments' keeper (whose load every server shares, leading or not); metering
    (`books`) and the budgets the scheduler admits by (`billing`); the center's operations:
    how far ahead a window keeps out jobs (`notice_s`), whether new nodes join in burn-in
    (`joins_burning`), the steps the server built with their threads (`notify`, `bmc`,
    `meters`, `burn_in`); the notebooks' and the sweep's periods and retention."""

    db: Database
    executors: dict[str, Executor]
    sealer: Sealer
    lease: Lease
    profile: Profile
    same_host: frozenset[str]
    parsed: snapshots.Parsed
    site: power.Site
    health: node_health.Policy
    pulls: Pulls | None
    chunks: ChunkStore | None
    deployments: Keeper
    books: Step | None
    billing: budgets.Context | None
    notice_s: float
    joins_burning: bool
    notify: Step
    bmc: Step | None
    meters: Step | None
    burn_in: Step | None
    cull_every: timedelta
    log_retention: timedelta
    upload_expiry: timedelta
    sweep_every: timedelta


@dataclass(frozen=True)
class Declared:
    """A step as its module declares it, in a module attribute `STEP`. `order`: its place in
    a pass, lower first (today's steps are spaced by ten, so a new one fits between two; two
    at one place stop the server). `build`: the step for one controller, or None where the
    server is not configured for it (no chunk store, no meters)."""

    order: int
    build: Callable[[Context], Step | None]


def declared(package: ModuleType = aicc.loops) -> list[tuple[str, Declared]]:
    """Every step the modules of `package` declare, with its module's name, in pass order.
    Two steps at one place are refused (ValueError naming both): their order would be luck."""
    found: list[tuple[str, Declared]] = []
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        step = getattr(importlib.import_module(info.name), "STEP", None)
        if isinstance(step, Declared):
            found.append((info.name, step))
    found.sort(key=lambda pair: pair[1].order)
    for (first, a), (second, b) in itertools.pairwise(found):
        if a.order == b.order:
            raise ValueError(f"{first} and {second} both declare a step at order {a.order}")
    return found


def build(context: Context) -> list[Step]:
    """One controller's steps, in the order a pass runs them; those not configured left out.
    Two steps of one name are refused: /metrics would add up their times as one."""
    built = (declaration.build(context) for _, declaration in declared())
    steps = [step for step in built if step is not None]
    names = [step.name for step in steps]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"two steps are named {', '.join(twice)}")
    return steps
