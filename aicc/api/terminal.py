"""The exec channel: a websocket to a command running inside a job's replica, for the API's
`/api/v1/jobs/{id}/exec` (`aicc job exec`) and the portal's terminal page alike.

Frames. Server to client: binary frames whose first byte is the stream (1 stdout, or the
terminal; 2 stderr) and the rest its bytes, as the command wrote them; then one text frame
`{"exit": N}` (N the command's exit status, 128+N for a signal) or `{"error": "..."}`, and a
close. Client to server: binary frames are the command's input; text frames are control,
`{"resize": [cols, rows]}` or `{"eof": true}` (stdin closed; on a terminal, ^D).

The server never interprets what the command writes: escape sequences, NUL, invalid UTF-8 and
anything that looks like a control frame go out as bytes on a binary frame. What the command
writes is read only as fast as the client takes it (one read of at most `CHUNK` bytes per sent
frame), so a flood of output costs the server one chunk per session, not a queue. A session
ends when the command exits, when the client leaves, after `exec_idle_s` without input or
output, or after `exec_max_s` whatever happens; then the command's process group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Sequence
from typing import Any

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from aicc.api.state import AppState
from aicc.core.tenancy import Principal
from aicc.services.common import ServiceError
from aicc.services.jobs import execs

CHUNK = 64 * 1024  # bytes read from the command per frame
MAX_INPUT = 64 * 1024  # the largest frame a client may send
DRAIN_S = 1.0  # after the command exits: what it wrote last, read for at most this long


async def deny(websocket: WebSocket, status: int, message: str) -> None:
    """Refuse the upgrade with an HTTP answer (`{"detail": ...}`) where the server can send one,
    else accept and close with the reason."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": message}, status_code=status))
    else:
        await websocket.close(code=1008 if status < 500 else 1011, reason=message[:120])


async def serve(
    websocket: WebSocket,
    state: AppState,
    who: Principal,
    job_id: str,
    *,
    command: Sequence[str],
    tty: bool,
    replica: int,
    cols: int,
    rows: int,
) -> None:
    """Open the session (refused before the upgrade: 404, 403, 409, 422), pump it, audit its
    end."""

    def opening() -> execs.ExecSession:
        with state.db.session() as session:
            return execs.open_session(
                session,
                who,
                job_id,
                executors=state.executors,
                command=command,
                tty=tty,
                replica=replica,
                cols=cols,
                rows=rows,
            )

    try:
        opened = await run_in_threadpool(opening)
    except ServiceError as err:
        await deny(websocket, err.status, err.detail)
        return
    loop = asyncio.get_running_loop()
    began = loop.time()
    code: int | None = None
    why = "left"
    try:
        await websocket.accept()
        code, why = await _pump(websocket, opened.process, state)
    finally:
        code = await run_in_threadpool(_closed, opened.process, code)
        with contextlib.suppress(Exception):
            await websocket.send_text(json.dumps({"exit": code}))
            await websocket.close()

        def ending() -> None:
            with state.db.session() as session:
                execs.finish(
                    session, who, opened, exit_code=code, seconds=loop.time() - began, why=why
                )

        await run_in_threadpool(ending)


def _closed(process: execs.ExecProcess, code: int | None) -> int:
    """The command reaped; its status where the pump did not see it exit (it was killed)."""
    exit_code = process.close()
    return exit_code if code is None else code


async def _pump(
    websocket: WebSocket, process: execs.ExecProcess, state: AppState
) -> tuple[int | None, str]:
    """Both ways until the command exits (its status, `exited`), the client leaves (`left`), or
    a bound is reached (`idle`, `too_long`); None as the status where the command was killed."""
    limits = state.settings.limits
    loop = asyncio.get_running_loop()
    last = [loop.time()]
    outs = [(process.master, 1)] if process.master is not None else []
    outs += [(fd, n) for fd, n in ((process.stdout, 1), (process.stderr, 2)) if fd is not None]
    for fd, _ in outs:
        os.set_blocking(fd, False)
    downs = [asyncio.create_task(_down(websocket, fd, n, last)) for fd, n in outs]
    up = asyncio.create_task(_up(websocket, process, last))
    exited = asyncio.create_task(asyncio.to_thread(process.proc.wait))
    clock = asyncio.create_task(_clock(last, limits.exec_idle_s, limits.exec_max_s))
    try:
        done, _ = await asyncio.wait([exited, up, clock], return_when=asyncio.FIRST_COMPLETED)
        if exited in done:
            # what it wrote last: the pty or pipes end with the command (or within DRAIN_S)
            await asyncio.wait(downs, timeout=DRAIN_S)
            raw = exited.result()
            return (128 - raw if raw < 0 else raw), "exited"
        if clock in done:
            return None, clock.result()
        return None, "left"
    finally:
        process.kill()
        for task in (*downs, up, clock):
            task.cancel()
        for task in (*downs, up, clock):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(BaseException):
            await exited


async def _clock(last: list[float], idle_s: float, max_s: float) -> str:
    loop = asyncio.get_running_loop()
    began = loop.time()
    while True:
        now = loop.time()
        if now - began >= max_s:
            return "too_long"
        if now - last[0] >= idle_s:
            return "idle"
        await asyncio.sleep(max(0.05, min(began + max_s, last[0] + idle_s) - now))


async def _ready(fd: int, *, write: bool = False) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if write else loop.add_reader)(fd, wake)
    try:
        await ready
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def _down(websocket: WebSocket, fd: int, stream: int, last: list[float]) -> None:
    """The command's output, one chunk per frame, read only once the last one went out."""
    loop = asyncio.get_running_loop()
    prefix = bytes([stream])
    while True:
        await _ready(fd)
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            continue
        except OSError:  # EIO: the terminal's last holder closed it
            return
        if not data:
            return
        last[0] = loop.time()
        await websocket.send_bytes(prefix + data)


async def _up(websocket: WebSocket, process: execs.ExecProcess, last: list[float]) -> None:
    """The client's input and control frames, until it leaves."""
    loop = asyncio.get_running_loop()
    target = process.master if process.master is not None else process.stdin
    if target is not None:
        os.set_blocking(target, False)
    while True:
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
        last[0] = loop.time()
        data = message.get("bytes")
        if data is not None:
            if len(data) > MAX_INPUT or target is None:
                continue  # a frame over the bound is dropped, not buffered
            await _write(target, data)
        elif message.get("text") is not None:
            target = await _control(process, target, message["text"])


async def _control(process: execs.ExecProcess, target: int | None, text: str) -> int | None:
    """A control frame: resize, or end of input (the stdin pipe closed; ^D on a terminal)."""
    try:
        said: Any = json.loads(text[:1024])
    except ValueError:
        return target
    if not isinstance(said, dict):
        return target
    size = said.get("resize")
    if isinstance(size, list) and len(size) == 2 and all(isinstance(n, int) for n in size):
        process.resize(size[0], size[1])
    if said.get("eof") is True and target is not None:
        if process.master is not None:
            await _write(target, b"\x04")
        else:
            with contextlib.suppress(OSError):
                os.close(target)
            process.stdin = None
            return None
    return target


async def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _ready(fd, write=True)
        except OSError:  # the command closed its input, or ended
            return
