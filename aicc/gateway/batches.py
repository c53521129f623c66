"""The batch runner (docs/interop.md): sends the lines of OpenAI batches (`services/serving/
batches.py`) through the gateway as the batch's API key, so each line is limited, routed,
retried, logged and metered as a request of that key, recorded with route `batch:ROUTE`, which
the meter bills at the price plan's batch price.

Off-peak: at most `gateway.batch_concurrency` lines of all batches are in flight, and a line
waits while `gateway.batch_yield_inflight` or more interactive requests are in flight to its
deployment, so interactive callers go first. A line is read as the gateway reads a request body
(`json.loads`, one object per line) and nothing else of it is interpreted: its `body` goes to
the replica as a client's would. One batch at a time per server process; a batch is held in the
store while it runs, so another process or server never runs it too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from aicc.gateway.forward import dispatch
from aicc.gateway.state import Gateway
from aicc.services.common import new_id, utcnow
from aicc.services.jobs import openai_files
from aicc.services.serving import acting, batches
from aicc.services.serving import gateway as gw
from aicc.store.blobs import BlobStore

log = logging.getLogger("aicc.gateway.batches")
HOLD_S = 60.0  # how long a claim holds a batch without a renewal
PROGRESS_S = 1.0  # counts written at most this often
MAX_LINES = 50_000  # OpenAI's limit of requests in a batch
YIELD_POLL_S = 0.05
RETRY_S = 1.0


@dataclass
class Line:
    """One request of the input file, as read."""

    number: int
    custom_id: str
    body: dict[str, Any]


class Invalid(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def read_lines(data: bytes, endpoint: str) -> list[Line]:
    """The requests of an input file, or `Invalid` naming the first bad line (1-based) the way
    OpenAI's batches say it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(None, "the input file is not UTF-8 text") from None
    out: list[Line] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        if len(out) >= MAX_LINES:
            raise Invalid(number, f"a batch holds at most {MAX_LINES} requests")
        try:
            item = json.loads(raw)
        except ValueError:
            raise Invalid(number, "the line is not a JSON object") from None
        if not isinstance(item, dict):
            raise Invalid(number, "the line is not a JSON object")
        custom_id, body = item.get("custom_id"), item.get("body")
        if not isinstance(custom_id, str) or not custom_id or len(custom_id) > 512:
            raise Invalid(number, "custom_id: give a string of 1 to 512 characters")
        if custom_id in seen:
            raise Invalid(number, f"custom_id {custom_id!r} is used by an earlier line")
        if item.get("method") != "POST":
            raise Invalid(number, "method: only POST is supported")
        if item.get("url") != endpoint:
            raise Invalid(number, f"url: every line of this batch must be {endpoint}")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            raise Invalid(number, "body: a JSON object whose `model` names a deployment")
        if body.get("stream") is True:
            raise Invalid(number, "body.stream: a batch's requests cannot stream")
        seen.add(custom_id)
        out.append(Line(number, custom_id, body))
    if not out:
        raise Invalid(None, "the input file holds no request")
    return out


