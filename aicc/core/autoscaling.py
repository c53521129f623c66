"""How many replicas a deployment wants, from the concurrency its gateway sees (Knative's
pod autoscaler, reimplemented from its documented behaviour).

Two windows over the same per-second concurrency samples: the stable window (60 s) decides in
steady times, so a steady load keeps a steady count; the panic window (6 s) catches a burst.
When the panic window wants at least `panic_threshold` times the ready replicas, the autoscaler
panics: it scales up on the panic window and never down until the burst has been over for a
whole stable window. A scale-down must leave room for a load `scale_down_tolerance` higher, and
takes the highest count wanted over `scale_down_delay_s`, so a load that wavers at a boundary
does not flap. With `min_replicas` 0, a deployment that saw no
request for `scale_to_zero_after_s` goes to zero; the gateway holds the next request while one
replica starts (a cold start).

Pure: the caller keeps the samples and the `Memory` between calls and passes the clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Policy:
    """A deployment's autoscaling: `target` concurrent requests per replica."""

    min_replicas: int = 1
    max_replicas: int = 1
    target: float = 4.0
    stable_window_s: float = 60.0
    panic_window_s: float = 6.0
    panic_threshold: float = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_down_delay_s: float = 30.0
    scale_down_tolerance: float = 0.1
    scale_to_zero_after_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError("replicas: need 0 <= min_replicas <= max_replicas")
        if self.target <= 0:
            raise ValueError("target: concurrency per replica must be above 0")
        if not 0 < self.panic_window_s <= self.stable_window_s:
            raise ValueError("panic_window_s: must be above 0 and at most stable_window_s")


@dataclass(frozen=True)
class Sample:
    """The mean number of requests in flight over the second that ended at `at`."""

    at: float
    concurrency: float


@dataclass(frozen=True)
class Memory:
    """What the autoscaler keeps between decisions of one deployment."""

    panic_since: float | None = None  # the last time the panic window was over the threshold
    panic_floor: int = 0  # the count reached while panicking: not undercut until it ends
    wanted: tuple[tuple[float, int], ...] = field(default_factory=tuple)  # (at, count) lately
    last_request: float | None = None  # the last second a request was in flight


@dataclass(frozen=True)
class Decision:
    replicas: int
    panicking: bool
    stable_concurrency: float
    panic_concurrency: float
    reason: str


def _mean(samples: Sequence[Sample], now: float, window: float) -> float:
    """The window's mean concurrency; a second without a sample had none in flight."""
    total = sum(s.concurrency for s in samples if now - window < s.at <= now)
    return total / window


def decide(
    policy: Policy, samples: Sequence[Sample], now: float, ready: int, memory: Memory
) -> tuple[Decision, Memory]:
    """The replicas wanted now, given the samples so far and the `ready` replicas."""
    stable = _mean(samples, now, policy.stable_window_s)
    panic = _mean(samples, now, policy.panic_window_s)
    busy = [s.at for s in samples if s.concurrency > 0 and s.at <= now]
    last_request = max([*busy, memory.last_request or -math.inf])
    want_stable = math.ceil(stable / policy.target)
    if want_stable < ready:  # down only to what would hold a load `tolerance` higher
        want_stable = math.ceil(stable * (1 + policy.scale_down_tolerance) / policy.target)
    want_panic = math.ceil(panic / policy.target)
    if ready > 0:
        up = math.ceil(policy.max_scale_up_rate * ready)
        down = math.floor(ready / policy.max_scale_down_rate)
        want_stable = min(max(want_stable, down), up)
        want_panic = min(max(want_panic, down), up)

    over = want_panic / max(ready, 1) >= policy.panic_threshold and want_panic > ready
    panic_since = memory.panic_since
    if over:
        panic_since = now
    elif panic_since is not None and now - panic_since >= policy.stable_window_s:
        panic_since = None
    if panic_since is not None:
        count = max(want_panic, memory.panic_floor, ready)
        reason = f"panic: a burst, scaling on the last {policy.panic_window_s:g}s"
    else:
        count = want_stable
        reason = f"stable: the mean of the last {policy.stable_window_s:g}s"

    # scale down only to the highest count wanted over the delay: no flapping at a boundary
    wanted = tuple((at, n) for at, n in memory.wanted if now - at < policy.scale_down_delay_s)
    wanted += ((now, count),)
    count = max(n for _, n in wanted)

    idle = last_request == -math.inf or now - last_request >= policy.scale_to_zero_after_s
    if policy.min_replicas == 0 and count == 0 and not idle:
        count = 1  # requests came lately: keep one warm until the idle period has passed
    if count == 0 and idle and policy.min_replicas == 0:
        reason = f"idle for {policy.scale_to_zero_after_s:g}s: scaled to zero"
    count = min(max(count, policy.min_replicas), policy.max_replicas)
    decision = Decision(count, panic_since is not None, stable, panic, reason)
    after = Memory(
        panic_since=panic_since,
        panic_floor=count if panic_since is not None else 0,
        wanted=wanted,
        last_request=None if last_request == -math.inf else last_request,
    )
    return decision, after
