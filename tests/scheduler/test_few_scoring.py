"""Scoring a few nodes in plain Python (`placement/few.py`) gives exactly the vector path's costs
and device slots (==, not approximately), on random node states, task mixes and requests: the
property the decision hashes rest on."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aicc.scheduler.placement.demand import Demand
from aicc.scheduler.placement.few import FewScorer, best, pairwise_sum
from aicc.scheduler.placement.fgd import FGDPolicy
from aicc.scheduler.placement.plus import FGDPlusPolicy
from aicc.scheduler.placement.state import ClusterState
from aicc.scheduler.placement.task_mix import TaskMix, TaskShape

MODELS = ("a100", "h100")
SHARES = (100, 200, 250, 300, 320, 470, 500, 650, 810)

shapes = st.one_of(
    st.builds(  # a share of one device, of any or one model
        TaskShape,
        st.sampled_from((1_000, 2_000, 6_000)),
        st.sampled_from((4_096, 16_384)),
        st.just(1),
        st.sampled_from(SHARES),
        st.sampled_from((None, ("a100",), ("h100",))),
    ),
    st.builds(  # whole devices
        TaskShape,
        st.sampled_from((4_000, 8_000, 32_000)),
        st.sampled_from((32_768, 65_536, 262_144)),
        st.integers(1, 8),
        st.just(1_000),
        st.sampled_from((None, ("a100",), ("h100", "a100"))),
    ),
    st.builds(  # no device
        TaskShape,
        st.sampled_from((2_000, 16_000)),
        st.sampled_from((8_192, 131_072)),
        st.just(0),
        st.just(0),
    ),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[ClusterState, TaskMix, Demand, np.ndarray, bool]:
    n = draw(st.integers(1, 24))
    slots = draw(st.sampled_from((0, 4, 8)))  # 0: CPU-only nodes
    free = st.sampled_from((0, 0, 1_000, 1_000, 1_000, 900, 750, 530, 190, 680, 350))
    dev_free = np.array(draw(st.lists(free, min_size=n * slots, max_size=n * slots)))
    count = np.array(draw(st.lists(st.integers(0, slots), min_size=n, max_size=n)))
    model = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    present = np.arange(slots)[None, :] < count[:, None]
    state = ClusterState(
        names=[f"n{i}" for i in range(n)],
        cpu_free=np.array(draw(st.lists(st.integers(0, 64_000), min_size=n, max_size=n))),
        cpu_total=np.full(n, 64_000),
        mem_free=np.array(draw(st.lists(st.integers(0, 524_288), min_size=n, max_size=n))),
        mem_total=np.full(n, 524_288),
        dev_free=dev_free.reshape(n, slots),
        dev_index=np.where(present, np.arange(slots)[None, :], -1),
        dev_model=np.where(present, model[:, None], -1),
        dev_mem_free=np.array(
            draw(
                st.lists(
                    st.sampled_from((0, 8_192, 81_920)), min_size=n * slots, max_size=n * slots
                )
            )
        ).reshape(n, slots),
        dev_mem_total=np.full((n, slots), 81_920),
        models=MODELS,
        schedulable=np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))) | (n == 1),
        shares=np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))) | (n == 1),
    )
    mix = draw(st.lists(shapes, min_size=1, max_size=12, unique=True))
    counts = draw(st.lists(st.integers(1, 500), min_size=len(mix), max_size=len(mix)))
    workload = TaskMix(mix, counts)
    shape = draw(st.one_of(st.sampled_from(mix), shapes))
    dev_mem = draw(st.sampled_from((0, 10_240))) if 0 < shape.milli < 1_000 else 0
    demand = Demand(
        shape.cpu_milli, shape.memory_mib, shape.count, shape.milli, dev_mem, shape.models
    )
    rows = np.array(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=16))))
    return state, workload, demand, rows, draw(st.booleans())


@settings(max_examples=400, deadline=None)
@given(cases())
def test_few_nodes_score_exactly_as_the_vector_path(
    case: tuple[ClusterState, TaskMix, Demand, np.ndarray, bool],
) -> None:
    state, workload, demand, rows, plus = case
    policy = FGDPlusPolicy(workload) if plus else FGDPolicy(workload, integer_scores=False)
    frag = policy.frag_model(state)
    vector_cost, vector_slot, _ = policy.score(state, demand, rows, frag)
    few = FewScorer(frag, state)
    cost, slot = best(few.rows(state, demand, rows), lambda r: policy.row_costs(state, demand, r))
    assert np.array_equal(np.array(cost), vector_cost)  # inf where it does not fit, as there
    assert slot == vector_slot.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e17, 1e17, allow_nan=False), min_size=0, max_size=40))
def test_the_pairwise_sum_is_numpys(values: list[float]) -> None:
    assert pairwise_sum(values) == float(np.add.reduce(np.array(values, dtype=np.float64)))


def test_a_choice_after_a_bind_is_the_vector_paths_choice() -> None:
    """The bench's case: a center of alike nodes, one node changed by a bind. fgd-plus re-scores
    that node in plain Python and picks the node and device the vector path's costs pick."""
    state = ClusterState.from_arrays(
        ["a", "b", "c"], [64_000] * 3, [524_288] * 3, [8] * 3, ["h100"] * 3
    )
    share = TaskShape(2_000, 16_384, 1, 250)
    policy = FGDPlusPolicy(TaskMix([share, TaskShape(8_000, 65_536, 1, 1_000)], [3, 1]))
    demand = Demand(2_000, 16_384, 1, 250, 0, None)
    first = policy.choose(state, demand, np.random.default_rng(0))
    assert first is not None
    state.apply(first, demand)
    again = policy.choose(state, demand, np.random.default_rng(0))
    cost, slot, _ = policy.score(state, demand, np.arange(3), policy.frag_model(state))
    node = int(cost.argmin())
    assert again is not None and again.node == node == first.node  # completes a used device
    assert again.devices[0].index == int(slot[node]) == first.devices[0].index
