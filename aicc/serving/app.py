"""The HTTP face of a replica (Starlette): `/health`, `/metrics`, `/v1/models`, and either the
text routes (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`), `/v1/moderations`
(a sequence classifier: `classifier.py`) or `/predict`.

The model loads in a thread after the server starts, so `/health` says 503 while it loads and
200 once it is ready (the deployment's readiness check). Work on the model runs off the event
loop on one thread, one request at a time per replica (a fair lock: the others wait in order);
a generation goes one token per call, so a client that leaves stops it at the next token."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from . import adapters, classifier, protocol
from .classifier import ClassifierModel
from .protocol import Answer, ApiError
from .tables import TableModel, rows
from .text import COMPLETION_DEFAULT_MAX_TOKENS, Adapter, Generation, TextModel

Engine = TextModel | TableModel | ClassifierModel
T = TypeVar("T")
METRICS = (  # /metrics, each `aicc_serving_<name>`: counters end in _total, the rest are gauges
    "requests_total",
    "prompt_tokens_total",
    "generation_tokens_total",
    "requests_running",  # on the model now (0 or 1)
    "requests_waiting",  # queued behind it: the replica's concurrency is running + waiting
)
DISCONNECT_CHECK_EVERY = 8  # tokens between checks that a non-streaming client is still there


@dataclass
class State:
    """What one replica holds: its name, the model once loaded, and counters for /metrics."""

    name: str
    loader: Callable[[], Engine]
    on_failure: Callable[[], None] = lambda: None
    engine: Engine | None = None
    failed: str | None = None
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    started: int = field(default_factory=lambda: int(time.time()))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    # One thread does all the model's work: torch keeps its thread pools per calling thread,
    # and a pool of threads taking turns would each start its own.
    worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="model")
    )
    adapters_root: Path | None = None  # adapters as OWNER/NAME under it (adapters.py)
    uploads: bool = False  # the gateway may hand adapters in (`PUT /aicc/adapters/...`)
    # per (tenant, adapter key): [requests, prompt tokens, completion tokens], for /metrics
    by_adapter: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def load(self) -> None:
        """Load the model (in a thread); a model that cannot load stops the server."""
        try:
            self.engine = self.loader()
            print(f"aicc.serving: {self.name} is ready", file=sys.stderr, flush=True)
        except Exception as e:
            traceback.print_exc()
            self.failed = f"{type(e).__name__}: {e}"
            print(f"aicc.serving: cannot load the model: {self.failed}", file=sys.stderr)
            self.on_failure()

    def ready(self, kind: type[Engine]) -> Any:
        if self.engine is None:
            raise ApiError(
                "the model is still loading", code="loading", status=503, kind="server_error"
            )
        if not isinstance(self.engine, kind):
            other = (
                "/predict"
                if isinstance(self.engine, TableModel)
                else "/v1/moderations"
                if isinstance(self.engine, ClassifierModel)
                else "/v1/chat/completions"
            )
            raise ApiError(
                f"this model does not serve this route; it answers {other}",
                code="not_found",
                status=404,
            )
        return self.engine

    async def work(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the model's thread. A caller already cancelled (its client gone)
        stops here; one cancelled meanwhile still waits for `fn` to end, so that nothing else
        touches the model before it has."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        future = asyncio.get_running_loop().run_in_executor(self.worker, fn, *args)
        with anyio.CancelScope(shield=True):
            done = await future
        return done

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """One request at a time on the model; the others wait in order."""
        self.counts["requests_waiting"] += 1
        try:
            await self.lock.acquire()
        finally:
            self.counts["requests_waiting"] -= 1
        self.counts["requests_running"] += 1
        self.counts["requests_total"] += 1
        try:
            yield
        finally:
            self.counts["requests_running"] -= 1
            self.lock.release()


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError("the body must be a JSON object", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError("the body must be a JSON object", code="invalid_json")
    return body


def _sse(doc: dict[str, Any] | str) -> bytes:
    data = doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def create(state: State) -> Starlette:
    """The application over `state`; the model loads when the server starts."""
    routes = _Routes(state)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=state.load, name="load-model", daemon=True).start()
        yield

    return Starlette(
        routes=[
            Route("/health", routes.health),
            Route("/metrics", routes.metrics),
            Route("/v1/models", routes.models),
            Route("/v1/chat/completions", routes.chat, methods=["POST"]),
            Route("/v1/completions", routes.completions, methods=["POST"]),
            Route("/v1/embeddings", routes.embeddings, methods=["POST"]),
            Route("/v1/moderations", routes.moderations, methods=["POST"]),
            Route("/predict", routes.predict, methods=["POST"]),
            Route("/aicc/adapters/{owner}/{name}", routes.adapter_put, methods=["PUT"]),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _crash},
        lifespan=lifespan,
    )


@dataclass(frozen=True)
class _Routes:
    """The endpoints over one replica's `State`, one method each (the method's name is the
    route's name)."""

    state: State

    async def health(self, request: Request) -> Response:
        state = self.state
        if state.engine is None:
            return JSONResponse({"status": "failed" if state.failed else "loading"}, 503)
        held = state.engine.adapters if isinstance(state.engine, TextModel) else None
        loaded = {"adapters": list(held.held)} if held is not None else {}
        return JSONResponse({"status": "ready", "model": state.name, **loaded})

    async def metrics(self, request: Request) -> Response:
        lines = []
        for name, value in self.state.counts.items():
            kind = "counter" if name.endswith("_total") else "gauge"
            lines += [f"# TYPE aicc_serving_{name} {kind}", f"aicc_serving_{name} {value}"]
        lines += _adapter_lines(self.state)
        return PlainTextResponse("\n".join(lines) + "\n")

    async def models(self, request: Request) -> Response:
        state = self.state
        card = {"id": state.name, "object": "model", "created": state.started, "owned_by": "aicc"}
        return JSONResponse({"object": "list", "data": [card]})

    async def chat(self, request: Request) -> Response:
        return await self._complete(request, chat=True)

    async def completions(self, request: Request) -> Response:
        return await self._complete(request, chat=False)

    async def _complete(self, request: Request, *, chat: bool) -> Response:
        state = self.state
        model: TextModel = state.ready(TextModel)
        body = await _json_body(request)
        asked = protocol.request(body, state.name)
        given = protocol.messages(body) if chat else protocol.prompt(body)
        adapter = self._adapter(request, model, str(body["model"]))

        def tokenize() -> tuple[list[int], int]:
            if isinstance(given, list):
                ids = model.chat_ids(given)
                return ids, model.budget(ids, asked.sampling, None, "messages")
            ids = model.encode(given)
            return ids, model.budget(ids, asked.sampling, COMPLETION_DEFAULT_MAX_TOKENS, "prompt")

        # On the model's thread: a long prompt's tokenizing is CPU work that would stall the
        # event loop (health checks, other streams), and the tokenizer is only used there.
        prompt, limit = await state.work(tokenize)
        answer = Answer.new(str(body["model"]), chat)
        tenant = _tenant(request)
        if asked.stream:
            return StreamingResponse(
                self._stream(model, prompt, asked, limit, answer, adapter, tenant),
                media_type="text/event-stream",
                headers={
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                    **_told(model, adapter),
                },
            )
        async with state.turn():
            run = Generation(model, prompt, asked.sampling, limit, adapter)
            try:
                steps = 0
                while run.finish is None:
                    await state.work(run.step)
                    steps += 1
                    if steps % DISCONNECT_CHECK_EVERY == 0 and await request.is_disconnected():
                        break
            finally:
                run.close()
                self._count(run, adapter, tenant)
        used = protocol.usage(run.prompt_tokens, run.completion_tokens)
        whole = answer.whole(run.text, run.finish or "stop", used)
        return JSONResponse(whole, headers=_told(model, adapter))

    def _adapter(self, request: Request, model: TextModel, asked: str) -> Adapter | None:
        """The adapter `BASE:NAME` names, as the caller's tenant may see it (else a 404)."""
        _, name = adapters.split(asked)
        if name is None:
            return None
        root = self.state.adapters_root if model.adapters is not None else None
        return adapters.locate(root, _tenant(request), name, asked)

    async def _stream(
        self,
        model: TextModel,
        prompt: list[int],
        asked: protocol.Request,
        limit: int,
        answer: Answer,
        adapter: Adapter | None,
        tenant: str,
    ) -> AsyncIterator[bytes]:
        # Starlette cancels this generator when the client disconnects: the `finally` closes
        # the generation, so no token is computed for nobody.
        state = self.state
        async with state.turn():
            run = Generation(model, prompt, asked.sampling, limit, adapter)
            try:
                if answer.chat:
                    yield _sse(answer.chunk("", role=True))
                while run.finish is None:
                    text = await state.work(run.step)
                    if text:
                        yield _sse(answer.chunk(text))
            finally:
                run.close()
                self._count(run, adapter, tenant)
        yield _sse(answer.chunk(None, run.finish))
        if asked.include_usage:
            yield _sse(answer.usage_chunk(protocol.usage(run.prompt_tokens, run.completion_tokens)))
        yield _sse("[DONE]")

    def _count(self, run: Generation, adapter: Adapter | None = None, tenant: str = "") -> None:
        self.state.counts["prompt_tokens_total"] += run.prompt_tokens
        self.state.counts["generation_tokens_total"] += run.completion_tokens
        if adapter is not None:
            self._count_adapter(adapter, tenant, run.prompt_tokens, run.completion_tokens)

    def _count_adapter(self, adapter: Adapter, tenant: str, prompt: int, completion: int) -> None:
        counts = self.state.by_adapter.setdefault((tenant, adapter[0]), [0, 0, 0])
        counts[0] += 1
        counts[1] += prompt
        counts[2] += completion

    async def embeddings(self, request: Request) -> Response:
        state = self.state
        model: TextModel = state.ready(TextModel)
        body = await _json_body(request)
        texts, encoding = protocol.inputs(body, state.name)
        adapter = self._adapter(request, model, str(body["model"]))
        async with state.turn():
            done = [await state.work(model.embed, text, adapter) for text in texts]
        tokens = sum(n for _, n in done)
        state.counts["prompt_tokens_total"] += tokens
        if adapter is not None:
            self._count_adapter(adapter, _tenant(request), tokens, 0)
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(vector, encoding)}
            for i, (vector, _) in enumerate(done)
        ]
        used = protocol.usage(tokens, 0)
        found = {"object": "list", "data": data, "model": body["model"], "usage": used}
        return JSONResponse(found, headers=_told(model, adapter))

    async def moderations(self, request: Request) -> Response:
        """OpenAI's moderation answer from a sequence classifier: each text's scores."""
        state = self.state
        model: ClassifierModel = state.ready(ClassifierModel)
        texts = classifier.texts(await _json_body(request), state.name)
        async with state.turn():
            done = [await state.work(model.scores, text) for text in texts]
        state.counts["prompt_tokens_total"] += sum(n for _, n in done)
        return JSONResponse(classifier.answer(state.name, [scores for scores, _ in done]))

    async def adapter_put(self, request: Request) -> Response:
        """An adapter the gateway hands in (a tar of its files), as OWNER/NAME at a version;
        the same version again is a no-op. It waits for the request on the model to end,
        and one loaded under that key is dropped, so the next request loads the new files."""
        state = self.state
        model: TextModel = state.ready(TextModel)
        root, held = state.adapters_root, model.adapters
        if not state.uploads or root is None or held is None:
            raise ApiError("this replica takes no adapters", code="not_found", status=404)
        owner, name = request.path_params["owner"], request.path_params["name"]
        version = request.headers.get(adapters.VERSION_HEADER, "")
        if adapters.installed(root, owner, name) != version:
            body = await request.body()

            def put() -> None:
                held.drop(adapters.install(root, owner, name, version, body))

            async with state.lock:  # between two requests: none is using the adapter
                await state.work(put)
        return JSONResponse({"adapter": f"{owner}/{name}", "version": version})

    async def predict(self, request: Request) -> Response:
        state = self.state
        model: TableModel = state.ready(TableModel)
        given = rows(await _json_body(request))
        async with state.turn():
            predictions = await state.work(model.predict, given)
        return JSONResponse({"predictions": predictions, "model": state.name})


