"""Named scheduler profiles, built from configuration: plugin names, weights and arguments.

A profile is a mapping (YAML in `config.yaml` or a dict) with these keys, all optional but name:

```yaml
name: default
queue_sort:                      # summed scores, highest first; ties by submission time
  - {name: priority, weight: 1}  # the job's priority class (low 0, normal 100, high 1000)
  - {name: aging, weight: 10}    # points per hour waited: nothing starves
  - {name: fairshare, weight: 50, args: {half_life_s: 604800, history_weight: 0.5}}
guaranteed_first: true           # jobs within their project's guarantee before borrowers
admission: [lanes, quota, budget]  # queue max_running; quota max; budgets (money left)
model_choice: {name: throughput_per_cost, args: {prices: {H100-SXM: 30.0, A100-80GB: 12.0}}}
filter: []                       # extra node predicates (registered by name)
score:                           # weighted Scorer plugins over a sample of feasible nodes
  - {name: packing, weight: 1}
placement: {policy: fgd-plus, order: pack, sample: 4, topology: true, max_domains: 8}
                                 # policy: a placement-package policy for one-replica jobs
                                 # (placer.py); order: pack|spread|first for the rest
                                 # (the indexed walk, indexed.py)
reserve: {steps: 32}             # null: no reservation, no backfill
preempt: {rules: [priority, reclaim], grace_s: 30, max_victims: 32, max_nodes: 64,
          max_preemptors: 16}    # null: never preempt
max_jobs: null                   # jobs considered per cycle
actions: [admit, reclaim, backfill, allocate, shrink, preempt, reserve]   # per job, in order
bind: default                    # what makes a placed job a decision (cycle.BINDS)
```

A plugin entry is a name or `{name, weight, args}`. Each extension point has one registry
below (plugin name -> factory of `args`): adding a plugin is its module and one line in its
point's registry (or `register(point, name, factory)` from outside the package). Actions are
registered in `actions/__init__.py`, placement policies in `placement.REGISTRY`, bind functions
in `cycle.BINDS`; preemption's victim rules (`preempt.rules`) are the `preempt` point's plugins.
`REGISTRIES` holds every point's registry by name. The named profiles (`PROFILES`) are
`default`, `predicted`, `fifo`, `easy`, `las` and `spread`; a site adds its own in config.yaml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, NoReturn, TypeVar

from aicc.scheduler.actions import ACTIONS
from aicc.scheduler.allocate import PlaceConfig
from aicc.scheduler.cycle import BINDS
from aicc.scheduler.indexed import NodeFilter
from aicc.scheduler.placement import REGISTRY as PLACEMENT_POLICIES
from aicc.scheduler.plugins import (
    admission,
    budget,
    fairshare,
    hetero,
    locality,
    queue_sort,
    score,
    service,
    victims,
)
from aicc.scheduler.plugins.base import Admission, JobScore, ModelChoice, ShareScore
from aicc.scheduler.plugins.score import Scorer
from aicc.scheduler.profile import ACTIONS as DEFAULT_ACTIONS
from aicc.scheduler.profile import PreemptConfig, Profile, ReserveConfig

Args = Mapping[str, Any]
T = TypeVar("T")

JOB_SCORES: dict[str, Callable[[Args], JobScore]] = {
    "priority": queue_sort.priority,
    "aging": queue_sort.aging,
    "attained": service.attained,
    "declared": service.declared,
    "predicted": service.predicted,
}
SHARE_SCORES: dict[str, Callable[[Args], ShareScore]] = {"fairshare": fairshare.fairshare}
ADMISSIONS: dict[str, Callable[[Args], Admission]] = {
    "lanes": admission.lanes,
    "quota": admission.quota,
    "budget": budget.budget,
}
MODEL_CHOICES: dict[str, Callable[[Args], ModelChoice]] = {
    "throughput_per_cost": hetero.throughput_per_cost,
    "request_order": hetero.request_order,
}
SCORERS: dict[str, Callable[[Args], Scorer]] = {
    "packing": score.packing,
    "spread": score.spread,
    "data_locality": locality.data_locality,
}
FILTERS: dict[str, Callable[[Args], NodeFilter]] = {}
# every extension point's registry by the profile key that names its plugins
REGISTRIES: dict[str, dict[str, Callable[[Args], Any]]] = {
    "queue_sort": JOB_SCORES,
    "share": SHARE_SCORES,
    "admission": ADMISSIONS,
    "model_choice": MODEL_CHOICES,
    "score": SCORERS,
    "filter": FILTERS,
    "preempt": victims.RULES,  # the victim rules `preempt.rules` names (plugins/victims.py)
}

# First come, first served (by priority, then submission) with first fit: fifo.py's rules.
_FIFO: dict[str, Any] = {
    "name": "fifo",
    "queue_sort": ["priority"],
    "admission": ["lanes", "quota", "budget"],
    "model_choice": None,
    "score": [],
    "placement": {"order": "first", "sample": 1, "topology": False},
    "reserve": None,
    "preempt": None,
}

PROFILES: dict[str, dict[str, Any]] = {
    "default": {
        "name": "default",
        "queue_sort": [
            # within a service level: the class (low 0, normal 100, high 1000), aged 10 points
            # an hour, so a class gap of 100 is worth 10 hours of waiting; a higher class also
            # preempts a lower one (the `priority` rule)
            {"name": "priority", "weight": 1.0},
            # least attained service (Tiresias): jobs that have had the least device-time go
            # first and time-slice those that have had more, across tenants; a job that has
            # waited four times as long as it ran starts over at the first level; one that has
            # waited ten times its declared runtime is starving: it goes first and may take the
            # place of younger jobs at the first level (a whole node's job among small ones)
            {
                "name": "attained",
                "weight": 10_000.0,
                "args": {"thresholds_h": [1.0, 10.0], "promote": 4.0, "starve": 10.0},
            },
            # within a level, shortest declared work first (a level: x10 device-hours); jobs
            # that declare no runtime share the last level (BENCHMARKS.md, Philly)
            {"name": "declared", "weight": 100.0, "args": {"thresholds_h": [0.25, 2.5, 25.0]}},
            {"name": "aging", "weight": 10.0},
            {"name": "fairshare", "weight": 50.0, "args": {"half_life_s": 7 * 24 * 3600}},
        ],
        "admission": ["lanes", "quota", "budget"],
        "model_choice": {"name": "throughput_per_cost", "args": {"prices": {}}},
        # one-replica jobs (shares, whole devices on one node, CPU only) by fgd-plus over every
        # node (placer.py); gangs and MIG slices by the indexed walk (indexed.py), packing over
        # a sample of 4 (BENCHMARKS.md); a job whose data sets some node's cache holds is
        # walked, those nodes sampled first and preferred by the share they hold (at weight
        # 0.5, holding all of it outweighs being up to half a node less full)
        "score": [{"name": "packing", "weight": 1.0}, {"name": "data_locality", "weight": 0.5}],
        "placement": {
            "policy": "fgd-plus",
            "order": "pack",
            "sample": 4,
            "topology": True,
            "max_domains": 8,
        },
        # no reservation: a waiting gang at a lower service level preempts instead (`easy`
        # holds space for the head gang and backfills)
        "reserve": None,
        "preempt": {
            "rules": ["priority", "reclaim", "service"],
            "grace_s": 30,
            "service_crosses_guarantees": True,
        },
    },
    "fifo": _FIFO,
    # FIFO with a reservation for the head job and EASY backfill (Slurm's sched/backfill habit).
    "easy": {**_FIFO, "name": "easy", "reserve": {"steps": 32}},
    # Tiresias's discretized least-attained-service (NSDI'19): jobs that have had the least
    # device-time go first and preempt those that have had more; FIFO within a level; no
    # runtime estimates, no quotas' guarantees protected (the baseline of `aicc sim jobs`).
    "las": {
        "name": "las",
        "queue_sort": [
            {"name": "attained", "weight": 10_000.0, "args": {"thresholds_h": [1.0, 10.0]}},
            {"name": "priority", "weight": 1.0},
        ],
        "admission": ["lanes", "quota", "budget"],
        "model_choice": None,
        "score": [{"name": "packing", "weight": 1.0}],
        "placement": {"order": "pack", "sample": 4, "topology": True},
        "reserve": None,
        "preempt": {"rules": ["service"], "grace_s": 30, "protect_guarantee": False},
    },
    # The default policy, spreading replicas over the emptiest nodes instead of packing.
    "spread": {
        "name": "spread",
        "queue_sort": [
            {"name": "priority", "weight": 1.0},
            {"name": "aging", "weight": 10.0},
            {"name": "fairshare", "weight": 50.0},
        ],
        "guaranteed_first": True,
        "admission": ["lanes", "quota", "budget"],
        "model_choice": {"name": "throughput_per_cost"},
        "score": [{"name": "spread", "weight": 1.0}],
        "placement": {"order": "spread", "sample": 4, "topology": True},
        "reserve": {"steps": 32},
        "preempt": {"rules": ["priority", "reclaim"], "grace_s": 30},
    },
}


def _predicted(default: Mapping[str, Any]) -> dict[str, Any]:
    """`default` with shortest predicted remaining work as its ladder (issue 38.4): runtimes
    predicted from like jobs' finished runs (scheduler/predict.py; the declared runtime where
    there is no prediction), least attained service within a level, and a job lifted a level
    for each half of its runtime it waited before it started (BENCHMARKS.md, "Lift by the wait
    before a start" and "The lift's size")."""
    queue_sort = [
        {"name": "priority", "weight": 1.0},
        # levels of predicted remaining device-hours (x10 apart), the `service` rule's ladder: a
        # job that outlives its prediction ranks by what it has run (least attained service);
        # one that has waited ten times its predicted runtime is starving (as in `default`); a
        # level down for each half of its runtime it waited before it started (finish-time
        # fairness: the top level does not wait behind all shorter work, nor, running, become
        # its victim; a half, not a whole one: 0.759x LAS's JCT on the whole Philly trace, not
        # 0.778x, at 1.19x the preemptions)
        {
            "name": "predicted",
            "weight": 10_000.0,
            "args": {
                "thresholds_h": [0.25, 2.5, 25.0],
                "starve": 10.0,
                "lift": 0.5,
                "lift_at_start": True,
            },
        },
        # within a level, least attained service, with Tiresias's promotion
        {
            "name": "attained",
            "weight": 100.0,
            "args": {"thresholds_h": [1.0, 10.0], "promote": 4.0},
        },
        {"name": "aging", "weight": 10.0},
        {"name": "fairshare", "weight": 50.0, "args": {"half_life_s": 7 * 24 * 3600}},
    ]
    return {**default, "name": "predicted", "queue_sort": queue_sort}


PROFILES["predicted"] = _predicted(PROFILES["default"])

_KEYS = frozenset(
    {
        "name",
        "queue_sort",
        "guaranteed_first",
        "admission",
        "model_choice",
        "filter",
        "score",
        "placement",
        "reserve",
        "preempt",
        "max_jobs",
        "actions",
        "bind",
    }
)

_PLACEMENT_KEYS = frozenset({"order", "sample", "topology", "max_domains", "policy"})


def register(point: str, name: str, factory: Callable[[Args], Any]) -> None:
    """Make a plugin available to profiles by name at an extension point (`REGISTRIES`)."""
    if point not in REGISTRIES:
        raise ValueError(f"unknown extension point {point!r}; one of {', '.join(REGISTRIES)}")
    REGISTRIES[point][name] = factory


def register_scorer(name: str, factory: Callable[[Args], Scorer]) -> None:
    """Make a scorer available to profiles by name (e.g. the placement package's `fgd`)."""
    register("score", name, factory)


def register_filter(name: str, factory: Callable[[Args], NodeFilter]) -> None:
    register("filter", name, factory)


def get_profile(name: str, custom: Mapping[str, Mapping[str, Any]] | None = None) -> Profile:
    """The profile of that name: one of the site's own (`profiles` in config.yaml), which may
    also redefine a built-in one, else a built-in. Raises ValueError naming the known ones."""
    known = {**PROFILES, **(custom or {})}
    config = known.get(name)
    if config is None:
        raise ValueError(f"unknown scheduler profile {name!r}; one of {', '.join(known)}")
    return build_profile({**config, "name": name})


def build_profile(config: Mapping[str, Any]) -> Profile:
    """A profile from its configuration. Raises ValueError for unknown keys or plugin names."""
    unknown = set(config) - _KEYS
    if unknown:
        raise ValueError(f"unknown profile keys: {', '.join(sorted(unknown))}")
    name = str(config.get("name") or "custom")
    job_scores: list[tuple[JobScore, float]] = []
    shares: list[tuple[ShareScore, float]] = []
    for plugin, weight, args in _entries(config.get("queue_sort") or []):
        if plugin in JOB_SCORES:
            job_scores.append((JOB_SCORES[plugin](args), weight))
        elif plugin in SHARE_SCORES:
            shares.append((SHARE_SCORES[plugin](args), weight))
        else:
            _unknown("queue_sort", plugin, [*JOB_SCORES, *SHARE_SCORES])
    admissions = [
        _make(ADMISSIONS, "admission", plugin, args)
        for plugin, _, args in _entries(config.get("admission") or [])
    ]
    choice = None
    if config.get("model_choice"):
        ((plugin, _, args),) = _entries([config["model_choice"]])
        choice = _make(MODEL_CHOICES, "model_choice", plugin, args)
    scorers = tuple(
        (_make(SCORERS, "score", plugin, args), weight)
        for plugin, weight, args in _entries(config.get("score") or [])
    )
    filters = tuple(
        _make(FILTERS, "filter", plugin, args)
        for plugin, _, args in _entries(config.get("filter") or [])
    )
    placement = dict(config.get("placement") or {})
    extra = set(placement) - _PLACEMENT_KEYS
    if extra:
        raise ValueError(f"unknown placement keys: {', '.join(sorted(extra))}")
    order = str(placement.get("order", "pack"))
    if order not in ("pack", "spread", "first"):
        raise ValueError(f"placement order must be pack, spread or first, not {order!r}")
    policy = placement.get("policy")
    if policy is not None and policy not in PLACEMENT_POLICIES:
        known = ", ".join(PLACEMENT_POLICIES)
        raise ValueError(f"unknown placement policy {policy!r}; one of {known}")
    place = PlaceConfig(
        order=order,
        sample=max(1, int(placement.get("sample", 4))),
        scorers=scorers,
        filters=filters,
        topology=bool(placement.get("topology", True)),
        max_domains=int(placement.get("max_domains", 8)),
        policy=None if policy is None else str(policy),
    )
    reserve_config = config.get("reserve")
    preempt_config = config.get("preempt")
    max_jobs = config.get("max_jobs")
    actions = tuple(str(a) for a in config.get("actions") or DEFAULT_ACTIONS)
    for action in actions:
        if action not in ACTIONS:
            _unknown("actions", action, list(ACTIONS))
    if "allocate" not in actions:
        raise ValueError("a profile's actions must include allocate")
    bind = str(config.get("bind") or "default")
    if bind not in BINDS:
        _unknown("bind", bind, list(BINDS))
    return Profile(
        name=name,
        queue_sort=tuple(job_scores),
        share=tuple(shares),
        guaranteed_first=bool(config.get("guaranteed_first", False)),
        admission=tuple(admissions),
        model_choice=choice,
        place=place,
        reserve=None if reserve_config is None else ReserveConfig(**dict(reserve_config)),
        preempt=None if preempt_config is None else _preempt(preempt_config),
        max_jobs=None if max_jobs is None else int(max_jobs),
        actions=actions,
        bind=bind,
    )


def _preempt(config: Mapping[str, Any]) -> PreemptConfig:
    values = dict(config)
    rules = tuple(values.pop("rules", ("priority", "reclaim")))
    bad = set(rules) - set(victims.RULES)
    if bad:
        known = ", ".join(victims.RULES)
        raise ValueError(f"unknown preemption rules: {', '.join(sorted(bad))}; one of {known}")
    # tried in the registry's order, whatever the order the profile names them in
    tried = tuple((name, make({})) for name, make in victims.RULES.items() if name in rules)
    return PreemptConfig(rules=rules, victims=tried, **values)


def _entries(items: Sequence[Any]) -> list[tuple[str, float, Args]]:
    out: list[tuple[str, float, Args]] = []
    for item in items:
        if isinstance(item, str):
            out.append((item, 1.0, {}))
        else:
            extra = set(item) - {"name", "weight", "args"}
            if extra:
                raise ValueError(f"unknown plugin keys: {', '.join(sorted(extra))}")
            out.append((str(item["name"]), float(item.get("weight", 1.0)), item.get("args") or {}))
    return out


def _make(registry: Mapping[str, Callable[[Args], T]], point: str, name: str, args: Args) -> T:
    if name not in registry:
        _unknown(point, name, list(registry))
    return registry[name](args)


def _unknown(point: str, name: str, known: Sequence[str]) -> NoReturn:
    raise ValueError(f"unknown {point} plugin {name!r}; one of {', '.join(known) or 'none'}")


def with_aging(profile: Profile, every_s: float, levels: int | None) -> Profile:
    """The profile with the operator's aging (`aging` in config.yaml) on its service ladders:
    a waiting job comes up one level for each `every_s` it has waited, at most `levels`
    (plugins/service.py, `Ladder`). Raises ValueError for a profile that ranks no levels (its
    queue sort has no `attained`, `declared` or `predicted`): there is nothing to lift."""
    if every_s <= 0 or (levels is not None and levels < 0):
        raise ValueError("aging: every_s must be positive and levels 0 or more")
    sorts: list[tuple[JobScore, float]] = []
    found = False
    for plugin, weight in profile.queue_sort:
        if isinstance(plugin, service.Ladder):
            plugin = replace(plugin, age_every_s=float(every_s), age_levels=levels)
            found = True
        sorts.append((plugin, weight))
    if not found:
        raise ValueError(
            f"aging: profile {profile.name!r} ranks no service levels to lift (its queue sort "
            "has no attained, declared or predicted plugin); use default, predicted or las, "
            "or add one to the profile"
        )
    return replace(profile, queue_sort=tuple(sorts))
