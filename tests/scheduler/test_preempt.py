"""Preemption by priority and to reclaim borrowed quota: the fewest and cheapest victims, a grace
period, victims already stopping are waited for, and no preemption loops."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest
from sched_fixtures import (
    at,
    bound,
    codes,
    gpus,
    job,
    node,
    place,
    preempts,
    profile,
    run,
    snapshot,
    tree,
    waiting,
)

from aicc.core.tenancy import Quota
from aicc.scheduler.framework import Cycle, Profile
from aicc.scheduler.profiles import get_profile
from aicc.scheduler.snapshot import Bind, JobView, NodeView, Preempt, Snapshot


def test_a_higher_priority_job_preempts_a_lower_one_with_a_grace_period() -> None:
    nodes = [node("n")]
    running = [place(nodes, job("low", gpus=8, priority=0), [("n", range(8))])]
    decisions = run(snapshot(nodes, [job("high", gpus=4, priority=1000)], running=running))
    (p,) = preempts(decisions)
    assert (p.job_id, p.preemptor, p.reason, p.grace_s) == ("low", "high", "priority", 30)
    wait = waiting(decisions, "high")
    assert wait.reasons[0].code == "preempting"
    assert wait.estimated_start == at(seconds=30)


def test_equal_priority_never_preempts() -> None:
    nodes = [node("n")]
    running = [place(nodes, job("a", gpus=8), [("n", range(8))])]
    decisions = run(snapshot(nodes, [job("b", gpus=4)], running=running))
    assert not preempts(decisions)


def test_aging_does_not_turn_into_preemption() -> None:
    nodes = [node("n")]
    running = [place(nodes, job("normal", gpus=8), [("n", range(8))])]
    old_low = job("old-low", gpus=8, priority=0, minute=-6000)  # aged 100 hours
    decisions = run(snapshot(nodes, [old_low], running=running))
    assert not preempts(decisions)


def test_the_fewest_victims_win() -> None:
    nodes = [node("a"), node("b")]
    running = [place(nodes, job("big-low", gpus=4, priority=0), [("a", range(4))])]
    running += [place(nodes, job("a-high", gpus=4, priority=1000), [("a", range(4, 8))])]
    running += [
        place(nodes, job(f"small-{i}", gpus=2, priority=0), [("b", [2 * i, 2 * i + 1])])
        for i in range(4)
    ]
    decisions = run(snapshot(nodes, [job("want", gpus=4, priority=500)], running=running))
    assert [p.job_id for p in preempts(decisions)] == ["big-low"]


@dataclass(frozen=True)
class V:
    name: str
    priority: int = 0
    borrowed: bool = False
    checkpoint: datetime | None = None


def cheapest(*victims: V) -> str:
    """Which of these one-GPU jobs (each alone on a one-GPU node) a high job preempts."""
    nodes = [node(f"n{i}", gpus=1) for i in range(len(victims))]
    running = [
        place(
            nodes,
            job(v.name, priority=v.priority),
            [(f"n{i}", [0])],
            started=at(hours=-10),
            borrowed=v.borrowed,
            checkpoint=v.checkpoint,
        )
        for i, v in enumerate(victims)
    ]
    (p,) = preempts(run(snapshot(nodes, [job("want", priority=1000)], running=running)))
    return p.job_id


def test_cheapest_victims_borrowed_first_then_priority_then_progress() -> None:
    assert cheapest(V("kept"), V("borrower", priority=50, borrowed=True)) == "borrower"
    assert cheapest(V("p50", priority=50), V("p0")) == "p0"
    old, new = V("old-ckpt", checkpoint=at(hours=-9)), V("new-ckpt", checkpoint=at(minutes=-1))
    assert cheapest(old, new) == "new-ckpt"


def test_a_project_below_its_guarantee_reclaims_borrowed_capacity() -> None:
    tenants = tree({"prj-a": Quota(), "prj-b": Quota(guaranteed=gpus(8))})
    nodes = [node("n")]
    running = [
        place(
            nodes,
            job("borrower", gpus=8, project="prj-a", priority=1000),
            [("n", range(8))],
            borrowed=True,
        )
    ]
    pending = [job("owner", gpus=4, project="prj-b", priority=0)]
    decisions = run(snapshot(nodes, pending, running=running, tenants=tenants))
    (p,) = preempts(decisions)
    assert (p.job_id, p.reason) == ("borrower", "reclaim")


def test_reclaim_never_takes_a_project_below_its_own_guarantee() -> None:
    tenants = tree({"prj-a": Quota(guaranteed=gpus(4)), "prj-b": Quota(guaranteed=gpus(8))})
    nodes = [node("n")]
    running = [
        place(nodes, job("a1", gpus=4, project="prj-a"), [("n", range(4))]),
        place(
            nodes, job("a2", gpus=4, project="prj-a", minute=1), [("n", range(4, 8))], borrowed=True
        ),
    ]
    pending = [job("b", gpus=8, project="prj-b")]
    decisions = run(snapshot(nodes, pending, running=running, tenants=tenants))
    assert not preempts(decisions)  # one victim is not enough; the second is prj-a's guarantee
    small = run(
        snapshot(nodes, [job("b", gpus=4, project="prj-b")], running=running, tenants=tenants)
    )
    assert [p.job_id for p in preempts(small)] == ["a2"]


def test_guarantees_protect_from_other_projects_priority() -> None:
    tenants = tree({"prj-a": Quota(), "prj-b": Quota(guaranteed=gpus(8))})
    nodes = [node("n")]
    running = [place(nodes, job("b-low", gpus=8, project="prj-b", priority=0), [("n", range(8))])]
    pending = [job("a-high", gpus=8, project="prj-a", priority=1000)]
    assert not preempts(run(snapshot(nodes, pending, running=running, tenants=tenants)))
    same_project = [job("b-high", gpus=8, project="prj-b", priority=1000)]
    assert preempts(run(snapshot(nodes, same_project, running=running, tenants=tenants)))


def test_a_gang_preempts_across_nodes_and_a_gang_victim_goes_whole() -> None:
    nodes = [node("a"), node("b"), node("c")]
    running = [
        place(
            nodes,
            job("gang-low", gpus=8, replicas=2, priority=0),
            [("a", range(8)), ("b", range(8))],
        ),
        place(nodes, job("c-mid", gpus=8, priority=500), [("c", range(8))]),
    ]
    decisions = run(
        snapshot(nodes, [job("want", gpus=8, replicas=2, priority=1000)], running=running)
    )
    assert [p.job_id for p in preempts(decisions)] == ["gang-low"]


def test_while_victims_stop_the_preemptor_waits_and_preempts_no_more() -> None:
    nodes = [node("n")]
    running = [
        place(nodes, job("stopping", gpus=4, priority=0), [("n", range(4))], terminating=True),
        place(nodes, job("other", gpus=4, priority=0), [("n", range(4, 8))]),
    ]
    decisions = run(snapshot(nodes, [job("high", gpus=4, priority=1000)], running=running))
    assert not preempts(decisions)
    assert codes(decisions, "high") == ["preempting", "resources"]


def test_preemption_is_off_in_fifo() -> None:
    nodes = [node("n")]
    running = [place(nodes, job("low", gpus=8, priority=0), [("n", range(8))])]
    assert not preempts(
        run(snapshot(nodes, [job("high", gpus=8, priority=1000)], running=running), "fifo")
    )


# --- no preemption loop ------------------------------------------------------------------


def step(snap: Snapshot, prof: Profile) -> tuple[Snapshot, int]:
    """One cycle, applied as the live server does: binds start now; victims stop after their
    grace period and are requeued with their preemptor remembered. Returns the preemptions."""
    decisions = run(snap, prof)
    nodes = {n.name: n for n in snap.nodes}
    pending = {j.id: j for j in snap.pending}
    running = {j.id: j for j in snap.running}
    # Victims that were stopping are gone now: give their devices back and requeue them.
    for j in [j for j in running.values() if j.terminating]:
        del running[j.id]
        for p in j.placements:
            nodes[p.node].free_cpu_milli += j.request.cpu_milli
            nodes[p.node].free_memory_mib += j.request.memory_mib
            for d in p.devices:
                nodes[p.node].devices[d.index].free_milli += d.milli
        pending[j.id] = replace(
            j, terminating=False, started_at=None, placements=(), borrowed=False
        )
    count = 0
    for decision in decisions:
        if isinstance(decision, Bind):
            j = pending.pop(decision.job_id)
            listed = list(nodes.values())
            running[j.id] = place(
                listed,
                j,
                [(p.node, [x.index for x in p.devices]) for p in decision.placements],
                started=snap.now,
                borrowed=decision.borrowed,
            )
        elif isinstance(decision, Preempt):
            count += 1
            v = running[decision.job_id]
            running[decision.job_id] = replace(
                v, terminating=True, preempted_by=(*v.preempted_by, decision.preemptor)
            )
    later = replace(
        snap,
        now=snap.now + timedelta(minutes=1),
        nodes=list(nodes.values()),
        pending=list(pending.values()),
        running=list(running.values()),
    )
    return later, count


def loop_scenario() -> Snapshot:
    """prj-a's high-priority job borrows the whole node; prj-b, guaranteed the node, wants it."""
    tenants = tree({"prj-a": Quota(), "prj-b": Quota(guaranteed=gpus(8))})
    nodes: list[NodeView] = [node("n")]
    borrower = place(
        nodes,
        job("a-high", gpus=8, project="prj-a", priority=1000),
        [("n", range(8))],
        borrowed=True,
    )
    owner: JobView = job("b-low", gpus=8, project="prj-b", priority=0)
    return snapshot(nodes, [owner], running=[borrower], tenants=tenants)


