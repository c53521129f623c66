"""The `data_locality` scorer: a job goes where its data sets are cached, among the nodes that
fit it, and a job without data sets is placed exactly as before (decision_hashes.json too)."""

from __future__ import annotations

from dataclasses import replace

from sched_fixtures import bound, job, node, nodes_of, place, run, snapshot

from aicc.scheduler.plugins.locality import DataLocality
from aicc.scheduler.profiles import get_profile
from aicc.scheduler.snapshot import JobView


def with_data(view: JobView, **shares: float) -> JobView:
    return replace(view, request=replace(view.request, data=tuple(sorted(shares.items()))))


def cluster() -> list:
    """Five nodes of 4 GPUs; c and e already run a job on one, so packing prefers them: a
    replica of one GPU leaves them half used, the others a quarter."""
    nodes = [node(name, gpus=4) for name in "abcde"]
    place(nodes, job("r1", gpus=1), [("c", [0])])
    place(nodes, job("r2", gpus=1), [("e", [0])])
    return nodes


def test_the_default_profile_weighs_data_locality() -> None:
    scorers = {s.name: w for s, w in get_profile("default").place.indexed.scorers}
    assert 0 < scorers["data_locality"] < scorers["packing"]


def test_a_job_goes_to_the_node_that_holds_its_data() -> None:
    plain = job("j", gpus=1)
    assert nodes_of(bound(run(snapshot(cluster(), [plain])), "j")) == ["a"]  # fgd-plus's choice
    # Its data are on b: b is sampled first and wins, though emptier than c and e.
    assert nodes_of(bound(run(snapshot(cluster(), [with_data(plain, b=1.0)])), "j")) == ["b"]
    # Between equally full nodes, most of it on d beats a little on b.
    mixed = with_data(plain, b=0.1, d=0.9)
    assert nodes_of(bound(run(snapshot(cluster(), [mixed])), "j")) == ["d"]
    # The weight is small (0.5): 30% of it on an empty node does not outweigh packing onto a
    # fuller node that holds 10%.
    packed = with_data(plain, d=0.3, e=0.1)
    assert nodes_of(bound(run(snapshot(cluster(), [packed])), "j")) == ["e"]


def test_a_node_holding_the_data_but_too_full_is_passed_over() -> None:
    nodes = cluster()
    place(nodes, job("r3", gpus=4), [("a", [0, 1, 2, 3])])
    decisions = run(snapshot(nodes, [with_data(job("j", gpus=1), a=1.0)]))
    assert nodes_of(bound(decisions, "j")) == ["c"]


def test_a_gang_is_drawn_to_its_data_too() -> None:
    gang = with_data(job("g", gpus=4, replicas=2), a=1.0, b=1.0)
    assert sorted(nodes_of(bound(run(snapshot(cluster(), [gang])), "g"))) == ["a", "b"]


def test_the_scorer_gives_nothing_without_data() -> None:
    scorer = DataLocality()
    n = node("a")
    assert scorer.score(n, job("j").request, ()) == 0.0
    assert scorer.score(n, with_data(job("j"), b=1.0).request, ()) == 0.0
    assert scorer.score(n, with_data(job("j"), a=0.25).request, ()) == 0.25
