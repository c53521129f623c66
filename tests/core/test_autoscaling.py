"""The autoscaler: a steady load keeps a steady count, a burst is met within seconds and never
undercut while it lasts, and an idle deployment with no minimum goes to zero and comes back."""

from __future__ import annotations

import itertools
import random

import pytest

from aicc.core.autoscaling import Memory, Policy, Sample, decide


def replay(policy: Policy, load: list[float], ready_follows: bool = True) -> list[int]:
    """Each second's decision under `load` (requests in flight, one value a second); the ready
    replicas follow the decisions at once (the slowest case for the panic check)."""
    samples: list[Sample] = []
    memory, ready, counts = Memory(), policy.min_replicas, []
    for second, concurrency in enumerate(load, start=1):
        samples.append(Sample(float(second), concurrency))
        samples = samples[-int(policy.stable_window_s) :]
        decision, memory = decide(policy, samples, float(second), ready, memory)
        counts.append(decision.replicas)
        if ready_follows:
            ready = decision.replicas
    return counts


def changes(counts: list[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(counts) if a != b)


def test_a_steady_noisy_load_does_not_flap() -> None:
    rng = random.Random(7)
    policy = Policy(min_replicas=1, max_replicas=20, target=4)
    load = [8 + rng.uniform(-0.6, 0.6) for _ in range(900)]  # 15 minutes around 2 replicas' worth
    counts = replay(policy, load)
    settled = counts[120:]
    assert changes(settled) == 0 and settled[0] in (2, 3), sorted(set(settled))


def test_a_burst_is_met_within_seconds_and_not_undercut_while_it_lasts() -> None:
    policy = Policy(min_replicas=1, max_replicas=20, target=4)
    load = [2.0] * 120 + [60.0] * 30 + [2.0] * 300
    counts = replay(policy, load)
    before = counts[119]
    assert before == 1
    reacted = next(i for i in range(120, 150) if counts[i] > before) - 119
    assert reacted <= 2, reacted  # seconds from the burst's first second to more replicas
    assert max(counts[120:150]) == 15  # 60 in flight at 4 each
    during = counts[120:150]
    assert during == sorted(during)  # only up while the burst lasts
    # after it: no scale-down for a whole stable window, then only down, to 1 again
    assert min(counts[150:210]) == 15
    assert counts[150:] == sorted(counts[150:], reverse=True) and counts[-1] == 1


def test_an_idle_deployment_without_a_minimum_goes_to_zero_and_comes_back() -> None:
    policy = Policy(min_replicas=0, max_replicas=3, target=4, scale_to_zero_after_s=120)
    load = [1.0] * 30 + [0.0] * 400 + [1.0] * 5
    counts = replay(policy, load)
    assert counts[29] == 1
    assert counts[30 + 100] == 1  # still warm within the idle period
    assert counts[430 - 1] == 0  # idle for longer than 120 s (and the windows): zero
    assert counts[430] == 1  # the first request after: one replica again


def test_never_more_than_the_maximum_nor_fewer_than_the_minimum() -> None:
    counts = replay(Policy(min_replicas=2, max_replicas=4, target=1), [50.0] * 20 + [0.0] * 200)
    assert max(counts) == 4 and min(counts) == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"min_replicas": 3, "max_replicas": 2}, "replicas"),
        ({"target": 0}, "target"),
        ({"panic_window_s": 90}, "panic_window_s"),
    ],
)
def test_a_bad_policy_names_what_to_fix(fields: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Policy(**fields)  # type: ignore[arg-type]
