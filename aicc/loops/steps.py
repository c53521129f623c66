"""A pass of the control loop as a list of steps, each declared by the module that holds it.

A step's module says where the step goes and how it is made (`STEP`, loops/registry.py's
`Declared`); the controller builds its list once from what loops/registry.py collects
(`Controller.steps`), and a pass, once it holds the lease, only goes through it in order: each step
that is `due` runs with the `Pass`, timed under its `name`
(`aicc_controller_step_seconds{step=...}`). A step whose fenced write finds another server leading
raises `LostLease`, which ends the pass, handled once by the controller. Adding a context's step is
adding a module with its `STEP`: neither the controller nor the registry changes.

The steps of today, in order: nodes' `maintenance` (loops/maintenance.py: windows and leases
begin and end before the scheduler looks), jobs' `schedule` and `reconcile` (loops/scheduling.py,
loops/reconcile.py: their writes are services/jobs/binding.py's and reconciling.py's), models'
`outputs` (loops/outputs.py, with a chunk store), needs' `challenges` (loops/challenges.py: a
deadline that passed is told), serving's `deployments` (loops/deployments.py), billing's
`metering` (loops/books.py), jobs' `culling` (loops/culling.py), the audit log's `audit`
(loops/audit.py), notifications' `notify` (loops/notify.py), nodes' `discovery`
(loops/discovery.py) and `bmc` (loops/bmc.py: BMCs read on threads of their own), the
facility's `meters` (loops/meters.py, when meters are configured), the center's `burn_in`
(loops/burn_in.py) and jobs' `sweep` (loops/janitor.py); the last five every so many seconds,
the others at every pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from aicc.executors.base import Executor
from aicc.loops.lease import Lease
from aicc.services.common import utcnow
from aicc.store.db import Database
from aicc.store.sealing import Sealer


@dataclass(frozen=True)
class Report:
    """What reconciling found, which decides when the next pass comes and when nodes are
    discovered again."""

    lost: frozenset[str] = frozenset()  # the nodes replicas were lost with (now marked down)
    launched: bool = False  # it launched a replica
    starting: bool = False  # a replica is launched but its command not yet started
    deferred: bool = False  # replicas wait for a launch: the next pass should come at once


@dataclass
class Pass:
    """What one pass knows, handed to each of its steps. `started`: when it took the lease.
    `observed`: a time before which every active replica was polled (set by reconcile; what
    metering counts up to). `report`: reconcile's findings, None until it ran."""

    db: Database
    lease: Lease
    executors: dict[str, Executor]
    sealer: Sealer
    started: datetime = field(default_factory=utcnow)
    observed: datetime | None = None
    report: Report | None = None

    @staticmethod
    def now() -> datetime:
        """The present, read again: a step that follows a slow one must not act in the past."""
        return utcnow()


class Step(Protocol):
    """One step of a pass. `name` labels its time in /metrics (and stays as it is: dashboards
    read it); `due` says whether it runs in this pass; `run` does it, fencing its writes with
    `pass_.lease`."""

    @property
    def name(self) -> str: ...

    def due(self, pass_: Pass) -> bool: ...

    def run(self, pass_: Pass) -> None: ...


class EveryPass:
    """For a step that runs at every pass (it may skip work inside, as the culler does)."""

    name = ""

    def due(self, pass_: Pass) -> bool:
        return True


class Periodic:
    """For a step that runs on its clock, `when` (an `Every` it sets up and marks `ran`)."""

    name = ""
    when: Every

    def due(self, pass_: Pass) -> bool:
        return self.when.due(pass_.now())


class Every:
    """When a periodic step is due: at `first`, then `period` after it last ran."""

    def __init__(self, period: timedelta, *, first: datetime) -> None:
        self.period = period
        self.next = first

    def due(self, now: datetime) -> bool:
        return now >= self.next

    def ran(self, period: timedelta | None = None) -> None:
        """It has just run: due again `period` (by default its own) from now."""
        self.next = utcnow() + (period if period is not None else self.period)
