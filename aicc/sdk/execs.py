"""`client.jobs.exec(...)`: a command inside a running job's replica, over the server's
websocket (`/api/v1/jobs/{id}/exec`; the frames are api/terminal.py's).

    with client.jobs.exec(job_id, ["id", "-u"]) as channel:
        for stream, data in channel:       # ("stdout" | "stderr", bytes)
            ...
        channel.exit_code                  # once the iteration ended
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aicc.sdk.errors import ApiError, format_detail
from aicc.sdk.transport import api_path

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

    from aicc.sdk.transport import Transport

STREAMS = {1: "stdout", 2: "stderr"}


class ExecChannel:
    """One exec session: send input, resize, end input; iterate over what the command writes.
    `exit_code` is its status once the iteration ends (None if the server said none)."""

    def __init__(self, connection: ClientConnection) -> None:
        self._ws = connection
        self.exit_code: int | None = None
        self.error: str | None = None

    def send(self, data: bytes) -> None:
        self._send(data)

    def resize(self, cols: int, rows: int) -> None:
        self._send(json.dumps({"resize": [cols, rows]}))

    def end_input(self) -> None:
        self._send(json.dumps({"eof": True}))

    def _send(self, frame: bytes | str) -> None:
        """A frame for the command; none once the server closed the channel normally, as it
        does when the command ended (what it wrote and its exit code are still read)."""
        from websockets.exceptions import ConnectionClosedOK

        with contextlib.suppress(ConnectionClosedOK):
            self._ws.send(frame)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        from websockets.exceptions import ConnectionClosed

        try:
            for message in self._ws:
                if isinstance(message, bytes):
                    if message:
                        yield STREAMS.get(message[0], "stdout"), message[1:]
                    continue
                said: Any = json.loads(message)
                if isinstance(said, dict) and "exit" in said:
                    self.exit_code = int(said["exit"])
                elif isinstance(said, dict) and "error" in said:
                    self.error = str(said["error"])
        except ConnectionClosed:
            return

    def close(self) -> None:
        self._ws.close()

    def __enter__(self) -> ExecChannel:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_channel(
    transport: Transport,
    job_id: str,
    command: Sequence[str] = (),
    *,
    tty: bool = False,
    replica: int = 0,
    cols: int = 80,
    rows: int = 24,
) -> ExecChannel:
    """Open the session; a refusal (404, 409, ...) is `ApiError` with the server's detail."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    query: list[tuple[str, Any]] = [("command", arg) for arg in command]
    query += [("tty", str(tty).lower()), ("replica", replica), ("cols", cols), ("rows", rows)]
    base = transport.server.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    url = f"{base}{api_path('jobs', job_id, 'exec')}?{urlencode(query)}"
    headers = {"Authorization": f"Bearer {transport.token}"} if transport.token else {}
    try:
        # entered as a context manager (websockets 17 deprecates the bare call; the connection
        # is closed by ExecChannel.close, as __exit__ would)
        connection = connect(
            url, additional_headers=headers, max_size=None, compression=None, open_timeout=30
        ).__enter__()
    except InvalidStatus as err:
        body = err.response.body or b""
        try:
            detail = format_detail(json.loads(body).get("detail"))
        except (ValueError, AttributeError):
            detail = body.decode("utf-8", "replace") or str(err)
        raise ApiError(err.response.status_code, detail) from None
    return ExecChannel(connection)
