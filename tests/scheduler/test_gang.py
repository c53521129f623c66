"""Gangs: all replicas or none; multi-node gangs in one rack, else one pool, else anywhere;
multi-device replicas on one node."""

from __future__ import annotations

from sched_fixtures import bound, codes, job, node, nodes_of, place, run, snapshot, waiting


def test_a_gang_binds_whole_across_nodes() -> None:
    nodes = [node(f"n{i}", gpus=4) for i in range(3)]
    decision = bound(run(snapshot(nodes, [job("gang", gpus=4, replicas=3)])), "gang")
    assert sorted(nodes_of(decision)) == ["n0", "n1", "n2"]
    assert [p.replica for p in decision.placements] == [0, 1, 2]
    assert all(len(p.devices) == 4 for p in decision.placements)


def test_a_gang_that_does_not_fit_whole_binds_nothing() -> None:
    nodes = [node("a", gpus=4), node("b", gpus=4), node("c", gpus=4)]
    running = [place(nodes, job("busy", gpus=4), [("c", range(4))])]
    jobs = [job("gang", gpus=4, replicas=3), job("small", gpus=4, minute=1)]
    decisions = run(snapshot(nodes, jobs, running=running), "fifo")
    wait = waiting(decisions, "gang")
    assert wait.reasons[0].code == "gang" and "2 of 3" in wait.reasons[0].message
    small = bound(decisions, "small")
    assert len(small.placements[0].devices) == 4  # the trial placement of the gang was discarded


def test_several_devices_of_one_replica_stay_on_one_node() -> None:
    nodes = [node("a", gpus=8), node("b", gpus=8)]
    running = [place(nodes, job("r", gpus=6), [("a", range(6))])]
    decision = bound(run(snapshot(nodes, [job("four", gpus=4)], running=running)), "four")
    assert nodes_of(decision) == ["b"] and len(decision.placements[0].devices) == 4


def test_a_multi_node_gang_goes_to_one_rack() -> None:
    nodes = [
        node("r1-a", rack="r1", pool="p"),
        node("r2-a", rack="r2", pool="p"),
        node("r3-a", rack="r3", pool="p"),
        node("r3-b", rack="r3", pool="p"),
    ]
    decision = bound(run(snapshot(nodes, [job("gang", gpus=8, replicas=2)])), "gang")
    assert sorted(nodes_of(decision)) == ["r3-a", "r3-b"]


def test_the_smallest_rack_that_holds_the_gang_is_chosen() -> None:
    nodes = [node(f"big-{i}", rack="big", pool="p") for i in range(4)]
    nodes += [node(f"small-{i}", rack="small", pool="p") for i in range(2)]
    decision = bound(run(snapshot(nodes, [job("gang", gpus=8, replicas=2)])), "gang")
    assert sorted(nodes_of(decision)) == ["small-0", "small-1"]  # the big rack stays whole


def test_without_a_rack_for_it_a_gang_stays_in_one_pool() -> None:
    nodes = [
        node("x-1", rack="x1", pool="px"),
        node("y-1", rack="y1", pool="py"),
        node("y-2", rack="y2", pool="py"),
    ]
    decision = bound(run(snapshot(nodes, [job("gang", gpus=8, replicas=2)])), "gang")
    assert sorted(nodes_of(decision)) == ["y-1", "y-2"]


def test_a_gang_spans_pools_only_when_no_pool_holds_it() -> None:
    nodes = [node("x-1", rack="x1", pool="px"), node("y-1", rack="y1", pool="py")]
    decision = bound(run(snapshot(nodes, [job("gang", gpus=8, replicas=2)])), "gang")
    assert sorted(nodes_of(decision)) == ["x-1", "y-1"]


def test_gang_replicas_may_share_a_node() -> None:
    decision = bound(run(snapshot([node("n", gpus=8)], [job("g", gpus=2, replicas=4)])), "g")
    assert nodes_of(decision) == ["n"] * 4
    devices = [d.index for p in decision.placements for d in p.devices]
    assert sorted(devices) == list(range(8))


def test_gang_waits_when_cpu_not_devices_run_out() -> None:
    nodes = [node("a", gpus=8, cpu=8000), node("b", gpus=8, cpu=8000)]
    running = [place(nodes, job("cpu-user", gpus=0, cpu=4000), [("b", [])])]
    decisions = run(snapshot(nodes, [job("g", gpus=1, cpu=6000, replicas=2)], running=running))
    assert codes(decisions, "g") == ["gang"]


def test_free_devices_scattered_over_nodes_do_not_make_a_gang_fit() -> None:
    nodes = [node(n, gpus=4) for n in "abcd"]
    running = [
        place(nodes, job("one-on-c", gpus=1), [("c", [0])]),
        place(nodes, job("one-on-d", gpus=1, minute=1), [("d", [0])]),
    ]
    # 14 free devices hold 12, but only two nodes have 4 of them
    decisions = run(snapshot(nodes, [job("gang", gpus=4, replicas=3)], running=running))
    wait = waiting(decisions, "gang")
    assert wait.reasons[0].code == "gang" and "2 of 3" in wait.reasons[0].message
