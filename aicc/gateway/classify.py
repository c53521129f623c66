"""Content safety's classifier (docs/gateway.md, "Content safety"): the texts a policy checks
sent to the classifier deployment it names, as OpenAI's `POST /v1/moderations`, through the
gateway's own routing (least loaded ready replica, its token, the pooled clients, another
replica when one refuses the connection), its answer read within `gateway.max_answer_bytes`
(`bounded.py`: past it, the classifier did not answer). The model reads tenant text in its replica's
sandbox, as any model does; the server only reads the scores back (`core/safety.flagged`).

Not a tenant's request: nothing is metered or logged for it; it counts in flight for the
classifier's deployment, so its autoscaler sizes it by the policy's demand (a classifier
scaled to zero is not waited for: give it `min_replicas` 1 or more). A classifier that does not
answer within `timeout_s` (no ready replica, a refused connection, an error, a slow answer)
is the policy's `on_error`: closed, the checked request gets a 503 `content_filter_unavailable`
(`Unavailable`); open, the text goes on unchecked (logged)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from fastapi.responses import JSONResponse

from aicc.config import GatewaySettings
from aicc.core.safety import Classifier, Hit, flagged
from aicc.gateway import bounded
from aicc.gateway.cache import StoreCache
from aicc.gateway.errors import error
from aicc.gateway.pool import Pool
from aicc.services.jobs import endpoints
from aicc.services.serving import gateway as gw
from aicc.services.serving.autoscaling import Concurrency

log = logging.getLogger("aicc.gateway")


class Gateway(Protocol):
    """What of the gateway's state (`state.Gateway`, which holds the safety module that asks
    this one) a classifier's request goes through."""

    settings: GatewaySettings
    classifiers: StoreCache[gw.Target | None]
    concurrency: Concurrency
    outstanding: dict[str, int]
    pool: Pool

    def pick(
        self, target: gw.Target, tried: set[str], holders: frozenset[str] = ...
    ) -> tuple[str, str] | None: ...

    def release(self, url: str) -> None: ...

    def refuse(self, url: str) -> None: ...


class Unavailable(Exception):
    """The classifier gave no scores in time and the policy fails closed."""


async def verdict(gateway: Gateway, classifier: Classifier, texts: Sequence[str]) -> Hit | None:
    """The first text the classifier flags, as a blocking hit; None when none is flagged (or
    the classifier is away and the policy fails open). Raises `Unavailable` otherwise."""
    texts = [t for t in texts if t]
    if not texts:
        return None
    try:
        found = await asyncio.wait_for(_scores(gateway, classifier, texts), classifier.timeout_s)
    except Exception as e:  # a timeout, no replica, a refused connection, a bad answer
        if classifier.fail_open:
            log.warning("gateway: classifier %s away (%s): text let through", classifier, e)
            return None
        raise Unavailable(str(e) or type(e).__name__) from None
    for text, scores in zip(texts, found, strict=True):
        hit = flagged(classifier, scores, text)
        if hit is not None:
            return hit
    return None


async def _scores(
    gateway: Gateway, classifier: Classifier, texts: list[str]
) -> list[dict[str, float]]:
    target = await gateway.classifiers.get(classifier.deployment)
    if target is None:
        raise LookupError(f"no deployment {classifier.deployment}")
    body = json.dumps({"model": target.name, "input": texts}).encode()
    gateway.concurrency.begin(target.deployment_id)  # the autoscaler sizes it by its demand
    try:
        return await _send(gateway, target, body, len(texts))
    finally:
        gateway.concurrency.end(target.deployment_id)


async def _send(
    gateway: Gateway, target: gw.Target, body: bytes, count: int
) -> list[dict[str, float]]:
    tried: set[str] = set()
    for _ in range(gateway.settings.max_attempts):
        choice = gateway.pick(target, tried)
        if choice is None:
            break
        _, url = choice
        tried.add(url)
        gateway.outstanding[url] = gateway.outstanding.get(url, 0) + 1
        base = "http://localhost" if url.startswith("/") else url
        headers = {"content-type": "application/json", **endpoints.headers(target.tokens.get(url))}
        try:
            async with gateway.pool.client(url).post(
                base + "/v1/moderations", data=body, headers=headers, allow_redirects=False
            ) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"the classifier answered {answer.status}")
                limit = gateway.settings.max_answer_bytes
                return _read(await bounded.read_json(answer, limit), count)
        except OSError:  # refused: the next replica (a timeout is the caller's)
            gateway.refuse(url)
        finally:
            gateway.release(url)
    raise LookupError(f"no ready replica of classifier deployment `{target.name}`")


def _read(answer: Any, count: int) -> list[dict[str, float]]:
    """OpenAI's moderation answer: `results[i].category_scores`, one per text."""
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list) or len(results) != count:
        raise ValueError("the classifier's answer has no result per text")
    out = []
    for result in results:
        scores = result.get("category_scores") if isinstance(result, dict) else None
        if not isinstance(scores, dict):
            raise ValueError("a result of the classifier has no category_scores")
        out.append({str(k): float(v) for k, v in scores.items() if isinstance(v, int | float)})
    return out


def unavailable(request_id: str) -> JSONResponse:
    """A checked request refused because the classifier did not answer (fail closed)."""
    return error(
        503,
        "this service's content classifier did not answer, so the text could not be checked; "
        "retry shortly",
        "server_error",
        "content_filter_unavailable",
        headers={"Retry-After": "5", "x-request-id": request_id},
    )
