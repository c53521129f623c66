"""A streamed answer relayed event by event (`stream: true`: server-sent events), as each arrives
from the replica. Metering needs the stream's usage, so the gateway asks for it
(`stream_options.include_usage`) and holds the usage chunk back from a client that did not; the
request's record is written before `[DONE]` goes out, and once however the stream ends (the
replica's end, its breaking off, the client's leaving: billed like a whole answer, the replica
worked for it).

A replica's stream is hostile input: it is read one event at a time, each up to
`gateway.max_event_bytes` (`bounded.py`), so a replica sending one endless line holds no more
than that. The first event is read before the answer's status goes out (`begin`): a first event
past the bound is the caller's 502, a replica breaking off before it is tried again elsewhere
(`forward.py`). One past the bound later ends the stream with an error event, the replica's
connection closed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from aicc.gateway import bounded
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
        *,
        limit: int,
    ) -> None:
        self.call, self.upstream, self.url, self.asked_usage = call, upstream, url, asked_usage
        self.guard = guard  # content safety on the answer as it streams (gateway/safety.py)
        self.limit = limit  # the most bytes of one event (gateway.max_event_bytes)
        self.usage: dict[str, Any] | None = None
        self.done = False  # the record is written
        self.status = 499  # until the replica's answer ends: the client left
        self.closed = False
        self.begun = False  # the first event read: the relay closes the replica's answer
        self._buffer = b""  # what came of the next event
        self._first: bytes | None = None

    async def begin(self) -> None:
        """Read the first event (or the end of the answer), before the answer's status goes
        out. Raises `bounded.TooLarge` (the connection closed), and aiohttp's timeouts and
        connection errors: the caller still owns the replica's answer then."""
        self._first = await self._next()
        self.begun = True

    async def _next(self) -> bytes | None:
        """The replica's next event, up to its blank line, of at most `limit` bytes; what is
        left when the answer ends (None: nothing)."""
        start = 0
        while True:
            end = self._buffer.find(b"\n\n", start)
            if end >= 0 and end + 2 <= self.limit:
                event, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
                return event
            if end >= 0 or len(self._buffer) > self.limit:
                self.upstream.close()
                raise bounded.TooLarge(self.limit)
            start = max(0, len(self._buffer) - 1)
            chunk = await self.upstream.content.readany()
            if not chunk:
                rest, self._buffer = self._buffer, b""
                return rest or None
            self._buffer += chunk.replace(b"\r\n", b"\n")

    async def events(self) -> AsyncIterator[bytes]:
        try:
            event, self._first = self._first, None
            if not self.begun:
                event = await self._next()
            while event is not None:
                if not event.endswith(b"\n\n"):  # the replica's last bytes, not a whole event
                    yield event
                    break
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
                            event = await self._next()
                            continue
                yield event
                event = await self._next()
            self.status = 200  # the replica ended without `[DONE]`
        except bounded.TooLarge as e:
            self.status = 502  # the client has what came before, and why it ends
            yield bounded.event(e.limit)
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
    except (ValueError, AttributeError, RecursionError):
        return False
