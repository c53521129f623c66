"""Maintenance windows in the scheduler (issue 40): a node with a window ahead
(`NodeView.open_for_s`) takes a replica only if its declared runtime ends before the window; a
job without a runtime only if the window is beyond the notice. The default profile's vector
placer steps aside for the walk, which asks every node (`fit.window_allows`)."""

from __future__ import annotations

from dataclasses import replace

from sched_fixtures import bound, codes, job, node, nodes_of, run
from sched_fixtures import snapshot as snap

from aicc.scheduler.explain import explain
from aicc.scheduler.fit import window_allows
from aicc.scheduler.snapshot import JobView, NodeView

HOUR = 3600.0


def windowed(name: str, ahead_s: float, *, notice_s: float = 86400.0, gpus: int = 8) -> NodeView:
    n = node(name, gpus=gpus)
    n.open_for_s, n.notice_s = ahead_s, notice_s
    return n


def timed(view: JobView) -> JobView:
    """The request as the snapshot builder gives it while a window is ahead: with its runtime."""
    return replace(view, request=replace(view.request, runtime_s=view.max_runtime_s))


def test_a_job_that_ends_before_the_window_starts_there_one_that_would_not_waits() -> None:
    short = timed(job("short", gpus=8, runtime_s=3600))
    long = timed(job("long", gpus=8, runtime_s=3 * 3600, minute=1))
    decisions = run(snap([windowed("gpu-1", 2 * HOUR)], [short, long]))
    assert nodes_of(bound(decisions, "short")) == ["gpu-1"]
    assert codes(decisions, "long") == ["resources"]


def test_without_a_runtime_a_job_waits_for_a_window_within_the_notice_not_beyond() -> None:
    bare = timed(job("bare", gpus=1))
    assert codes(run(snap([windowed("gpu-1", 2 * HOUR)], [bare])), "bare") == ["resources"]
    far = windowed("gpu-1", 2 * HOUR, notice_s=HOUR)  # announced further ahead than the notice
    assert nodes_of(bound(run(snap([far], [bare])), "bare")) == ["gpu-1"]


def test_after_the_window_the_node_takes_any_job_and_others_are_used_meanwhile() -> None:
    bare = timed(job("bare", gpus=8))
    nodes = [windowed("gpu-1", HOUR), node("gpu-2")]
    assert nodes_of(bound(run(snap(nodes, [bare])), "bare")) == ["gpu-2"]  # not the fuller one
    assert nodes_of(bound(run(snap([node("gpu-1")], [bare])), "bare")) == ["gpu-1"]  # window gone


def test_gangs_shares_and_cpu_jobs_are_held_alike() -> None:
    nodes = [windowed("gpu-1", HOUR), node("gpu-2"), node("gpu-3")]
    gang = timed(job("gang", gpus=8, replicas=2, runtime_s=4 * 3600))
    share = timed(job("share", milli=250, runtime_s=2 * 3600, minute=1))
    cpu = timed(job("cpu", gpus=0, minute=2))
    assert sorted(nodes_of(bound(run(snap(nodes, [gang])), "gang"))) == ["gpu-2", "gpu-3"]
    full = [windowed("gpu-1", HOUR), node("gpu-2", gpus=0, cpu=0)]  # gpu-2 has no room
    decisions = run(snap(full, [share, cpu]))
    assert codes(decisions, "share") and codes(decisions, "cpu")  # gpu-1 is held for both
    assert not window_allows(full[0], share.request) and not window_allows(full[0], cpu.request)


def test_the_what_if_starts_a_held_job_once_the_window_is_passed() -> None:
    # one node, a window in 1 h; a 2 h job waits. Another job runs until 30 min from now: the
    # replay moves on, and the window comes nearer with it (never further away).
    n = windowed("gpu-1", HOUR)
    held = timed(job("held", gpus=8, runtime_s=2 * 3600))
    found = explain(snap([n], [held]), "held")
    assert [r.code for r in found.reasons] == ["resources"]
    assert found.estimated_start is None  # nothing known ends: no start can be told
