"""Elastic jobs in the scheduler (elastic.py): grown into capacity nothing waiting wants, shrunk
down to their minimum for a job that does not fit, before anyone is preempted."""

from __future__ import annotations

from dataclasses import replace

from sched_fixtures import job, node, place, run, snapshot, waiting

from aicc.scheduler.snapshot import Bind, Grow, JobView, NodeView, Preempt, Shrink


def elastic(
    nodes: list[NodeView], width: int, *, least: int = 1, most: int = 4, **kw: int
) -> JobView:
    """A running elastic job of 1-GPU replicas, `width` of them on node n."""
    view = place(nodes, job("el", gpus=1, replicas=width, **kw), [("n", [i]) for i in range(width)])
    return replace(view, elastic=(least, most))


def test_a_running_elastic_job_grows_into_idle_devices_up_to_its_maximum() -> None:
    nodes = [node("n", gpus=8)]
    running = [elastic(nodes, 1, most=3)]
    decisions = run(snapshot(nodes, [], running=running))
    (grown,) = [d for d in decisions if isinstance(d, Grow)]
    assert grown.job_id == "el"
    assert [p.replica for p in grown.placements] == [1, 2]  # after its last, at once
    assert {p.node for p in grown.placements} == {"n"}
    taken = {pick.index for p in grown.placements for pick in p.devices}
    assert len(taken) == 2 and 0 not in taken  # not the device replica 0 holds


def test_it_does_not_grow_while_a_job_waits_for_capacity() -> None:
    nodes = [node("n", gpus=4)]
    running = [elastic(nodes, 1, most=4), place(nodes, job("big", gpus=2), [("n", [1, 2])])]
    decisions = run(snapshot(nodes, [job("wants-2", gpus=2)], running=running))
    assert not [d for d in decisions if isinstance(d, Grow)]
    # and the waiting job takes nothing from the elastic job at its minimum
    assert not [d for d in decisions if isinstance(d, Shrink | Preempt)]


def test_it_grows_only_on_the_nodes_it_runs_on() -> None:
    nodes = [node("n", gpus=1), node("m", gpus=8)]
    running = [elastic(nodes, 1, most=4)]
    decisions = run(snapshot(nodes, [], running=running))
    assert not [d for d in decisions if isinstance(d, Grow)]


def test_a_job_that_does_not_fit_shrinks_an_elastic_job_instead_of_preempting_it() -> None:
    nodes = [node("n", gpus=8)]
    running = [elastic(nodes, 7, least=2, most=8)]
    decisions = run(snapshot(nodes, [job("new", gpus=3, priority=100)], running=running))
    (shrunk,) = [d for d in decisions if isinstance(d, Shrink)]
    assert (shrunk.job_id, shrunk.preemptor) == ("el", "new")
    assert shrunk.replicas == (5, 6)  # the newest two: with the free one, three devices
    assert not [d for d in decisions if isinstance(d, Preempt)]
    assert waiting(decisions, "new").reasons[0].code == "preempting"


def test_never_below_the_minimum() -> None:
    nodes = [node("n", gpus=4)]
    running = [elastic(nodes, 3, least=2, most=4)]
    decisions = run(snapshot(nodes, [job("new", gpus=3)], running=running))
    assert not [d for d in decisions if isinstance(d, Shrink)]
    assert not [d for d in decisions if isinstance(d, Bind)]


def test_a_project_s_higher_priority_elastic_job_keeps_its_replicas_from_its_lower_work() -> None:
    nodes = [node("n", gpus=4)]
    running = [elastic(nodes, 4, least=1, most=4, priority=500)]
    low = job("low", gpus=2, priority=100)
    other = replace(job("other-tenant", gpus=2, priority=100), project_id="q")
    assert not [d for d in run(snapshot(nodes, [low], running=running)) if isinstance(d, Shrink)]
    (shrunk,) = [d for d in run(snapshot(nodes, [other], running=running)) if isinstance(d, Shrink)]
    assert shrunk.replicas == (2, 3)


def test_while_replicas_stop_the_job_waits_and_shrinks_no_more() -> None:
    nodes = [node("n", gpus=8)]
    running = [replace(elastic(nodes, 8, least=2, most=8), releasing=(6, 7))]
    decisions = run(snapshot(nodes, [job("new", gpus=2)], running=running))
    assert not [d for d in decisions if isinstance(d, Shrink | Preempt | Grow)]
    assert "to stop" in waiting(decisions, "new").reasons[0].message


def test_two_waiting_jobs_do_not_take_back_the_same_replicas() -> None:
    nodes = [node("n", gpus=4)]
    running = [elastic(nodes, 4, least=1, most=4)]
    pending = [job("a", gpus=2, minute=1), job("b", gpus=2, minute=2)]
    shrinks = [d for d in run(snapshot(nodes, pending, running=running)) if isinstance(d, Shrink)]
    taken = [(s.preemptor, r) for s in shrinks for r in s.replicas]
    assert taken == [("a", 2), ("a", 3)]  # b finds replica 1 alone left to take: too few
