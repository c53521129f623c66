"""Profiles are configuration: built from mappings of plugin names, weights and arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from sched_fixtures import T0, bound, job, node, place, preempts, run, snapshot, waiting

from aicc.scheduler import profiles
from aicc.scheduler.cycle import BINDS, CycleState, Placed
from aicc.scheduler.framework import schedule
from aicc.scheduler.plugins.base import ADMIT, Cycle, Verdict
from aicc.scheduler.plugins.fairshare import FairShare
from aicc.scheduler.plugins.queue_sort import Aging, Priority
from aicc.scheduler.plugins.service import Attained, Declared
from aicc.scheduler.profiles import PROFILES, build_profile, get_profile
from aicc.scheduler.snapshot import JobView, Snapshot, WaitReason

if TYPE_CHECKING:
    from aicc.scheduler.plugins.victims import Held


def test_every_built_in_profile_builds_and_runs() -> None:
    for name in PROFILES:
        prof = get_profile(name)
        assert prof.name == name
        schedule(Snapshot(T0, [node("n")], [job("j")]), prof)


def test_the_default_profile_is_what_the_docs_say() -> None:
    prof = get_profile("default")
    assert [(type(p), w) for p, w in prof.queue_sort] == [
        (Priority, 1.0),
        (Attained, 10_000.0),
        (Declared, 100.0),
        (Aging, 10.0),
    ]
    attained, declared = prof.queue_sort[1][0], prof.queue_sort[2][0]
    assert isinstance(attained, Attained) and attained.thresholds == (3600.0, 36000.0)
    assert attained.promote == 4.0
    assert isinstance(declared, Declared) and declared.thresholds == (900.0, 9000.0, 90000.0)
    ((share, weight),) = prof.share
    assert isinstance(share, FairShare) and weight == 50.0 and share.half_life_s == 7 * 24 * 3600
    assert [a.name for a in prof.admission] == ["lanes", "quota", "budget"]
    assert prof.place.order == "pack" and prof.place.policy == "fgd-plus"
    assert prof.reserve is None and not prof.guaranteed_first and prof.preempt is not None
    assert prof.preempt.rules == ("priority", "reclaim", "service") and prof.preempt.grace_s == 30
    assert prof.preempt.protect_guarantee and prof.preempt.service_crosses_guarantees


def test_fifo_is_first_fit_with_no_reservation_and_no_preemption() -> None:
    prof = get_profile("fifo")
    assert prof.place.order == "first" and prof.reserve is None and prof.preempt is None
    assert not prof.share and prof.model_choice is None


def test_plugins_as_names_or_entries() -> None:
    prof = build_profile(
        {
            "name": "mine",
            "queue_sort": [
                "priority",
                {"name": "fairshare", "weight": 7, "args": {"half_life_s": 60}},
            ],
            "score": [{"name": "spread", "weight": 2}],
            "placement": {"order": "spread", "sample": 1},
            "preempt": {"rules": ["reclaim"], "grace_s": 5},
            "reserve": {"steps": 4, "hold_unknown": False},
            "max_jobs": 10,
        }
    )
    ((fs, w),) = prof.share
    assert isinstance(fs, FairShare) and fs.half_life_s == 60 and w == 7
    assert prof.place.scorers[0][1] == 2 and prof.place.sample == 1
    assert prof.preempt is not None and prof.preempt.rules == ("reclaim",)
    assert prof.reserve is not None and not prof.reserve.hold_unknown
    assert prof.max_jobs == 10


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"name": "x", "queue_sort": ["nope"]}, "unknown queue_sort plugin 'nope'"),
        ({"name": "x", "score": ["fgd"]}, "unknown score plugin 'fgd'"),
        ({"name": "x", "admission": ["budgets"]}, "unknown admission plugin"),
        ({"name": "x", "placement": {"order": "random"}}, "placement order"),
        ({"name": "x", "preempt": {"rules": ["age"]}}, "unknown preemption rules"),
        ({"name": "x", "colour": "blue"}, "unknown profile keys: colour"),
        ({"name": "x", "score": [{"name": "packing", "wieght": 1}]}, "unknown plugin keys"),
    ],
)
def test_bad_configuration_is_refused_with_its_name(
    config: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_profile(config)


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="default, fifo"):
        get_profile("best")


@dataclass(frozen=True)
class OnlyProject:
    """An admission plugin written for this test: jobs of other projects wait."""

    project: str
    name: str = "only-project"

    def admit(self, job: JobView, models: list[str], cycle: Cycle) -> Verdict:
        if job.project_id == self.project:
            return ADMIT
        return Verdict(WaitReason("queue", f"only {self.project} runs here"))


def test_a_new_plugin_is_one_factory_and_one_registry_line() -> None:
    profiles.register("admission", "only-project", lambda args: OnlyProject(args["project"]))
    try:
        prof = build_profile(
            {"name": "mine", "admission": [{"name": "only-project", "args": {"project": "a"}}]}
        )
        snap = snapshot([node("n")], [job("mine", project="a"), job("theirs", project="b")])
        decisions = run(snap, prof)
    finally:
        del profiles.ADMISSIONS["only-project"]
    assert bound(decisions, "mine")
    assert waiting(decisions, "theirs").reasons[0].message == "only a runs here"


def test_an_unknown_extension_point_or_action_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown extension point 'sort'; one of queue_sort"):
        profiles.register("sort", "x", lambda args: OnlyProject("a"))
    with pytest.raises(ValueError, match="unknown actions plugin 'steal'; one of admit, reclaim"):
        build_profile({"name": "x", "actions": ["admit", "steal", "allocate"]})
    with pytest.raises(ValueError, match="must include allocate"):
        build_profile({"name": "x", "actions": ["admit"]})


def test_a_profile_without_the_preempt_action_never_preempts() -> None:
    nodes = [node("n")]
    running = [place(nodes, job("low", gpus=8, priority=0), [("n", range(8))])]
    snap = snapshot(nodes, [job("high", gpus=4, priority=1000)], running=running)
    assert preempts(run(snap, "default"))
    config = {**PROFILES["default"], "actions": ["admit", "reclaim", "allocate", "reserve"]}
    decisions = run(snap, build_profile(config))
    assert not preempts(decisions)
    assert waiting(decisions, "high").reasons[0].code == "resources"


def scavenger(judge: object, c: Held, other: bool) -> bool:
    """A victim rule written for this test: jobs of the `scavenger` project are always fair game."""
    return c.job.project_id == "scavenger"


def test_a_new_victim_rule_is_one_function_and_one_registry_line() -> None:
    profiles.register("preempt", "scavenger", lambda args: scavenger)
    try:
        prof = build_profile({"name": "mine", "preempt": {"rules": ["scavenger"]}})
        nodes = [node("n")]
        running = [
            place(nodes, job("free", gpus=8, priority=1000, project="scavenger"), [("n", range(8))])
        ]
        decisions = run(snapshot(nodes, [job("mine", gpus=8, priority=0)], running=running), prof)
    finally:
        del profiles.REGISTRIES["preempt"]["scavenger"]
    ((p,),) = [preempts(decisions)]
    assert (p.job_id, p.preemptor, p.reason) == ("free", "mine", "scavenger")
    with pytest.raises(ValueError, match="unknown preemption rules: scavenger; one of reclaim"):
        build_profile({"name": "mine", "preempt": {"rules": ["scavenger"]}})


@dataclass(frozen=True)
class ByProject:
    """A queue-sort plugin written for this test that ranks service its own way: jobs of
    project `b` are one level up, so the `service` rule lets project `a` take them."""

    preempt_gap: int = 1
    name: str = "by-project"

    def rank(self, job: JobView, cycle: Cycle) -> int:
        return 1 if job.project_id == "b" else 0

    def score(self, job: JobView, cycle: Cycle) -> float:
        return -float(self.rank(job, cycle))


def test_any_queue_sort_plugin_that_ranks_service_is_the_service_ladder() -> None:
    profiles.register("queue_sort", "by-project", lambda args: ByProject())
    try:
        prof = build_profile(
            {"name": "mine", "queue_sort": ["by-project"], "preempt": {"rules": ["service"]}}
        )
    finally:
        del profiles.JOB_SCORES["by-project"]
    nodes = [node("n")]
    running = [place(nodes, job("theirs", gpus=8, project="b"), [("n", range(8))])]
    decisions = run(snapshot(nodes, [job("mine", gpus=8, project="a")], running=running), prof)
    ((p,),) = [preempts(decisions)]
    assert (p.job_id, p.preemptor, p.reason) == ("theirs", "mine", "service")


def test_a_profile_names_its_bind_and_an_unknown_one_is_refused() -> None:
    def approval(cycle: CycleState, job: JobView, placed: Placed) -> None:
        """A bind written for this test: a placed job waits for someone's approval."""
        cycle.wait(job, [WaitReason("approval", "placed; waits for an operator to approve")])

    BINDS["approval"] = approval
    try:
        prof = build_profile({"name": "mine", "bind": "approval"})
        decisions = run(snapshot([node("n")], [job("mine", gpus=8)]), prof)
    finally:
        del BINDS["approval"]
    assert waiting(decisions, "mine").reasons[0].code == "approval"
    assert bound(run(snapshot([node("n")], [job("mine", gpus=8)]), "default"), "mine")
    with pytest.raises(ValueError, match="unknown bind plugin 'approval'; one of default"):
        build_profile({"name": "mine", "bind": "approval"})


def test_a_site_profile_from_config_is_built_by_name_and_may_replace_a_built_in() -> None:
    own = {
        "tight": {"queue_sort": ["priority"], "admission": ["quota"], "preempt": None},
        "fifo": {"queue_sort": ["priority"], "actions": ["admit", "allocate"]},
    }
    tight = get_profile("tight", own)
    assert tight.name == "tight" and tight.preempt is None
    assert get_profile("fifo", own).actions == ("admit", "allocate")
    assert get_profile("easy", own).name == "easy"  # the built-ins stay
    with pytest.raises(ValueError, match=r"one of default, fifo, .*tight"):
        get_profile("nope", own)
    with pytest.raises(ValueError, match="unknown profile keys: colour"):
        get_profile("bad", {"bad": {"colour": "blue"}})
