"""Service tiers' admission (`gateway/tiers.py`) on its own: a saturated deployment serves the
highest tier waiting first, gives a lower tier its reserved share, refuses a full line at once
and a wait past its bound with a 429's retry time, and forgets a waiter that left."""

from __future__ import annotations

import asyncio

from aicc.config import TierSettings
from aicc.gateway.tiers import Admission, Refused


def _admission(**changes: object) -> Admission:
    base = {"per_replica": 1, "queue": {1: 10, 2: 10, 3: 10}, "wait_s": {1: 60, 2: 60, 3: 60}}
    return Admission(TierSettings.model_validate({**base, **changes}))


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_highest_tier_waiting_is_served_first() -> None:
    async def scenario() -> list[int]:
        admission = _admission(share=1000)
        assert await admission.enter("d", 3, 1) is None  # the one slot, taken
        order: list[int] = []

        async def one(tier: int) -> None:
            assert await admission.enter("d", tier, 1) is None
            order.append(tier)
            await _settle()
            admission.leave("d")

        waiting = [asyncio.create_task(one(t)) for t in (3, 3, 2, 1, 3, 1)]
        await _settle()
        assert admission.waiting("d") == {1: 2, 2: 1, 3: 3}
        admission.leave("d")
        await asyncio.gather(*waiting)
        return order

    assert asyncio.run(scenario()) == [1, 1, 2, 3, 3, 3]


def test_a_lower_tier_gets_its_share_while_a_higher_one_waits() -> None:
    async def scenario() -> list[int]:
        admission = _admission(share=3)
        assert await admission.enter("d", 1, 1) is None
        order: list[int] = []

        async def one(tier: int) -> None:
            assert await admission.enter("d", tier, 1) is None
            order.append(tier)
            await _settle()
            admission.leave("d")

        waiting = [asyncio.create_task(one(t)) for t in (3, 1, 1, 1, 1, 1, 1)]
        await _settle()
        admission.leave("d")
        await asyncio.gather(*waiting)
        return order

    assert asyncio.run(scenario()) == [1, 1, 3, 1, 1, 1, 1]  # every 3rd slot: the lower tier


def test_a_full_line_and_a_wait_too_long_are_refused_with_a_retry_time() -> None:
    async def scenario() -> tuple[Refused | None, Refused | None, dict[int, int]]:
        admission = _admission(queue={1: 10, 2: 10, 3: 1}, wait_s={1: 60, 2: 60, 3: 0.01})
        assert await admission.enter("d", 1, 1) is None
        first = asyncio.create_task(admission.enter("d", 3, 1))
        await _settle()
        full = await admission.enter("d", 3, 1)  # the tier's line holds one
        timed_out = await first
        return full, timed_out, admission.waiting("d")

    full, timed_out, left = asyncio.run(scenario())
    assert full == Refused(tier=3, seconds=1, full=True)
    assert timed_out is not None and not timed_out.full and timed_out.seconds >= 1
    assert left == {1: 0, 2: 0, 3: 0}


def test_a_waiter_that_left_holds_nothing() -> None:
    async def scenario() -> tuple[dict[int, int], Refused | None]:
        admission = _admission()
        assert await admission.enter("d", 2, 1) is None
        gone = asyncio.create_task(admission.enter("d", 2, 1))
        await _settle()
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        left = admission.waiting("d")
        admission.leave("d")
        return left, await admission.enter("d", 3, 1)  # the slot is free again

    left, after = asyncio.run(scenario())
    assert left == {1: 0, 2: 0, 3: 0} and after is None


def test_more_replicas_admit_more_at_once() -> None:
    async def scenario() -> list[Refused | None]:
        admission = _admission(per_replica=2)
        capacity = admission.capacity(3)
        return [await admission.enter("d", 3, capacity) for _ in range(capacity)]

    assert asyncio.run(scenario()) == [None] * 6
