"""What the faces (API, portal) need of the control loops, which stand beside them, not below.

The server hands its controller to the API as a `Control`, through which routes pass the
scheduling profile and the billing context on to services (explain, estimates) without
importing the loops, the scheduler or the engines. No route wakes the loops: a commit that a
service marked (services/changes.py) does, wired in api/state.py.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client.registry import Collector

from aicc.executors.base import Executor
from aicc.scheduler.framework import Profile
from aicc.services.billing.budgets import Context
from aicc.services.center.power import Site

# The engines by pool name; the faces hand them to services (logs, outputs), never call them.
Engines = dict[str, Executor]


class Control(Protocol):
    @property
    def leading(self) -> bool:
        """This server holds the lease: its loops schedule and reconcile."""
        ...

    @property
    def profile(self) -> Profile:
        """The scheduling profile the loops run (`policy`)."""
        ...

    @property
    def billing(self) -> Context | None:
        """Budget admission's context (zone, default price plan); None without the books."""
        ...

    @property
    def site(self) -> Site:
        """What each pass adds to the snapshot (carbon forecast, power cap); the power now."""
        ...

    @property
    def notice_s(self) -> float:
        """How far ahead a maintenance window keeps out jobs without a declared runtime."""
        ...

    @property
    def metrics(self) -> Collector:
        """The loops' own figures for /metrics (step times, failed passes, leading)."""
        ...

    def wake(self) -> None:
        """Run the loops now rather than at the next tick. Called by the server's wiring after a
        marked commit (services/changes.py), and by the gateway when a request waits for a
        replica; never by a route."""
        ...

    def deliver(self) -> None:
        """Send notifications' deliveries now (loops/notify.py). Called by the server's wiring
        after a commit that emitted one (services/notify/events.py `EMITTED`)."""
        ...
