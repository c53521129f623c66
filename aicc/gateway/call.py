"""One request on its way through the gateway (`Call`): the key, the deployment, which replica
answered after how many attempts, and the record it leaves. Whatever way it ends (answered,
refused upstream, the client gone, the store away) it is counted out of flight exactly once:
a count left behind would keep its deployment from scaling down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from aicc.gateway import usage as metered
from aicc.gateway.state import Gateway
from aicc.services.common import new_id, utcnow
from aicc.services.serving import gateway as gw

_tasks: set[asyncio.Task[None]] = set()  # records written after the client left


def later(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` on a task of its own, held until done: the request's handler is being
    cancelled, or its answer is already out."""
    task = asyncio.get_running_loop().create_task(work)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


class Call:
    """One request on its way: what its record will say."""

    def __init__(
        self,
        gateway: Gateway,
        grant: gw.Grant,
        target: gw.Target,
        route: str,
        started: float | None = None,
    ) -> None:
        self.gateway, self.grant, self.target, self.route = gateway, grant, target, route
        self.id = new_id("req")
        self.started = time.perf_counter() if started is None else started  # its arrival
        self.held = False  # it waited for a cold start: its first byte's delay is observed
        self.admitted = False  # holds a slot of its deployment's tiers (gateway/tiers.py)
        self.attempts = 0
        self.replica: str | None = None
        self.stream = False
        self.adapter: str | None = None  # `model: "BASE:NAME"`'s NAME
        self.finished = False  # `finish` ran: counted out of flight and recorded

    def record(
        self, status: int, *, billable: bool, usage: dict[str, Any] | None = None
    ) -> gw.RequestRecord:
        usage = usage or {}
        return gw.RequestRecord(
            id=self.id,
            org_id=self.grant.org_id,
            project_id=self.grant.project_id,
            deployment_id=self.target.deployment_id,
            key_id=self.grant.key_id,
            route=self.route,
            status=status,
            stream=self.stream,
            billable=billable,
            prompt_tokens=metered.tokens(usage.get("prompt_tokens")),
            completion_tokens=metered.tokens(usage.get("completion_tokens")),
            latency_us=int((time.perf_counter() - self.started) * 1e6),
            attempts=self.attempts,
            replica=self.replica,
            at=utcnow(),
            adapter=self.adapter,
            tier=self.grant.tier,
        )

    async def finish(
        self, status: int, *, billable: bool, usage: dict[str, Any] | None = None
    ) -> None:
        if self.finished:
            return
        self.finished = True
        self.gateway.concurrency.end(self.target.deployment_id)
        self.leave()
        await self.gateway.finish(
            self.target.name, self.record(status, billable=billable, usage=usage)
        )

    def drop(self) -> None:
        """Ended unrecorded, as the store its record would go to does not answer: still no
        longer in flight."""
        if not self.finished:
            self.finished = True
            self.gateway.concurrency.end(self.target.deployment_id)
            self.leave()

    def abandon(self) -> None:
        """The request was cancelled before it ended (the client left and the server cancelled
        its handler): no longer in flight, and recorded as the client's leaving, 499, on a task
        of its own (this one is being cancelled)."""
        if not self.finished:
            self.leave()  # its slot to the next at once, not when the record is written
            later(self.finish(499, billable=False))

    def leave(self) -> None:
        """Its tier slot given back, once."""
        if self.admitted:
            self.admitted = False
            self.gateway.admission.leave(self.target.deployment_id)

    def first_byte(self) -> None:
        """The replica's first byte (a stream's first event) reached the gateway: for a request
        held through a cold start, the delay its caller saw is observed, once."""
        if self.held:
            self.held = False
            waited = time.perf_counter() - self.started
            where = (self.grant.project_id, self.target.name)
            self.gateway.stats.cold_start.labels(*where).observe(waited)
