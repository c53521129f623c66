"""Content safety for public APIs (docs/gateway.md, "Content safety"): the center's policy
(`gateway.safety`) and a deployment's (`gateway.safety.deployments`) checked against each prompt
before it reaches a replica and each completion before it reaches the client, a stream's event
by event (`StreamGuard`). A blocking rule's match is a 400 in OpenAI's shape with code
`content_filter` (a stream ends with `finish_reason: "content_filter"` and `[DONE]`); a masking
rule's is starred out. Each is counted for `/metrics` and recorded (`services/serving/safety.py`),
the text only where the policy says `store_text`. The matching itself is `core/safety.py`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.responses import JSONResponse
from prometheus_client import Counter

from aicc.config import SafetyPolicySettings, SafetySettings
from aicc.core.safety import Classifier, Hit, Policy, Rule, StreamCheck
from aicc.gateway import classify
from aicc.gateway.errors import error
from aicc.services.common import utcnow
from aicc.services.serving import gateway as gw
from aicc.services.serving import safety as events
from aicc.store.db import Database

log = logging.getLogger("aicc.gateway")

# A text inside a request or an answer, and how to put a masked one back.
Slot = tuple[str, Callable[[str], None]]


def policy_of(center: SafetySettings, deployment: SafetyPolicySettings | None) -> Policy | None:
    """The policy a deployment is held to: the center's, with the deployment's rules added (or
    in their place, `replace`) and its own switches over the center's. None: nothing to check."""
    own = deployment or SafetyPolicySettings()
    enabled = own.enabled if own.enabled is not None else bool(center.enabled)
    if not enabled:
        return None
    rules = [*([] if own.replace else center.rules), *own.rules]

    def pick(name: str, default: Any) -> Any:
        mine = getattr(own, name)
        theirs = getattr(center, name)
        return mine if mine is not None else theirs if theirs is not None else default

    asks = own.classifier or center.classifier
    classifier = None
    if asks is not None:
        classifier = Classifier(
            asks.deployment,
            threshold=asks.threshold,
            labels=tuple(asks.labels),
            fail_open=asks.on_error == "open",
            timeout_s=asks.timeout_s,
            every_chars=asks.stream_every_chars,
        )
    found = Policy(
        [Rule(r.name, tuple(r.words), tuple(r.patterns), r.action) for r in rules],
        prompts=pick("prompts", True),
        completions=pick("completions", True),
        store_text=pick("store_text", False),
        window=pick("window_chars", 64),
        classifier=classifier,
    )
    return found if found.active else None


class Safety:
    """The policies by deployment id (built once each), the counter and the record."""

    def __init__(self, settings: SafetySettings, db: Database, registry: Any) -> None:
        self.settings, self.db = settings, db
        self._policies: dict[str, Policy | None] = {}
        self.counted = Counter(
            "aicc_gateway_safety_events",
            "Prompts and completions content safety blocked or masked.",
            ["project", "deployment", "stage", "action"],
            registry=registry,
        )

    def reload(self, settings: SafetySettings) -> None:
        """New settings (a test's, an operator's reload): policies are built again."""
        self.settings = settings
        self._policies.clear()

    def policy(self, deployment_id: str) -> Policy | None:
        if deployment_id not in self._policies:
            own = self.settings.deployments.get(deployment_id)
            self._policies[deployment_id] = policy_of(self.settings, own)
        return self._policies[deployment_id]

    async def note(
        self,
        policy: Policy,
        grant: gw.Grant,
        target: gw.Target,
        request_id: str,
        stage: str,
        hits: list[Hit],
        text: str,
    ) -> None:
        """Count and record what was found (committed before the answer goes on; a store that
        does not answer loses the record, logged, and changes nothing of the answer)."""
        if not hits:
            return
        for hit in hits:
            where = (grant.project_id, target.name, stage, hit.action)
            self.counted.labels(*where).inc()
        now = utcnow()
        found = [
            events.Event(
                org_id=grant.org_id,
                project_id=grant.project_id,
                deployment_id=target.deployment_id,
                key_id=grant.key_id,
                request_id=request_id,
                stage=stage,
                rule=hit.rule[:64],
                action=hit.action,
                text=text if policy.store_text else None,
                at=now,
            )
            for hit in hits
        ]
        try:
            await asyncio.to_thread(events.record, self.db, found)
        except Exception:  # the store away: the check still holds, the record is lost
            log.exception("gateway: content safety's record not written")


def refusal(stage: str, hit: Hit, request_id: str) -> JSONResponse:
    """A blocked prompt or answer, as OpenAI's clients expect a content filter's refusal."""
    what = "prompt" if stage == "prompt" else "answer"
    return error(
        400,
        f"the {what} was refused by this service's content policy (rule `{hit.rule}`)",
        "invalid_request_error",
        "content_filter",
        "messages" if stage == "prompt" else None,
        headers={"x-request-id": request_id},
    )


def prompt_slots(route: str, payload: Any) -> Iterator[Slot]:
    """The texts of a request a policy reads: chat messages (plain or as text parts), a
    completion's prompt(s), an embedding's input(s)."""
    if not isinstance(payload, dict):
        return
    route = route.removeprefix("batch:")  # a batch's line is checked as the request it is
    if route == "chat":
        for message in payload.get("messages") or []:
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            if isinstance(content, str):
                yield content, _setter(message, "content")
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        yield part["text"], _setter(part, "text")
    elif route in ("completions", "embeddings"):
        field = "prompt" if route == "completions" else "input"
        value = payload.get(field)
        if isinstance(value, str):
            yield value, _setter(payload, field)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield item, _setter(value, i)


