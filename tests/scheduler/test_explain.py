"""Explain: why a job waits (reason codes), its position, and when it would start according to
a what-if replay of the same scheduler over declared runtimes."""

from __future__ import annotations

import pytest
from sched_fixtures import at, gpus, job, node, place, snapshot, tree

from aicc.core.tenancy import Quota
from aicc.scheduler.explain import estimate_start, explain
from aicc.scheduler.snapshot import JobView, NodeView, QueueView

HOUR = 3600


def busy_node(runtime_s: int | None = HOUR) -> tuple[list[NodeView], list[JobView]]:
    nodes = [node("n")]
    running = [place(nodes, job("r", gpus=8, runtime_s=runtime_s), [("n", range(8))], started=at())]
    return nodes, running


def test_a_job_that_fits_is_starting_now() -> None:
    e = explain(snapshot([node("n")], [job("j")]), "j")
    assert (
        [r.code for r in e.reasons] == ["starting"]
        and e.position == 0
        and e.estimated_start == at()
    )


def test_a_waiting_job_starts_when_running_jobs_end() -> None:
    nodes, running = busy_node()
    e = explain(snapshot(nodes, [job("j", gpus=4)], running=running), "j")
    assert [r.code for r in e.reasons] == ["resources"]
    assert e.position == 1
    assert e.estimated_start == at(hours=1)


def test_the_what_if_runs_the_jobs_ahead_first() -> None:
    nodes, running = busy_node()
    pending = [job("a", gpus=8, runtime_s=2 * HOUR), job("b", gpus=8, minute=1)]
    snap = snapshot(nodes, pending, running=running)
    assert explain(snap, "a").estimated_start == at(hours=1)  # its reservation
    e = explain(snap, "b")
    assert e.position == 2 and e.estimated_start == at(hours=3)


def test_unknown_runtimes_give_no_estimate() -> None:
    nodes, running = busy_node(runtime_s=None)
    snap = snapshot(nodes, [job("j", gpus=8)], running=running)
    assert explain(snap, "j").estimated_start is None
    assert estimate_start(snap, "j", max_steps=3) is None


def test_a_preempting_job_starts_after_the_grace_period() -> None:
    nodes, running = busy_node(runtime_s=None)
    snap = snapshot(nodes, [job("high", gpus=8, priority=1000)], running=running)
    e = explain(snap, "high")
    assert e.reasons[0].code == "preempting" and e.estimated_start == at(seconds=30)
    assert estimate_start(snap, "high", "default") == at(seconds=30)


def test_quota_and_queue_reasons() -> None:
    tenants = tree({"prj-a": Quota(max=gpus(1))})
    queues = (QueueView("q", max_running=0),)
    snap = snapshot(
        [node("n")],
        [job("over", gpus=2), job("laned", queue="q", minute=1)],
        tenants=tenants,
        queues=queues,
    )
    assert [r.code for r in explain(snap, "over").reasons] == ["quota"]
    assert [r.code for r in explain(snap, "laned").reasons] == ["queue"]


def test_explain_refuses_a_job_that_is_not_waiting() -> None:
    with pytest.raises(KeyError):
        explain(snapshot([node("n")], []), "nope")