def _tenant(request: Request) -> str:
    """The caller's tenant as the gateway names it ("" when none, or not a plain name)."""
    tenant = request.headers.get(adapters.TENANT_HEADER, "")
    return tenant if adapters.NAME.fullmatch(tenant) else ""


def _told(model: TextModel, adapter: Adapter | None) -> dict[str, str]:
    """The routing headers of an answer (adapters.py): the adapter it used and what was
    evicted since the last answer told."""
    if model.adapters is None:
        return {}
    told = {adapters.ADAPTER_HEADER: adapter[0]} if adapter else {}
    evicted = model.adapters.report()
    return {**told, adapters.EVICTED_HEADER: evicted} if evicted else told


def _adapter_lines(state: State) -> list[str]:
    """/metrics of the adapters: the cache, and requests and tokens per tenant and adapter."""
    held = state.engine.adapters if isinstance(state.engine, TextModel) else None
    if held is None:
        return []
    lines = []
    for name, value, kind in (
        ("adapters_loaded", len(held.held), "gauge"),
        ("adapter_bytes", held.used, "gauge"),
        ("adapter_loads_total", held.loads, "counter"),
        ("adapter_evictions_total", held.evictions, "counter"),
    ):
        lines += [f"# TYPE aicc_serving_{name} {kind}", f"aicc_serving_{name} {value}"]
    names = ("requests", "prompt_tokens", "completion_tokens")
    for i, name in enumerate(names):
        lines.append(f"# TYPE aicc_serving_adapter_{name}_total counter")
        for (tenant, key), counts in sorted(state.by_adapter.items()):
            where = f'tenant="{tenant}",adapter="{key}"'
            lines.append(f"aicc_serving_adapter_{name}_total{{{where}}} {counts[i]}")
    return lines


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = ApiError(str(exc.detail), code="not_found" if exc.status_code == 404 else None)
    return JSONResponse(error.body(), exc.status_code)


async def _crash(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception after this answer; the client gets OpenAI's shape.
    error = ApiError(f"{type(exc).__name__}: {exc}", code="internal_error", kind="server_error")
    return JSONResponse(error.body(), 500)


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    """`base64`: the little-endian float32 bytes, as the openai client asks by default."""
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector
