"""Service tiers (docs/gateway.md, "Service tiers"): admission to a deployment whose replicas are
saturated. A key carries a tier, 1 (served first) to 3. While a deployment holds fewer requests
than its capacity (`gateway.tiers.per_replica` per ready replica), a request goes straight on;
past that it waits in its tier's line, and each slot freed goes to the highest tier waiting.

Never starved, either way: a higher tier never waits behind a lower one (a lower one is served
only from the `share` reserved to it), and one slot in `share` freed while a higher tier waits
goes to the longest-waiting lower tier, so a steady stream of tier 1 cannot shut tier 3 out. A
full line, or a wait past its tier's bound, is a 429 with `Retry-After` (the caller's to retry).

In memory, per server: each server admits what it forwards (as its buckets and counts are)."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field

from aicc.config import TierSettings

TIERS = (1, 2, 3)


@dataclass
class _Waiter:
    tier: int
    ticket: int  # arrival order, over all tiers
    future: asyncio.Future[None]


@dataclass
class _Line:
    """One deployment's requests admitted and waiting."""

    capacity: int = 1
    inflight: int = 0
    waiting: dict[int, deque[_Waiter]] = field(default_factory=lambda: {t: deque() for t in TIERS})
    handed: int = 0  # slots handed to waiters while more than one tier waited

    def queued(self) -> int:
        return sum(len(q) for q in self.waiting.values())


@dataclass(frozen=True)
class Refused:
    """A 429: the tier's line was full (`full`) or its wait ran out; retry after `seconds`."""

    tier: int
    seconds: int
    full: bool


class Admission:
    """The lines of every deployment this server forwards to, by deployment id."""

    def __init__(self, settings: TierSettings) -> None:
        self.settings = settings
        self.lines: dict[str, _Line] = {}
        self._tickets = 0

    @property
    def enabled(self) -> bool:
        return self.settings.per_replica is not None

    def capacity(self, replicas: int) -> int:
        return (self.settings.per_replica or 0) * max(1, replicas)

    async def enter(self, key: str, tier: int, capacity: int) -> Refused | None:
        """Wait for a slot of deployment `key` (None: admitted; the caller must `leave` once),
        or be refused. Cancelled while waiting: nothing held."""
        tier = tier if tier in TIERS else TIERS[-1]
        line = self.lines.setdefault(key, _Line())
        line.capacity = max(1, capacity)
        if line.inflight < line.capacity and not line.queued():
            line.inflight += 1
            return None
        queue = line.waiting[tier]
        if len(queue) >= self.settings.queue.get(tier, 0):
            return Refused(tier, self._retry_after(tier), full=True)
        self._tickets += 1
        waiter = _Waiter(tier, self._tickets, asyncio.get_running_loop().create_future())
        queue.append(waiter)
        self._hand(line)  # capacity may have grown since the others queued
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), self.settings.wait_s.get(tier))
        except TimeoutError:
            if waiter.future.done():  # handed a slot as its wait ran out: give it on
                self.leave(key)
            else:
                queue.remove(waiter)
                waiter.future.cancel()
            return Refused(tier, self._retry_after(tier), full=False)
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self.leave(key)
            elif waiter in queue:
                queue.remove(waiter)
            raise
        return None

    def leave(self, key: str) -> None:
        """An admitted request is over: its slot to the next waiter, if any."""
        line = self.lines.get(key)
        if line is None:
            return
        line.inflight = max(0, line.inflight - 1)
        self._hand(line)
        if line.inflight == 0 and not line.queued():
            del self.lines[key]

    def _hand(self, line: _Line) -> None:
        while line.inflight < line.capacity:
            waiter = self._next(line)
            if waiter is None:
                return
            line.inflight += 1
            waiter.future.set_result(None)

    def _next(self, line: _Line) -> _Waiter | None:
        """The highest tier's oldest waiter; every `share`th slot handed while several tiers
        wait, the oldest of the lower tiers' instead."""
        tiers = [t for t in TIERS if line.waiting[t]]
        if not tiers:
            return None
        chosen = tiers[0]
        if len(tiers) > 1:
            line.handed += 1
            if line.handed % self.settings.share == 0:
                chosen = min(tiers[1:], key=lambda t: line.waiting[t][0].ticket)
        return line.waiting[chosen].popleft()

    def _retry_after(self, tier: int) -> int:
        return max(1, math.ceil(self.settings.wait_s.get(tier, 1.0) / 2))

    def waiting(self, key: str) -> dict[int, int]:
        """How many wait per tier (for the metrics)."""
        line = self.lines.get(key)
        return {t: len(line.waiting[t]) for t in TIERS} if line else {t: 0 for t in TIERS}