class Runner:
    """The process's batch runner: a task that claims batches and sends their lines."""

    def __init__(self, gateway: Gateway, blobs: BlobStore) -> None:
        self.gateway, self.blobs = gateway, blobs
        settings = gateway.settings
        self.poll_s = settings.batch_poll_s
        self.slots = asyncio.Semaphore(settings.batch_concurrency)
        self.yield_at = settings.batch_yield_inflight
        self.batch_inflight: dict[str, int] = {}  # deployment id -> batch lines in flight
        self.task: asyncio.Task[None] | None = None
        self.ran = 0  # batches run, for tests and logs

    async def start(self) -> None:
        if self.task is None and self.gateway.settings.batch_poll_s > 0:
            self.task = asyncio.get_running_loop().create_task(self._forever())

    async def stop(self) -> None:
        task = self.task
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            return  # (an app served twice at once, as tests do: the first one's shutdown stops it)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.task = None

    async def _forever(self) -> None:
        while True:
            try:
                claimed = await asyncio.to_thread(self._claim)
                if claimed is not None:
                    await self.run(claimed)
                    self.ran += 1
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("batch runner: a pass failed")
            await asyncio.sleep(self.poll_s)

    def _claim(self) -> batches.Claimed | None:
        with self.gateway.db.reader() as session:
            if not batches.due(session, now=utcnow()):
                return None
        with self.gateway.db.session() as session:
            return batches.claim(session, now=utcnow(), hold_s=HOLD_S)

    async def run(self, claimed: batches.Claimed) -> None:
        """Send every line of one claimed batch and write its results."""
        db = self.gateway.db
        data = await asyncio.to_thread(openai_files.read, self.blobs, claimed.input_sha256)
        try:
            lines = read_lines(data, claimed.path)
        except Invalid as bad:
            with db.session() as session:
                batches.invalid(session, claimed.id, line=bad.line, message=bad.message)
            return
        with db.session() as session:
            grant = acting.grant(session, claimed.key_id, now=utcnow(), zone=self.gateway.zone)
            if grant is None:
                batches.invalid(session, claimed.id, line=None, message="the API key was revoked")
                return
            status = batches.start(
                session, claimed.id, total=len(lines), now=utcnow(), hold_s=HOLD_S
            )
        state = _State(status=status)
        work = [self._line(claimed, grant, line, state) for line in lines]
        results = await asyncio.gather(*work)
        await self._finish(claimed, results, state)

    async def _line(
        self, claimed: batches.Claimed, grant: gw.Grant, line: Line, state: _State
    ) -> dict[str, Any]:
        async with self.slots:
            while True:
                stopped = self._stopped(claimed, state)
                if stopped is not None:
                    return _unsent(line, *stopped)
                if await self._may_send(grant, line):
                    break
            try:
                answer = await self._send(claimed, grant, line, state)
            finally:
                await self._progress(claimed, state)
            return answer

    def _stopped(self, claimed: batches.Claimed, state: _State) -> tuple[str, str] | None:
        if state.status == batches.Status.CANCELLING:
            return "batch_cancelled", "the batch was cancelled before this request was sent"
        if utcnow() >= claimed.expires_at:
            state.expired = True
            return "batch_expired", "the batch's completion window ended before it was sent"
        return None

    async def _may_send(self, grant: gw.Grant, line: Line) -> bool:
        """Whether interactive traffic leaves room for a batch line now (waits a little if not)."""
        name = str(line.body.get("model"))
        try:
            target = await self.gateway.target(grant.project_id, name)
        except Exception:
            target = None
        if target is None:
            return True  # dispatch answers it (404), as it would the client
        ours = self.batch_inflight.get(target.deployment_id, 0)
        if self.gateway.concurrency.inflight(target.deployment_id) - ours < self.yield_at:
            return True
        await asyncio.sleep(YIELD_POLL_S)
        return False

    async def _send(
        self, claimed: batches.Claimed, grant: gw.Grant, line: Line, state: _State
    ) -> dict[str, Any]:
        name = str(line.body["model"])
        body = json.dumps(line.body).encode()
        target = await self.gateway.target(grant.project_id, name)
        deployment = target.deployment_id if target is not None else ""
        self.batch_inflight[deployment] = self.batch_inflight.get(deployment, 0) + 1
        try:
            while True:
                answer = await dispatch(
                    self.gateway,
                    grant,
                    f"batch:{claimed.route}",
                    claimed.path,
                    name,
                    dict(line.body),
                    body,
                    "application/json",
                )
                if answer.status_code != 429 or self._stopped(claimed, state) is not None:
                    break
                wait = float(answer.headers.get("retry-after", RETRY_S))
                await asyncio.sleep(min(max(wait, RETRY_S), 60.0))
        finally:
            self.batch_inflight[deployment] -= 1
        return _answered(line, answer, state)

    async def _progress(self, claimed: batches.Claimed, state: _State) -> None:
        now = time.monotonic()
        if now - state.written < PROGRESS_S:
            return
        state.written = now

        def write() -> str:
            with self.gateway.db.session() as session:
                return batches.progress(
                    session,
                    claimed.id,
                    completed=state.completed,
                    failed=state.failed,
                    now=utcnow(),
                    hold_s=HOLD_S,
                )

        state.status = await asyncio.to_thread(write)

    async def _finish(
        self, claimed: batches.Claimed, results: list[dict[str, Any]], state: _State
    ) -> None:
        good: list[dict[str, Any]] = []
        bad: list[dict[str, Any]] = []
        for result in results:
            (good if result.pop("_ok") else bad).append(result)

        def write() -> None:
            names = {}
            for kind, rows in (("output", good), ("errors", bad)):
                if not rows:
                    continue
                data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
                sha, size = openai_files.keep(self.blobs, data, max_bytes=len(data) + 1)
                names[kind] = (sha, size)
            with self.gateway.db.session() as session:
                who = acting.principal(session, claimed.key_id, revoked=True)
                made = {
                    kind: openai_files.create(
                        session,
                        who,
                        key_id=claimed.key_id,
                        sha256=sha,
                        size=size,
                        filename=f"{claimed.id}_{kind}.jsonl",
                        purpose=openai_files.OUTPUT,
                        output=True,
                    ).id
                    for kind, (sha, size) in names.items()
                }
                batches.finish(
                    session,
                    claimed.id,
                    completed=state.completed,
                    failed=state.failed,
                    output_file_id=made.get("output"),
                    error_file_id=made.get("errors"),
                    expired=state.expired,
                )

        await asyncio.to_thread(write)


@dataclass
class _State:
    status: str
    completed: int = 0
    failed: int = 0
    expired: bool = False
    written: float = 0.0


def _answered(line: Line, answer: Response, state: _State) -> dict[str, Any]:
    raw = bytes(answer.body)
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")
    ok = 200 <= answer.status_code < 300
    if ok:
        state.completed += 1
    else:
        state.failed += 1
    return {
        "id": new_id("breq"),
        "custom_id": line.custom_id,
        "response": {
            "status_code": answer.status_code,
            "request_id": answer.headers.get("x-request-id", ""),
            "body": body,
        },
        "error": None,
        "_ok": ok,
    }


def _unsent(line: Line, code: str, message: str) -> dict[str, Any]:
    return {
        "id": new_id("breq"),
        "custom_id": line.custom_id,
        "response": None,
        "error": {"code": code, "message": message},
        "_ok": False,
    }
