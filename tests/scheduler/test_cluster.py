"""The working cluster: its indexes always agree with the free capacity they index, and a
statement undoes exactly what it did (commit-or-discard)."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st
from sched_fixtures import GIB, H100, mig_device, node

from aicc.scheduler.allocate import PlaceConfig, place_job
from aicc.scheduler.cluster import BUCKETS, Amount, Cluster, Statement
from aicc.scheduler.indexed import pick
from aicc.scheduler.snapshot import DevicePick, DeviceView, NodeView, ReplicaRequest

LAYOUT = ("3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb")


def expected_indexes(c: Cluster) -> dict[str, object]:
    """The indexes recomputed from the free capacity alone."""
    by_whole: dict[str, dict[int, set[int]]] = {}
    partial: dict[str, dict[int, set[tuple[int, int]]]] = {}
    by_mig: dict[tuple[str, str], dict[int, int]] = {}
    racks: dict[str, dict[str, int]] = {}
    total: dict[str, int] = {}
    for i, n in enumerate(c.nodes):
        if not n.schedulable:
            continue
        counts: dict[str, int] = {}
        for p, d in enumerate(n.devices):
            if d.mig:
                for profile in c.mig_free[i][p].values():
                    by_mig.setdefault((d.model, profile), {}).setdefault(i, 0)
                    by_mig[(d.model, profile)][i] += 1
            elif d.free_milli >= 1000:
                counts[d.model] = counts.get(d.model, 0) + 1
            elif d.free_milli > 0:
                bucket = min(d.free_milli // 100, BUCKETS - 1)
                partial.setdefault(d.model, {}).setdefault(bucket, set()).add((i, p))
        for m, k in counts.items():
            by_whole.setdefault(m, {}).setdefault(k, set()).add(i)
            total[m] = total.get(m, 0) + k
            if c.rack[i]:
                racks.setdefault(m, {}).setdefault(c.rack[i], 0)
                racks[m][c.rack[i]] += k
    return {"whole": by_whole, "partial": partial, "mig": by_mig, "racks": racks, "total": total}


def actual_indexes(c: Cluster) -> dict[str, object]:
    return {
        "whole": {
            m: {k: set(b) for k, b in enumerate(buckets) if b}
            for m, buckets in c.by_whole.items()
            if any(buckets)
        },
        "partial": {
            m: {k: set(b) for k, b in enumerate(buckets) if b}
            for m, buckets in c.partial.items()
            if any(buckets)
        },
        "mig": {k: dict(v) for k, v in c.by_mig.items() if v},
        "racks": {
            m: {r: v for r, v in racks.items() if v}
            for m, racks in c.rack_whole.items()
            if any(racks.values())
        },
        "total": {m: v for m, v in c.whole_total.items() if v},
    }


def sample_nodes() -> list[NodeView]:
    return [
        node("a", gpus=4, rack="r1"),
        node(
            "b",
            gpus=2,
            rack="r1",
            devices=[DeviceView(0, H100, 80 * GIB, free_milli=300), DeviceView(1, H100, 80 * GIB)],
        ),
        node("c", devices=[mig_device(0, LAYOUT), mig_device(1, LAYOUT, used=[0])], rack="r2"),
        node("d", gpus=2, schedulable=False),
    ]


REQUESTS = [
    ReplicaRequest(1000, 1024, 1),
    ReplicaRequest(1000, 1024, 2),
    ReplicaRequest(1000, 1024, 1, 250),
    ReplicaRequest(1000, 1024, 1, 600, 10 * GIB),
    ReplicaRequest(1000, 1024, 1, mig_profile="1g.10gb"),
    ReplicaRequest(1000, 1024, 1, mig_profile="3g.40gb"),
]


@given(st.lists(st.tuples(st.sampled_from(range(len(REQUESTS))), st.booleans()), max_size=25))
def test_indexes_follow_every_take_and_give(steps: list[tuple[int, bool]]) -> None:
    c = Cluster(sample_nodes())
    taken: list[tuple[int, Amount]] = []
    for which, give_back in steps:
        if give_back and taken:
            i, amount = taken.pop()
            c.give(i, amount)
        else:
            r = REQUESTS[which]
            for i in range(len(c.nodes)):
                picks = pick(c, i, r)
                if picks is not None:
                    amount = Amount(r.cpu_milli, r.memory_mib, picks)
                    c.take(i, amount)
                    taken.append((i, amount))
                    break
        assert actual_indexes(c) == expected_indexes(c)


def test_a_statement_discards_exactly_what_it_did() -> None:
    c = Cluster(sample_nodes())
    before = (copy.deepcopy(c.nodes), copy.deepcopy(c.mig_free), actual_indexes(c))
    statement = Statement(c)
    spots, _ = place_job(c, statement, ReplicaRequest(1000, 1024, 1), H100, 3, PlaceConfig())
    assert spots is not None and len(spots) == 3
    statement.give(0, Amount(500, 0))
    statement.discard()
    assert (c.nodes, c.mig_free, actual_indexes(c)) == before


def test_the_snapshot_nodes_are_copied_not_changed() -> None:
    nodes = sample_nodes()
    before = copy.deepcopy(nodes)
    c = Cluster(nodes)
    c.take(0, Amount(1000, 1024, ()))
    assert nodes == before


def test_whole_slots_count_replicas_node_by_node() -> None:
    c = Cluster(
        [node("eight", gpus=8), node("three", gpus=3), node("off", gpus=8, schedulable=False)]
    )
    assert c.whole_slots(H100, 4) == 2  # the 8-GPU node holds two; three free hold none
    assert c.whole_slots(H100, 3) == 3
    assert c.whole_slots(H100, 1) == 11
    assert c.whole_slots("A100-80GB", 1) == 0


def test_candidates_come_fullest_first() -> None:
    c = Cluster([node("empty", gpus=4), node("full", gpus=4), node("half", gpus=4)])
    c.take(1, Amount(0, 0, tuple(_whole(range(3)))))
    c.take(2, Amount(0, 0, tuple(_whole(range(2)))))
    assert list(c.whole_candidates(H100, 1)) == [1, 2, 0]
    assert list(c.whole_candidates(H100, 1, emptiest=True)) == [0, 2, 1]
    assert list(c.whole_candidates(H100, 3)) == [0]


def _whole(indices: range) -> list[DevicePick]:
    return [DevicePick(i, 1000) for i in indices]
