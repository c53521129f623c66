"""A shape's table brought up to date node by node in plain Python (`FGDPolicy._update_few`, after
`ClusterState.few_stale`) holds exactly what the vector update holds, and a replica restricted to
some models, read from the table of any model where every node is of one model
(`ClusterState.model_nodes`), picks what its own table picks: the same node and device, bind
after bind (issue 38.2: the decision hashes rest on it)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aicc.scheduler.placement.demand import Demand
from aicc.scheduler.placement.fgd import FGDPolicy
from aicc.scheduler.placement.plus import FGDPlusPolicy
from aicc.scheduler.placement.state import ClusterState
from aicc.scheduler.placement.task_mix import TaskMix, TaskShape

SHAPES = (
    TaskShape(8_000, 65_536, 1, 1_000),
    TaskShape(2_000, 16_384, 1, 250),
    TaskShape(2_000, 16_384, 1, 500),
    TaskShape(16_000, 131_072, 2, 1_000),
    TaskShape(2_000, 8_192, 0, 0),
    TaskShape(8_000, 65_536, 1, 1_000, ("h100",)),
    TaskShape(2_000, 16_384, 1, 250, ("a100",)),
    TaskShape(16_000, 131_072, 2, 1_000, ("a100", "h100")),
)


def center(nodes: int) -> ClusterState:
    models = ["h100" if i % 3 else "a100" for i in range(nodes)]
    state = ClusterState.from_arrays(
        [f"n{i}" for i in range(nodes)], [64_000] * nodes, [524_288] * nodes, [8] * nodes, models
    )
    state.tie_order = np.arange(nodes)  # the cycle's ties: the first node
    return state


def demand(shape: TaskShape) -> Demand:
    return Demand(shape.cpu_milli, shape.memory_mib, shape.count, shape.milli, 0, shape.models)


def vector_only(state: ClusterState) -> ClusterState:
    """The state with the plain path turned off (every update as vectors), and a table per
    restriction to models."""

    def none(*args: Any) -> None:
        return None

    state.few_stale = none  # type: ignore[method-assign]
    state.model_nodes = none  # type: ignore[method-assign]
    return state


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, len(SHAPES) - 1), min_size=1, max_size=120),
    st.integers(2, 40),
    st.booleans(),
)
def test_plain_updates_choose_as_the_vector_updates(
    asks: list[int], nodes: int, plus: bool
) -> None:
    mix = TaskMix(list(SHAPES), [60, 15, 10, 10, 5, 5, 5, 5])
    plain, vector = center(nodes), vector_only(center(nodes))
    policies = [
        FGDPlusPolicy(mix) if plus else FGDPolicy(mix, integer_scores=False) for _ in range(2)
    ]
    rng = np.random.default_rng(0)
    for ask in asks:
        wanted = demand(SHAPES[ask])
        got = [p.choose(s, wanted, rng) for p, s in zip(policies, (plain, vector), strict=True)]
        assert got[0] == got[1]
        if wanted.models is None:
            pairs = zip(policies, (plain, vector), strict=True)
            tables = [policy._cache(state).tables[wanted] for policy, state in pairs]
            assert np.array_equal(tables[0].cost, tables[1].cost)
            assert np.array_equal(tables[0].column, tables[1].column)
            assert np.array_equal(tables[0].version, tables[1].version)
        if got[0] is None:
            continue
        plain.apply(got[0], wanted)
        vector.apply(got[1], wanted)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 39), max_size=600), st.integers(0, 600))
def test_few_stale_names_the_stale_nodes(changes: list[int], seen: int) -> None:
    """Where it answers, the nodes `stale` names, as a list; None past its limits."""
    state = center(40)
    for node in changes[:seen]:
        state.change(node, 1, 1, (), -1)
    versions, mark = state.version.copy(), state.mark
    for node in changes[seen:]:
        state.change(node, 1, 1, (), -1)
    few = state.few_stale(versions, mark)
    expected = (versions != state.version).nonzero()[0].tolist()
    assert state.stale(versions, mark).tolist() == expected
    if few is not None:
        assert few == expected
    else:
        assert len(changes[seen:]) > 512 or len(set(changes[seen:])) > 32


def test_model_nodes_where_each_node_has_one_model() -> None:
    state = center(6)  # a100 on nodes 0 and 3, h100 on the others
    assert state.model_nodes(("a100", "h100")) is True
    assert state.model_nodes(("h100", "b200")) is not True
    mask = state.model_nodes(("a100",))
    assert isinstance(mask, np.ndarray) and mask.tolist() == [
        True,
        False,
        False,
        True,
        False,
        False,
    ]


def test_no_model_nodes_where_a_node_mixes_models() -> None:
    state = ClusterState(
        names=["mixed"],
        cpu_free=np.array([64_000]),
        cpu_total=np.array([64_000]),
        mem_free=np.array([524_288]),
        mem_total=np.array([524_288]),
        dev_free=np.array([[1_000, 1_000]]),
        dev_index=np.array([[0, 1]]),
        dev_model=np.array([[0, 1]]),
        dev_mem_free=np.zeros((1, 2), dtype=np.int64),
        dev_mem_total=np.zeros((1, 2), dtype=np.int64),
        models=["a100", "h100"],
    )
    assert state.model_nodes(("a100",)) is None
    choice = FGDPolicy(TaskMix([SHAPES[0]], [1]), integer_scores=False).choose(
        state, demand(TaskShape(8_000, 65_536, 1, 1_000, ("h100",))), np.random.default_rng(0)
    )
    assert choice is not None and [pick.index for pick in choice.devices] == [1]
