"""openleadr's own OpenADR 2.0b VTN on 127.0.0.1, in a thread with its own event loop: the
utility side of the VEN's tests and of benchmarks/openadr_latency.py. Every VEN registers as
`ven-1`; `poll_s` is the poll interval the VTN asks the VEN to keep."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any


class Vtn:
    """The VTN thread: `start` serves, `call` runs a function in its loop, `stop` ends it."""

    def __init__(self, poll_s: float = 1.0) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.poll_s = poll_s
        self.loop = asyncio.new_event_loop()
        self.server: Any = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/OpenADR2/Simple/2.0b"

    def start(self) -> Vtn:
        from openleadr import OpenADRServer

        async def registered(info: dict[str, Any]) -> tuple[str, str]:
            return "ven-1", "reg-1"

        async def serve() -> None:
            self.server = OpenADRServer(
                vtn_id="utility-vtn",
                http_port=self.port,
                http_host="127.0.0.1",
                requested_poll_freq=timedelta(seconds=self.poll_s),
                show_server_cert_domain=False,
            )
            self.server.add_handler("on_create_party_registration", registered)
            await self.server.run_async()

        self.thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self.loop).result(20)
        return self

    def call(self, fn: Callable[[], Any]) -> Any:
        async def wrapped() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(10)

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):  # stopping what did not start whole
                asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()
