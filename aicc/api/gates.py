"""Per organization, one request of a kind at a time in a worker thread, the others waiting in
the event loop, where they hold no thread and no database connection; past `most` waiting the
caller is refused at once. A tenant's burst of one kind of request (50 channel tests at once)
then takes one of the server's workers and one connection, not all of them, so it cannot make
another tenant's calls wait for a worker or a connection. In this process's memory, as the rate
limits are: each server of several counts its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


class Crowded(Exception):
    """`most` requests of the organization are waiting already (`waiting`)."""

    def __init__(self, waiting: int) -> None:
        super().__init__(f"{waiting} waiting")
        self.waiting = waiting


@dataclass
class _Gate:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0  # in the gate: the one inside included


@dataclass
class OrgGates:
    """Gates by (kind, organization); a gate nobody is in is forgotten."""

    _gates: dict[tuple[str, str], _Gate] = field(default_factory=dict)

    @asynccontextmanager
    async def one_at_a_time(self, kind: str, org_id: str, *, most: int) -> AsyncIterator[None]:
        """Enter once the organization's earlier request of `kind` is done; Crowded when
        `most` are in the gate already."""
        key = (kind, org_id)
        gate = self._gates.setdefault(key, _Gate())
        if gate.waiting >= most:
            raise Crowded(gate.waiting)
        gate.waiting += 1
        try:
            async with gate.lock:
                yield
        finally:
            gate.waiting -= 1
            if gate.waiting == 0:
                self._gates.pop(key, None)
