"""The OpenAI API's shapes: requests read and checked field by field (a bad one is a 400
naming the field, as OpenAI answers it), and the answers and stream chunks built. No model
here: `text.py` generates, `app.py` routes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

MAX_STOPS = 4
MAX_INPUTS = 2048  # texts per embeddings request, as OpenAI allows
ROLES = ("system", "developer", "user", "assistant", "tool")


class ApiError(Exception):
    """An answer in OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = "invalid_value",
        status: int = 400,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code
        self.status, self.kind = status, kind

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.kind, "param": self.param}
        return {"error": {**error, "code": self.code}}


@dataclass(frozen=True)
class Sampling:
    """How to pick tokens and when to stop. `max_tokens` None: until the context is full."""

    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False  # vLLM's extension: generate `max_tokens` whatever comes


@dataclass(frozen=True)
class Request:
    """A completion request, checked: the served model's name, sampling and streaming."""

    sampling: Sampling
    stream: bool
    include_usage: bool


@dataclass(frozen=True)
class Message:
    role: str
    content: str


def _int(body: dict[str, Any], name: str, low: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(f"{name} must be an integer", param=name)
    if low is not None and value < low:
        raise ApiError(f"{name} must be at least {low}", param=name)
    return value


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(f"{name} must be a number", param=name)
    if not low <= value <= high:
        raise ApiError(f"{name} must be from {low:g} to {high:g}", param=name)
    return float(value)


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(f"{name} must be true or false", param=name)
    return value


def _stops(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise ApiError("stop must be a string or a list of strings", param="stop")
    if len(stops) > MAX_STOPS:
        raise ApiError(f"stop takes at most {MAX_STOPS} strings", param="stop")
    return tuple(s for s in stops if s)


def request(body: dict[str, Any], served: str) -> Request:
    """The fields every completion shares, checked. Only `n` = 1 is served: one request per
    completion keeps a replica's queue (and the gateway's metering) one answer per request."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError("model is required: the name this server serves", param="model")
    if model.partition(":")[0] != served:  # `SERVED:ADAPTER`: app.py finds the adapter
        raise ApiError(
            f"the model {model!r} does not exist here; this server serves {served!r} "
            f"(and its adapters as {served}:ADAPTER)",
            param="model",
            code="model_not_found",
        )
    if _int(body, "n", 1) not in (None, 1):
        raise ApiError("n must be 1: send one request per completion", param="n")
    for name in ("logprobs", "top_logprobs", "echo", "tools", "suffix"):
        if body.get(name) not in (None, False, [], 0, ""):
            raise ApiError(f"{name} is not supported by this server", param=name)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError("stream_options must be an object", param="stream_options")
    stream = _bool(body, "stream")
    include_usage = _bool(options or {}, "include_usage")
    if include_usage and not stream:
        raise ApiError("stream_options is only allowed with stream: true", param="stream_options")
    # Chat clients now send max_completion_tokens; max_tokens is its older name.
    limit = _int(body, "max_completion_tokens", 1) or _int(body, "max_tokens", 1)
    sampling = Sampling(
        max_tokens=limit,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0),
        seed=_int(body, "seed"),
        stop=_stops(body.get("stop")),
        ignore_eos=_bool(body, "ignore_eos"),
    )
    if sampling.top_p == 0:
        raise ApiError("top_p must be above 0", param="top_p")
    return Request(sampling, stream, include_usage)


def messages(body: dict[str, Any]) -> list[Message]:
    """The chat's messages: a role and text each (text parts of a content list are joined)."""
    given = body.get("messages")
    if not isinstance(given, list) or not given:
        raise ApiError("messages must be a non-empty list", param="messages")
    out = []
    for i, message in enumerate(given):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise ApiError(f"{where} must be an object with role and content", param=where)
        role = message.get("role")
        if role not in ROLES:
            raise ApiError(f"{where}.role must be one of {', '.join(ROLES)}", param=f"{where}.role")
        out.append(Message(role, _content(message.get("content"), f"{where}.content")))
    return out


def _content(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise ApiError(f"{where}: only text parts are supported", param=where)
            if not isinstance(part.get("text"), str):
                raise ApiError(f"{where}: a text part needs text", param=where)
            parts.append(part["text"])
        return "".join(parts)
    raise ApiError(f"{where} must be a string or a list of text parts", param=where)


def prompt(body: dict[str, Any]) -> str:
    """A completion's prompt: a string, or a list of one string."""
    value = body.get("prompt")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        raise ApiError("prompt must be a string (one prompt per request)", param="prompt")
    return value


def inputs(body: dict[str, Any], served: str) -> tuple[list[str], str]:
    """An embeddings request's texts and encoding (`float` or `base64`)."""
    request({"model": body.get("model")}, served)
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise ApiError("input must be a string or a non-empty list of strings", param="input")
    if not all(texts):
        raise ApiError("input must not hold an empty string", param="input")
    if len(texts) > MAX_INPUTS:
        raise ApiError(f"input takes at most {MAX_INPUTS} texts, not {len(texts)}", param="input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise ApiError("encoding_format must be float or base64", param="encoding_format")
    return texts, encoding


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


@dataclass(frozen=True)
class Answer:
    """How one answer (or its stream) is labelled: its id, time and kind."""

    model: str
    chat: bool
    id: str = ""
    created: int = 0

    @classmethod
    def new(cls, model: str, chat: bool) -> Answer:
        prefix = "chatcmpl" if chat else "cmpl"
        return cls(model, chat, f"{prefix}-{uuid.uuid4().hex}", int(time.time()))

    def _head(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def whole(self, text: str, finish: str, used: dict[str, int]) -> dict[str, Any]:
        """The non-streaming answer."""
        if self.chat:
            choice: dict[str, Any] = {"message": {"role": "assistant", "content": text}}
        else:
            choice = {"text": text}
        choice = {"index": 0, **choice, "logprobs": None, "finish_reason": finish}
        obj = "chat.completion" if self.chat else "text_completion"
        return {**self._head(obj), "choices": [choice], "usage": used}

    def chunk(
        self, text: str | None, finish: str | None = None, *, role: bool = False
    ) -> dict[str, Any]:
        """One stream chunk: new text, or (text None) the last one with its finish reason."""
        if self.chat:
            delta: dict[str, Any] = {"role": "assistant"} if role else {}
            if text is not None:
                delta["content"] = text
            choice: dict[str, Any] = {"delta": delta}
        else:
            choice = {"text": text or ""}
        choice = {"index": 0, **choice, "logprobs": None, "finish_reason": finish}
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        return {**self._head(obj), "choices": [choice]}

    def usage_chunk(self, used: dict[str, int]) -> dict[str, Any]:
        """The last chunk when `stream_options.include_usage`: no choices, the usage."""
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        return {**self._head(obj), "choices": [], "usage": used}
