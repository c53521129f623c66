"""A replica's answer read within a bound. A replica is a tenant's job, so whatever it answers is
hostile input: its time is bounded by the pooled clients' timeouts (`pool.py`), its size here.
A whole answer (not streamed: `forward.py`, the classifier's scores in `classify.py`) is read up
to `gateway.max_answer_bytes`; a stream's events one at a time, each up to
`gateway.max_event_bytes` (`relay.py`), however long the stream. Past either, the replica's
connection is closed at once, nothing more of it is read or kept, and the caller gets a 502
`upstream_answer_too_large` (docs/gateway.md, Errors): a replica cannot make the server hold
more than the bound (and one network read) per request."""

from __future__ import annotations

import json

import aiohttp
from fastapi.responses import JSONResponse

from aicc.gateway.errors import error

CODE = "upstream_answer_too_large"


class TooLarge(Exception):
    """The replica's answer (or one event of its stream) went past `limit` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the replica's answer exceeded {limit} bytes")
        self.limit = limit


async def read(upstream: aiohttp.ClientResponse, limit: int) -> bytes:
    """The replica's whole answer, of at most `limit` bytes (as decoded: a compressed answer
    counts what it unpacks to). Raises `TooLarge` with the connection closed as soon as it is
    known to be longer (its `Content-Length` says so, or the bytes read go past the limit);
    the timeouts and connection errors of aiohttp as `read()` does."""
    declared = upstream.content_length
    if declared is not None and declared > limit:
        upstream.close()
        raise TooLarge(limit)
    body = bytearray()
    while chunk := await upstream.content.readany():
        body += chunk
        if len(body) > limit:
            upstream.close()
            raise TooLarge(limit)
    return bytes(body)


async def read_json(upstream: aiohttp.ClientResponse, limit: int) -> object:
    """The replica's whole answer as JSON (`read`'s bound; a ValueError if it is not JSON, or
    nested past what the parser takes)."""
    data = await read(upstream, limit)
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("the replica's answer is nested too deep") from None


def message(limit: int) -> str:
    return (
        f"the replica's answer exceeded {limit} bytes, the most the gateway reads of one "
        "answer (gateway.max_answer_bytes) or of one streamed event (gateway.max_event_bytes); "
        "it was cut off"
    )


def too_large(limit: int, request_id: str) -> JSONResponse:
    """The caller's answer when its replica's answer was cut off."""
    return error(502, message(limit), "server_error", CODE, headers={"x-request-id": request_id})


def event(limit: int) -> bytes:
    """The last event of a stream whose replica sent an event past the bound after the stream
    had begun: OpenAI's error shape as a server-sent event, which the `openai` clients raise
    as an `APIError`."""
    body = {
        "error": {"message": message(limit), "type": "server_error", "param": None, "code": CODE}
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"
