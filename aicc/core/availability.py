"""Availability of leased devices, per minute, and the service credit it earns: pure interval
arithmetic over what the SLA report reads (services/leases/sla.py), no I/O.

A minute counts against a device when the device is out for any part of it (an outage's start
is floored to the minute, its end raised to the next one). Minutes inside an announced
maintenance window of the device's node are excluded (they count neither as leased nor as
lost), as clouds exclude scheduled maintenance. Availability = available device-minutes /
leased device-minutes, in percent; 100 when nothing was leased."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

MINUTE = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Key = tuple[str, int]  # (node name, device index); index -1: a node without devices
Minutes = list[tuple[int, int]]  # merged half-open [from, to) minute numbers


def floor_minute(at: datetime) -> int:
    """Minutes since the epoch of the minute `at` falls in."""
    return (at - EPOCH) // MINUTE


def ceil_minute(at: datetime) -> int:
    """The first minute that starts at or after `at`."""
    whole, rest = divmod(at - EPOCH, MINUTE)
    return whole + (1 if rest else 0)


def at_minute(n: int) -> datetime:
    return EPOCH + n * MINUTE


def merge(spans: Iterable[tuple[int, int]]) -> Minutes:
    """Overlapping or touching spans as one; empty ones dropped."""
    out: Minutes = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def rounded(start: datetime, end: datetime) -> tuple[int, int]:
    """A span of time as the minutes it touches."""
    return floor_minute(start), ceil_minute(end)


def clip(spans: Minutes, start: int, end: int) -> Minutes:
    return [(max(a, start), min(b, end)) for a, b in spans if min(b, end) > max(a, start)]


def subtract(spans: Minutes, cut: Minutes) -> Minutes:
    """What of `spans` (merged) lies outside `cut` (merged)."""
    out: Minutes = []
    for start, end in spans:
        at = start
        for a, b in cut:
            if b <= at or a >= end:
                continue
            if a > at:
                out.append((at, a))
            at = max(at, b)
        if at < end:
            out.append((at, end))
    return out


def total(spans: Minutes) -> int:
    return sum(b - a for a, b in spans)


@dataclass(frozen=True)
class Outage:
    """Some leased devices out from `start` to `end` (None: still out), and why."""

    start: datetime
    end: datetime | None
    devices: frozenset[Key]
    reason: str


@dataclass(frozen=True)
class Tally:
    leased_minutes: int  # device-minutes leased, less the excluded ones
    lost_minutes: int  # of those, device-minutes out
    excluded_minutes: int  # device-minutes inside announced maintenance

    @property
    def pct(self) -> Decimal:
        """Availability in percent, to 4 decimals (rounded down: never promises more)."""
        if self.leased_minutes <= 0:
            return Decimal("100.0000")
        exact = Decimal(self.leased_minutes - self.lost_minutes) * 100 / self.leased_minutes
        return exact.quantize(Decimal("0.0001"), rounding="ROUND_DOWN")


def tally(
    window: tuple[datetime, datetime],
    devices: Sequence[Key],
    outages: Sequence[Outage],
    excluded: Mapping[str, Sequence[tuple[datetime, datetime]]],
) -> Tally:
    """Device-minutes of `devices` over `window` (the lease's part of the month): leased,
    lost to `outages`, and excluded by the maintenance windows of each node (`excluded`)."""
    lo, hi = rounded(*window)
    down: dict[Key, list[tuple[int, int]]] = {}
    for outage in outages:
        span = rounded(outage.start, outage.end or window[1])
        for key in outage.devices:
            down.setdefault(key, []).append(span)
    leased = lost = skipped = 0
    for key in devices:
        cut = clip(merge(rounded(a, b) for a, b in excluded.get(key[0], ())), lo, hi)
        out = subtract(clip(merge(down.get(key, ())), lo, hi), cut)
        skipped += total(cut)
        leased += hi - lo - total(cut)
        lost += total(out)
    return Tally(leased, lost, skipped)


# The service credit table: (availability below, percent of the month's lease charge credited),
# the first matching row from the bottom up; "tier" stands for the lease's promised tier.
CREDITS: tuple[tuple[str, Decimal], ...] = (
    ("tier", Decimal(10)),
    ("99.0", Decimal(30)),
    ("95.0", Decimal(100)),
)


def credit_pct(
    pct: Decimal, tier: float, table: Sequence[tuple[str, Decimal]] = CREDITS
) -> Decimal:
    """The percent of the month's lease charge that `pct` availability earns as a credit: the
    largest of the rows whose threshold it is below (0 when it meets them all)."""
    earned = Decimal(0)
    for below, share in table:
        threshold = Decimal(str(tier)) if below == "tier" else Decimal(below)
        if pct < threshold:
            earned = max(earned, share)
    return earned