def preemptions(prof: Profile, cycles: int = 10) -> int:
    snap, total = loop_scenario(), 0
    for _ in range(cycles):
        snap, count = step(snap, prof)
        total += count
    return total


def test_no_preemption_loop() -> None:
    assert preemptions(profile()) == 1  # b-low reclaims once; a-high then waits


def test_each_guard_alone_prevents_the_loop_and_the_naive_design_loops() -> None:
    def with_guards(protect: bool, remember: bool) -> Profile:
        return profile(
            preempt={
                "rules": ["priority", "reclaim"],
                "grace_s": 30,
                "protect_guarantee": protect,
                "remember_preemptors": remember,
            }
        )

    assert preemptions(with_guards(True, False)) == 1
    assert preemptions(with_guards(False, True)) == 1
    assert preemptions(with_guards(False, False)) >= 4  # reclaim, priority, reclaim, ...


def test_after_the_reclaim_the_owner_runs_and_the_victim_waits() -> None:
    snap = loop_scenario()
    for _ in range(3):
        snap, _ = step(snap, profile())
    assert [j.id for j in snap.running] == ["b-low"]
    assert [j.id for j in snap.pending] == ["a-high"]
    decisions = run(snap)
    assert codes(decisions, "a-high") == ["resources"]
    bound(run(replace(snap, running=[], nodes=[node("n")])), "a-high")


