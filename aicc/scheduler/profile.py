"""A profile as data: the plugins a cycle runs at each extension point, its actions in order,
and the settings of placement, reservation and preemption (built by name in `profiles.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aicc.scheduler.allocate import PlaceConfig
from aicc.scheduler.plugins.base import (
    Admission,
    JobScore,
    ModelChoice,
    ServiceLadder,
    ShareScore,
)
from aicc.scheduler.plugins.victims import VictimRule

# The actions a cycle runs per job, in this order unless a profile names its own (actions/).
ACTIONS = ("admit", "reclaim", "backfill", "allocate", "shrink", "preempt", "reserve")


@dataclass(frozen=True)
class ReserveConfig:
    """`steps`: release times replayed one by one; later ones are taken in doubling chunks,
    which bounds the work (the time found is then a safe upper bound). `hold_unknown`: hold
    the space even when the start is unknown (it needs jobs without a declared runtime to end);
    without it such a job gets no reservation and may wait behind smaller jobs indefinitely."""

    steps: int = 32
    hold_unknown: bool = True


@dataclass(frozen=True)
class PreemptConfig:
    rules: tuple[str, ...] = ("priority", "reclaim")
    # the rules' functions by name, in the order they are tried (profiles.py resolves `rules`)
    victims: tuple[tuple[str, VictimRule], ...] = ()
    grace_s: int = 30
    max_victims: int = 32  # per preemptor
    max_nodes: int = 64  # nodes tried for a one-replica job
    max_preemptors: int = 16  # jobs that may search for victims per cycle
    # The two guards against preemption loops; turning both off is the naive design the
    # loop test shows looping.
    protect_guarantee: bool = True
    # Time-slicing across tenants: the `service` rule may take a job that runs within another
    # project's guarantee (guarantees then hold against priority, not against more service).
    service_crosses_guarantees: bool = False
    # ...except for victims at this service level or above (None: all levels cross): the long
    # jobs at a ladder's top keep what their project is guaranteed against shorter work
    service_guarded_from: int | None = None
    remember_preemptors: bool = True
    service_min_run_s: int = 0  # an attempt runs at least this long before `service` takes it


@dataclass(frozen=True)
class Profile:
    """A named set of plugins and their weights: configuration, not a fork (see profiles.py)."""

    name: str
    queue_sort: tuple[tuple[JobScore, float], ...] = ()
    share: tuple[tuple[ShareScore, float], ...] = ()
    guaranteed_first: bool = False
    admission: tuple[Admission, ...] = ()
    model_choice: ModelChoice | None = None
    place: PlaceConfig = field(default_factory=PlaceConfig)
    reserve: ReserveConfig | None = None
    preempt: PreemptConfig | None = None
    max_jobs: int | None = None  # jobs considered per cycle; the rest wait for the next one
    actions: tuple[str, ...] = ACTIONS
    bind: str = "default"  # the bind function (cycle.BINDS) that makes a placed job a decision


def service_ladder(profile: Profile) -> ServiceLadder | None:
    """The profile's service ladder, when its preemption has the `service` rule: its first
    queue-sort plugin that ranks service (the `ServiceLadder` protocol)."""
    config = profile.preempt
    if config is None or "service" not in config.rules:
        return None
    for plugin, _ in profile.queue_sort:
        if isinstance(plugin, ServiceLadder):
            return plugin
    return None
