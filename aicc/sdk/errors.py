"""The server's refusals as one exception whose `detail` people can read and act on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

_LOCATION_ROOTS = frozenset({"body", "query", "path", "header", "cookie"})


def _location(loc: Iterable[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in _LOCATION_ROOTS:
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    """Pydantic/FastAPI error items as `field.path: message` lines people can act on."""
    lines = []
    for item in errors:
        message = str(item.get("msg", "")).removeprefix("Value error, ")
        where = _location(item.get("loc") or ())
        lines.append(f"{where}: {message}" if where else message)
    return lines


def format_detail(detail: Any) -> str:
    """FastAPI's `detail` (a string, a 422 list, or anything JSON) as one readable line."""
    if detail is None:
        return ""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and all(isinstance(item, Mapping) for item in detail):
        return "; ".join(describe_errors(detail))
    if isinstance(detail, Mapping) and "msg" in detail:
        return describe_errors([detail])[0]
    return json.dumps(detail, ensure_ascii=False)


class ApiError(Exception):
    """The server answered 400 or more. `detail` is readable; `body` is what it sent."""

    def __init__(self, status_code: int, detail: str, body: Any = None) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.body = body

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        raw = body.get("detail", body) if isinstance(body, Mapping) else body
        detail = format_detail(raw) if raw not in ("", None) else ""
        return cls(response.status_code, detail or response.reason_phrase or "error", body)