def test_a_guarantee_held_back_by_the_organizations_max_is_reclaimed_from_borrowers() -> None:
    """The org's max is full because prj-a borrowed prj-b's share; prj-b, within its guarantee,
    preempts the borrower rather than wait behind it (admission must not stop it first)."""
    tenants = tree(
        {"prj-a": Quota(guaranteed=gpus(4), max=gpus(8)), "prj-b": Quota(guaranteed=gpus(4))},
        org=Quota(guaranteed=gpus(8), max=gpus(8)),
    )
    nodes = [node("n")]
    running = [
        place(nodes, job("a1", gpus=4, project="prj-a"), [("n", range(4))]),
        place(
            nodes, job("a2", gpus=4, project="prj-a", minute=1), [("n", range(4, 8))], borrowed=True
        ),
    ]
    decisions = run(
        snapshot(nodes, [job("b", gpus=2, project="prj-b")], running=running, tenants=tenants)
    )
    assert [(p.job_id, p.reason) for p in preempts(decisions)] == [("a2", "reclaim")]
    assert codes(decisions, "b")[0] == "preempting"


def test_the_preemptor_gets_the_capacity_its_victims_freed() -> None:
    """Once its victim has stopped (requeued, `preempted_by` naming it), the preemptor goes
    before older jobs: otherwise they would take the freed device and it would preempt again
    every grace period (the storm this guards against: 19,027 preemptions for 400 jobs in the
    synthetic trace of tests/sim/test_jobs.py, 11 with it)."""
    nodes = [node("n", gpus=1)]
    older = job("older", minute=-100)  # aged: ahead of the preemptor in plain queue order
    victim = job("victim", minute=-200, priority=0, preempted_by=("preemptor",))
    decisions = run(snapshot(nodes, [older, job("preemptor"), victim]))
    assert bound(decisions, "preemptor")
    assert waiting(decisions, "older").position == 1
    # with no victim waiting to restart, plain queue order again
    decisions = run(snapshot(nodes, [older, job("preemptor")]))
    assert bound(decisions, "older")


