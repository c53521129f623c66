"""Placement: packing and spread scorers through the `Scorer` protocol, scorers and filters
registered by name, and the heterogeneity-aware choice between accepted models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from sched_fixtures import (
    A100,
    H100,
    bound,
    codes,
    job,
    node,
    nodes_of,
    place,
    profile,
    run,
    snapshot,
)

from aicc.scheduler import profiles
from aicc.scheduler.plugins.hetero import ThroughputPerCost
from aicc.scheduler.plugins.score import Packing, Scorer, Spread
from aicc.scheduler.quota import pflops_of
from aicc.scheduler.snapshot import DevicePick, NodeView, ReplicaRequest

PACKING = {"order": "pack", "sample": 4}  # the default profile's placement without a policy


def test_packing_fills_the_busiest_node_and_spread_the_emptiest() -> None:
    def where(name: str) -> str:
        nodes = [node("empty"), node("busy"), node("half")]
        running = [
            place(nodes, job("b", gpus=6), [("busy", range(6))]),
            place(nodes, job("h", gpus=4), [("half", range(4))]),
        ]
        return nodes_of(
            bound(run(snapshot(nodes, [job("j", gpus=2)], running=running), name), "j")
        )[0]

    assert where("default") == "busy"
    assert where("spread") == "empty"
    assert where("fifo") == "empty"  # first fit in node order


def test_the_simple_scorers() -> None:
    n = node("n", gpus=4)
    r = ReplicaRequest(1000, 1024, accel_count=1)
    pick = (DevicePick(0, 1000),)
    assert Packing().score(n, r, pick) == pytest.approx(0.25)
    assert Spread().score(n, r, pick) == pytest.approx(0.75)


@dataclass(frozen=True)
class Prefer:
    """A scorer from elsewhere (the placement package's fgd plugs in the same way)."""

    target: str
    name: str = "prefer"

    def score(
        self, node: NodeView, request: ReplicaRequest, picks: tuple[DevicePick, ...]
    ) -> float:
        return 1.0 if node.name == self.target else 0.0


def prefer(args: Mapping[str, Any]) -> Scorer:
    return Prefer(str(args["node"]))


def test_a_registered_scorer_plugs_in_by_name() -> None:
    profiles.register_scorer("prefer", prefer)
    try:
        # the scorers rank what a placement policy does not place: a profile without one here
        prof = profile(
            score=[{"name": "prefer", "weight": 5, "args": {"node": "c"}}], placement=PACKING
        )
        nodes = [node("a"), node("b"), node("c")]
        assert nodes_of(bound(run(snapshot(nodes, [job("j")]), prof), "j")) == ["c"]
    finally:
        del profiles.SCORERS["prefer"]


def test_a_registered_filter_excludes_nodes() -> None:
    profiles.register_filter("not-a", lambda args: lambda n, r: n.name != "a")
    try:
        prof = profile(filter=["not-a"])
        assert nodes_of(bound(run(snapshot([node("a"), node("b")], [job("j")]), prof), "j")) == [
            "b"
        ]
    finally:
        del profiles.FILTERS["not-a"]


def test_the_best_pflops_per_price_model_is_chosen() -> None:
    nodes = [node("a", model=A100), node("h", model=H100)]
    either = [job("j", models=(A100, H100))]
    # H100 is ~3.2x the PFLOPS of an A100: at 2x the price it is the better buy, at 4x it is not.
    # (Model choice orders the models of what a placement policy does not place; the default
    # profile's fgd-plus weighs every accepted model itself: test_placer.py.)
    cheap_h = profile(
        model_choice={"name": "throughput_per_cost", "args": {"prices": {H100: 2, A100: 1}}},
        placement=PACKING,
    )
    dear_h = profile(
        model_choice={"name": "throughput_per_cost", "args": {"prices": {H100: 4, A100: 1}}},
        placement=PACKING,
    )
    assert nodes_of(bound(run(snapshot(nodes, either), cheap_h), "j")) == ["h"]
    assert nodes_of(bound(run(snapshot(nodes, either), dear_h), "j")) == ["a"]


def test_the_next_model_is_used_when_the_best_is_full() -> None:
    nodes = [node("a", model=A100), node("h", model=H100, gpus=1)]
    jobs = [job("first", models=(A100, H100)), job("second", models=(A100, H100), minute=1)]
    decisions = run(snapshot(nodes, jobs), profile(placement=PACKING))  # most PFLOPS first
    assert nodes_of(bound(decisions, "first")) == ["h"]
    assert nodes_of(bound(decisions, "second")) == ["a"]


def test_model_ranking() -> None:
    choice = ThroughputPerCost(prices={A100: 1.0})
    assert choice._rank(A100)[0] == 0 and choice._rank(H100)[0] == 1  # priced models first
    assert pflops_of(H100) > pflops_of(A100) > 0
    assert pflops_of("no-such-chip") == 0.0


def test_a_replica_never_mixes_models_on_one_node() -> None:
    from aicc.scheduler.snapshot import DeviceView

    mixed = node("m", devices=[DeviceView(0, A100, 80 * 1024), DeviceView(1, H100, 80 * 1024)])
    decisions = run(snapshot([mixed], [job("two", gpus=2, models=(A100, H100))]))
    assert codes(decisions, "two") == ["unschedulable"]
