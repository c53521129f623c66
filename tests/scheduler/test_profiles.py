"""Profiles are configuration: built from mappings of plugin names, weights and arguments."""

from __future__ import annotations

import pytest
from sched_fixtures import T0, job, node

from aicc.scheduler.framework import schedule
from aicc.scheduler.plugins.fairshare import FairShare
from aicc.scheduler.plugins.queue_sort import Aging, Priority
from aicc.scheduler.plugins.service import Attained, Declared
from aicc.scheduler.profiles import PROFILES, build_profile, get_profile
from aicc.scheduler.snapshot import Snapshot


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