@pytest.mark.parametrize(("limit", "victims"), [(7, 0), (8, 8)])
def test_a_gang_reclaims_whole_nodes_only_within_its_victim_limit(limit: int, victims: int) -> None:
    tenants = tree({"prj-a": Quota(), "prj-b": Quota(guaranteed=gpus(8))})
    nodes = [node("n0", gpus=4), node("n1", gpus=4)]
    running = [
        place(nodes, job(f"b{n}{d}", project="prj-a", minute=d), [(f"n{n}", [d])], borrowed=True)
        for n in range(2)
        for d in range(4)
    ]
    gang = job("gang", gpus=4, replicas=2, project="prj-b", minute=10)
    prof = profile(preempt={"rules": ["priority", "reclaim"], "max_victims": limit})
    decisions = run(snapshot(nodes, [gang], running=running, tenants=tenants), prof)
    assert len(preempts(decisions)) == victims
    assert codes(decisions, "gang")[0] == ("preempting" if victims else "resources")


def test_a_preemptor_that_ran_since_its_victim_stopped_is_no_longer_nominated() -> None:
    """Nominated preemptors go first. One that ran after its victim stopped, and was then
    preempted itself, must not go first again on that victim's account: it would take back the
    node its own preemptor freed, and that preemptor would preempt again without end."""
    nodes = [node("n", gpus=8)]
    victim = replace(job("victim", gpus=8), preempted_by=("p",), queued_at=at(hours=-2))
    never_ran = job("p", gpus=8)
    assert Cycle(snapshot(nodes, [victim, never_ran]), get_profile("default")).nominated() == {"p"}
    ran_since = replace(never_ran, preempted_by=("q",), queued_at=at(hours=-1))
    assert not Cycle(snapshot(nodes, [victim, ran_since]), get_profile("default")).nominated()


def test_a_protected_replica_is_never_a_victim() -> None:
    """A deployment's replica within its minimum (`protected`, set by the snapshot builder) is
    spared: the higher-priority job takes the unprotected one, or waits."""
    nodes = [node("a", gpus=4), node("b", gpus=4)]
    replica = place(nodes, job("replica", gpus=4, priority=0), [("a", range(4))])
    running = [replace(replica, protected=True)]
    running += [place(nodes, job("batch", gpus=4, priority=0), [("b", range(4))])]
    decisions = run(snapshot(nodes, [job("high", gpus=4, priority=1000)], running=running))
    assert [p.job_id for p in preempts(decisions)] == ["batch"]
    alone = [running[0]]
    decisions = run(snapshot(nodes[:1], [job("high", gpus=4, priority=1000)], running=alone))
    assert not preempts(decisions)