def answer_slots(answer: Any) -> Iterator[Slot]:
    """The texts of an answer or of a stream's chunk: each choice's message, delta or text."""
    choices = answer.get("choices") if isinstance(answer, dict) else None
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, dict):
            continue
        for holder in (choice.get("message"), choice.get("delta"), choice):
            if isinstance(holder, dict):
                key = "text" if holder is choice else "content"
                if isinstance(holder.get(key), str):
                    yield holder[key], _setter(holder, key)
                    break


def _setter(holder: Any, key: Any) -> Callable[[str], None]:
    def put(value: str) -> None:
        holder[key] = value

    return put


def check(policy: Policy, slots: Iterator[Slot]) -> tuple[Hit | None, list[Hit], str]:
    """A blocking hit (first found), else the masking hits with their texts masked in place;
    and the texts that matched, joined (for a policy that stores them)."""
    masked: list[Hit] = []
    matched: list[str] = []
    for text, put in list(slots):
        hit = policy.find(text)
        if hit is None:
            continue
        matched.append(text)
        if hit.action == "block":
            return hit, [], text
        new, hits = policy.mask(text)
        put(new)
        masked += hits
    return None, masked, "\n".join(matched)


class StreamGuard:
    """A stream's completion checked as it comes: a window per choice (`core/safety.py`'s
    `StreamCheck`). `event` returns the event to pass on (masked where needed) or, on a block,
    the closing events: a chunk whose `finish_reason` is `content_filter`, then `[DONE]`."""

    def __init__(
        self,
        safety: Safety,
        policy: Policy,
        grant: gw.Grant,
        target: gw.Target,
        request_id: str,
        gateway: classify.Gateway | None = None,
    ) -> None:
        self.safety, self.policy, self.grant, self.target = safety, policy, grant, target
        self.request_id, self.gateway = request_id, gateway
        self.checks: dict[int, StreamCheck] = {}
        self.sent: dict[int, list[str]] = {}  # per choice, for a policy that stores the text
        # with a classifier (and the gateway to reach it): each choice's text so far, and
        # how much of it the classifier has read
        self.said: dict[int, str] = {}
        self.classified: dict[int, int] = {}
        self.last: dict[str, Any] = {}  # the chunk the closing one copies, at `[DONE]`

    async def event(self, event: bytes, data: bytes) -> tuple[bytes, bool]:
        """(what to send, whether the stream ends here)."""
        if data == b"[DONE]" and self.said:  # the classifier reads what it has not yet
            closing = await self._classify(self.last, final=True)
            return (closing, True) if closing is not None else (event, False)
        if not data or data == b"[DONE]" or b'"choices"' not in data:
            return event, False
        try:
            chunk = json.loads(data)
        except ValueError:
            return event, False
        changed, masked, texts = False, list[Hit](), list[str]()
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        for choice in choices if isinstance(choices, list) else []:
            index = choice.get("index", 0) if isinstance(choice, dict) else 0
            index = index if isinstance(index, int) else 0
            for text, put in answer_slots({"choices": [choice]}):
                check = self.checks.setdefault(index, StreamCheck(self.policy))
                piece, stop, hits = check.feed(text)
                if self.policy.store_text:
                    self.sent.setdefault(index, []).append(text)
                if stop is not None:
                    said = "".join(self.sent.get(index, [])) if self.policy.store_text else ""
                    await self.safety.note(
                        self.policy, self.grant, self.target, self.request_id,
                        "completion", [stop], said,
                    )  # fmt: skip
                    return _closing(chunk, index), True
                if hits:
                    put(piece)
                    changed = True
                    masked += hits
                    texts.append(text)
                if self.policy.classifier is not None and self.gateway is not None:
                    self.said[index] = self.said.get(index, "") + piece
        if masked:
            said = "".join(texts) if self.policy.store_text else ""
            await self.safety.note(
                self.policy, self.grant, self.target, self.request_id, "completion", masked, said
            )
        if self.said:
            self.last = chunk
            closing = await self._classify(chunk, final=False)
            if closing is not None:
                return closing, True
        if not changed:
            return event, False
        return b"data: " + json.dumps(chunk).encode() + b"\n\n", False

    async def _classify(self, chunk: dict[str, Any], *, final: bool) -> bytes | None:
        """Each choice's text so far to the classifier, once `every_chars` more came since it
        last read it (`final`: whatever it has not read): the closing events if it flags one,
        or if it is away and the policy fails closed (what was sent cannot be taken back)."""
        classifier, gateway = self.policy.classifier, self.gateway
        assert classifier is not None and gateway is not None
        for index, text in self.said.items():
            read = self.classified.get(index, 0)
            if len(text) == read or (not final and len(text) - read < classifier.every_chars):
                continue
            self.classified[index] = len(text)
            try:
                hit = await classify.verdict(gateway, classifier, [text])
            except classify.Unavailable as e:
                log.warning("gateway: %s cut, the classifier is away: %s", self.request_id, e)
                return _closing(chunk, index)
            if hit is not None:
                stored = text if self.policy.store_text else ""
                await self.safety.note(
                    self.policy, self.grant, self.target, self.request_id,
                    "completion", [hit], stored,
                )  # fmt: skip
                return _closing(chunk, index)
        return None


def _closing(chunk: dict[str, Any], index: int) -> bytes:
    """The last chunk of a stream cut by the content filter, then the stream's end."""
    chat = chunk.get("object") == "chat.completion.chunk"
    choice: dict[str, Any] = {"index": index, "finish_reason": "content_filter"}
    if chat:
        choice["delta"] = dict[str, Any]()
    else:
        choice["text"] = ""
    last: dict[str, Any] = {k: chunk[k] for k in ("id", "object", "created", "model") if k in chunk}
    last["choices"] = [choice]
    return b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n"
