"""Usage as a replica reports it, read for metering: the `usage` object of an answer or of a
stream's last chunk (`prompt_tokens`, `completion_tokens`). What a replica says is not trusted:
anything but a plain object is no usage, and a count that is not a small non-negative integer
counts 0."""

from __future__ import annotations

import json
from typing import Any


def usage(content: bytes) -> dict[str, Any] | None:
    """The `usage` object of a JSON answer (or of one event's data), if it has one."""
    try:
        answer = json.loads(content)
    except (ValueError, RecursionError):  # not JSON, or nested past what the parser takes
        return None
    found = answer.get("usage") if isinstance(answer, dict) else None
    return found if isinstance(found, dict) else None


def has_usage(data: bytes) -> bool:
    """A chunk with a usage object (most chunks say `"usage": null`, or nothing), found without
    parsing the chunk."""
    at = data.find(b'"usage"')
    return at >= 0 and data[at + 7 : at + 16].lstrip(b": ")[:4] not in (b"null", b"")


def tokens(value: object) -> int:
    """A token count as the request log keeps it."""
    return value if isinstance(value, int) and 0 <= value < 2**31 else 0
