"""The API's version, said both ways: every answer carries `AICC-API-Version`, and a client that
sends the header (the SDK, and so the CLI) and speaks another version gets a 400 naming both,
rather than answers it would misread. A client that sends none (curl, a browser) is served as
it is. The version changes only when a change breaks existing clients; the package version
(`aicc.__version__`) is in each side's User-Agent and /api/v1/health."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aicc import API_VERSION, __version__

HEADER = "AICC-API-Version"
_KEY = HEADER.lower().encode()


class ApiVersion:
    """A plain ASGI middleware: one header look-up a request, streamed answers untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked = next((v for k, v in scope["headers"] if k == _KEY), None)
        if asked is not None and asked.decode("latin-1").strip() != API_VERSION:
            client = next((v for k, v in scope["headers"] if k == b"user-agent"), b"")
            detail = (
                f"this server (aicc {__version__}) speaks AICC API version {API_VERSION}; the "
                f"client ({client.decode('latin-1') or 'unknown'}) speaks version "
                f"{asked.decode('latin-1')[:20]}: install the client of the server's version "
                f"(pip install aicc=={__version__})"
            )
            body = json.dumps({"detail": detail}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (_KEY, API_VERSION.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def versioned(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (_KEY, API_VERSION.encode())],
                }
            await send(message)

        await self.app(scope, receive, versioned)
