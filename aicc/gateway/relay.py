"""A streamed answer relayed event by event (`stream: true`: server-sent events), as each arrives
from the replica. Metering needs the stream's usage, so the gateway asks for it
(`stream_options.include_usage`) and holds the usage chunk back from a client that did not; the
request's record is written before `[DONE]` goes out, and once however the stream ends (the
replica's end, its breaking off, the client's leaving: billed like a whole answer, the replica
worked for it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from aicc.gateway import usage as metered
from aicc.gateway.call import Call, later
from aicc.gateway.safety import StreamGuard


class Relay:
    """The replica's events as each arrives, with the usage the client did not ask for left
    out."""

    def __init__(
        self,
        call: Call,
        upstream: aiohttp.ClientResponse,
        url: str,
        asked_usage: bool,
        guard: StreamGuard | None = None,
    ) -> None:
        self.call, self.upstream, self.url, self.asked_usage = call, upstream, url, asked_usage
        self.guard = guard  # content safety on the answer as it streams (gateway/safety.py)
        self.usage: dict[str, Any] | None = None
        self.done = False  # the record is written
        self.status = 499  # until the replica's answer ends: the client left
        self.closed = False

    async def events(self) -> AsyncIterator[bytes]:
        buffer = b""
        try:
            async for chunk in self.upstream.content.iter_any():
                buffer += chunk.replace(b"\r\n", b"\n")
                while (end := buffer.find(b"\n\n")) >= 0:
                    event, buffer = buffer[: end + 2], buffer[end + 2 :]
                    data = _data(event)
                    self.call.first_byte()
                    if self.guard is not None:
                        event, cut = await self.guard.event(event, data)
                        if cut:  # the content filter ended it: closing chunk and [DONE]
                            await self.call.finish(200, billable=True, usage=self.usage)
                            self.done = True
                            yield event
                            return
                    if data == b"[DONE]":
                        await self.call.finish(200, billable=True, usage=self.usage)
                        self.done = True
                    elif metered.has_usage(data):
                        found = metered.usage(data)
                        if found:
                            self.usage = found
                            if not self.asked_usage and not _choices(data):
                                continue
                    yield event
            if buffer:
                yield buffer
            self.status = 200  # the replica ended without `[DONE]`
        except (aiohttp.ClientError, TimeoutError):
            self.status = 502  # the replica broke off mid-answer; the client has what it sent
        finally:
            await self.close()

    async def close(self) -> None:
        """Once, however the response ended: the replica's connection back, its count of
        requests in flight down, and the record written."""
        if self.closed:
            return
        self.closed = True
        self.upstream.release()  # the connection closed if the answer did not end
        self.call.gateway.release(self.url)
        if not self.done:
            later(self.call.finish(self.status, billable=True, usage=self.usage))


class Relayed(StreamingResponse):
    """A relayed stream that is closed even when its events are never read: a client gone
    before the first byte leaves Starlette's body iterator unstarted, and an async generator
    that never started runs no `finally`."""

    def __init__(self, relay: Relay, request_id: str) -> None:
        super().__init__(
            relay.events(),
            media_type="text/event-stream",
            headers={"x-request-id": request_id, "cache-control": "no-cache"},
        )
        self.relay = relay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.relay.close()


def _data(event: bytes) -> bytes:
    """The `data:` of one server-sent event (one line; OpenAI's servers send one)."""
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return line[5:].strip()
    return b""


def _choices(data: bytes) -> bool:
    try:
        return bool(json.loads(data).get("choices"))
    except (ValueError, AttributeError):
        return False
