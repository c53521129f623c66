"""A small real HTTP upstream for the gateway's tests and benchmark: it answers OpenAI's
shapes with fixed texts and `usage`, streams server-sent events, serves `/predict`, and can be
told to be slow or to die. It is never the thing under test (the gateway is); `aicc/serving`
is the real model server.

Standard library only, so a `kind: service` job runs it from its command line
(`command()`), with no AICC installed in the sandbox. Settings from the environment:
`PORT`, `AICC_SERVICE_HOST`, `UPSTREAM_DELAY_S` (before each answer, and between streamed
chunks), `UPSTREAM_DIE_AFTER` (answer that many requests, then exit hard in the middle of the
next one: the connection is reset before any answer byte), `UPSTREAM_NAME` (said in every
answer, so a test sees which replica answered). A request with `"endless": true` gets what a
hostile replica may send: an answer that never ends (a JSON body, or with `"stream": true` one
server-sent event with no line end; `"endless": "later"`: after one whole event), written
until the client closes the connection (or `ENDLESS_CAP` bytes, so a gateway that reads it all
fails its test rather than the machine); the bytes written then go to stderr, `endless answer
ended after N bytes`. `UPSTREAM_ENDLESS_PATHS` (`/health,/v1/moderations`): every request to
these paths is answered so (200, without end). `"nested": true`: a JSON answer nested 100,000
deep (what no parser with a recursion limit reads).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WORDS = ("hello", "from", "the", "upstream")
ENDLESS_CAP = 512 * 1024 * 1024


class _Raw:
    """An answer's bytes as they are (not JSON made of an object)."""

    def __init__(self, data: bytes) -> None:
        self.data = data


class _State:
    served = 0
    lock = threading.Lock()


def _count(text: str) -> int:
    return len(text.split())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a pooled client expects
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
    _model: object = None  # the request's `model`

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, status: int, body: object) -> None:
        data = body.data if isinstance(body, _Raw) else json.dumps(body).encode()
        self.send_response(status)
        self._adapter()
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path in _endless_paths():
            self._endless(False, False)
        elif self.path == "/health":
            self._json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": _name(), "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self._model = body.get("model") if isinstance(body, dict) else None
        with _State.lock:
            _State.served += 1
            served = _State.served
        die_after = os.environ.get("UPSTREAM_DIE_AFTER")
        if die_after and served > int(die_after):
            os._exit(1)  # mid-request: the client sees its connection reset
        if isinstance(body, dict) and body.get("endless") in (True, "later"):
            self._endless(body.get("stream") is True, body["endless"] == "later")
            return
        if self.path in _endless_paths():
            self._endless(False, False)
            return
        if isinstance(body, dict) and body.get("nested") is True:
            self._json(200, _Raw(b"[" * 100_000 + b"]" * 100_000))
            return
        delay = float(os.environ.get("UPSTREAM_DELAY_S") or 0)
        if delay:
            time.sleep(delay)
        if self.path == "/v1/chat/completions":
            prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
            self._complete(body, _count(prompt), "chat.completion", delay)
        elif self.path == "/v1/completions":
            self._complete(body, _count(str(body.get("prompt", ""))), "text_completion", delay)
        elif self.path == "/v1/embeddings":
            inputs = body.get("input")
            inputs = inputs if isinstance(inputs, list) else [inputs]
            tokens = sum(_count(str(i)) for i in inputs)
            data = [
                {"object": "embedding", "index": i, "embedding": [0.5, -0.5, float(i)]}
                for i in range(len(inputs))
            ]
            usage = {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}
            self._json(200, {"object": "list", "data": data, "model": _name(), "usage": usage})
        elif self.path == "/predict":
            rows = body.get("rows", []) if isinstance(body, dict) else []
            self._json(200, {"predictions": [len(str(r)) for r in rows], "replica": _name()})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def _complete(self, body: dict[str, Any], prompt_tokens: int, kind: str, delay: float) -> None:
        words = [*WORDS, _name()]
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        chat = kind == "chat.completion"
        base = {"id": "cmpl-upstream", "created": int(time.time()), "model": body.get("model")}
        if not body.get("stream"):
            text = " ".join(words)
            choice = (
                {"index": 0, "message": {"role": "assistant", "content": text}}
                if chat
                else {"index": 0, "text": text}
            )
            choice["finish_reason"] = "stop"
            self._json(200, {**base, "object": kind, "choices": [choice], "usage": usage})
            return
        self.send_response(200)
        self._adapter()
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        chunk_kind = "chat.completion.chunk" if chat else "text_completion"
        with_usage = (body.get("stream_options") or {}).get("include_usage") is True
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            delta = {"content": piece} if chat else None
            choice = {"index": 0, "delta": delta} if chat else {"index": 0, "text": piece}
            choice["finish_reason"] = "stop" if i == len(words) - 1 else None
            event = {**base, "object": chunk_kind, "choices": [choice]}
            if with_usage:
                event["usage"] = None
            self._event(json.dumps(event))
            if delay:
                time.sleep(delay)
        if with_usage:
            self._event(json.dumps({**base, "object": chunk_kind, "choices": [], "usage": usage}))
        self._event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")

    def _endless(self, stream: bool, later: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream" if stream else "application/json")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        piece, sent = b"x" * 65536, 0
        try:
            if stream and later:
                self._chunk(b'data: {"pad": "a whole event first"}\n\n')
            self._chunk(b'data: {"pad": "' if stream else b'{"pad": "')
            while sent < ENDLESS_CAP:
                self._chunk(piece)
                sent += len(piece)
            self._chunk(b'"}\n\n' if stream else b'"}')
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client closed the connection
            pass
        print(f"endless answer ended after {sent} bytes", file=sys.stderr, flush=True)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _adapter(self) -> None:
        """For `model: "BASE:NAME"`, the header a serving replica answers with: the adapter
        it used, as the tenant the gateway named owns it (aicc/serving/adapters.py)."""
        _, colon, name = str(self._model).partition(":")
        if colon:
            self.send_header("x-aicc-adapter", f"{self.headers.get('x-aicc-tenant')}/{name}")

    def _event(self, data: str) -> None:
        payload = f"data: {data}\n\n".encode()
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()


def _endless_paths() -> list[str]:
    return (os.environ.get("UPSTREAM_ENDLESS_PATHS") or "").split(",")


def _name() -> str:
    return os.environ.get("UPSTREAM_NAME") or os.environ.get("AICC_JOB_ID", "upstream")


def command() -> list[str]:
    """A job's command that runs this program (its source inline: the sandbox has no AICC)."""
    return ["python", "-c", Path(__file__).read_text()]


def main() -> None:
    host = os.environ.get("AICC_SERVICE_HOST", "127.0.0.1")
    port = int(os.environ.get("PORT") or (sys.argv[1] if len(sys.argv) > 1 else 8000))
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
