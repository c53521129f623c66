"""The guard on raw job-spec input before any field reads it: NaN or infinity, a lone surrogate
or a NUL character, nesting too deep, or a spec too large, each reported at its place. Kept apart
from the model (aicc/core/jobspec.py, which calls it first) because it walks untyped input and must
stay cheap: the scheduler's snapshot reads every waiting job through it on every pass.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic_core import InitErrorDetails

from aicc.core.mistakes import error_at

# Limits of the whole spec (docs/job-spec.md); the per-field ones are in aicc/core/jobspec.py.
MAX_SPEC_CHARS = 64 * 1024  # the whole spec: every key and string, plus one per value
MAX_DEPTH = 16  # nesting of mappings and lists (scenario's included)


def input_problems(data: Any) -> list[InitErrorDetails]:
    """What makes raw input unfit for any field: NaN or infinity, a lone surrogate or a NUL
    character (no text column or command line holds one), nesting beyond MAX_DEPTH, more than
    MAX_SPEC_CHARS in all (reported at the top-level field where the budget ran out)."""
    return [] if _plainly_sound(data) else _walk(data)


_JSON = json.JSONEncoder(allow_nan=False, ensure_ascii=False)


def _plainly_sound(data: Any) -> bool:
    """The common case, at the speed of `json.dumps` (the snapshot reads every waiting job on
    every pass): JSON without NaN, NUL or lone surrogates, within the size, and no `scenario`,
    the one field deep input could hide in. The JSON text is never shorter than `_walk`'s count,
    so this never passes what `_walk` refuses."""
    if not isinstance(data, dict) or data.get("scenario") is not None:
        return False
    try:
        text = _JSON.encode(data)
        text.encode("utf-8")
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        return False
    return len(text) <= MAX_SPEC_CHARS and "\\u0000" not in text


def _walk(data: Any) -> list[InitErrorDetails]:
    """Each problem with its place; a spec too large is reported at its largest top-level field.
    Iterative, and it stops at the size budget, so deep or aliased input (YAML anchors) costs
    little."""
    problems: list[InitErrorDetails] = []
    total = 0
    by_field: dict[str | int, int] = {}  # what was counted under each top-level field
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack and len(problems) < 10:
        loc, value = stack.pop()
        grown = 1
        if isinstance(value, str):
            grown += len(value)
            if (text := _text_problem(value)) is not None:
                problems.append(error_at("bad_text", loc, text, _printable(value)))
        elif isinstance(value, float) and not math.isfinite(value):
            message = "must be a finite number, not NaN or infinity"
            problems.append(error_at("finite_number", loc, message, str(value)))
        elif isinstance(value, dict | list | tuple):
            if len(loc) >= MAX_DEPTH:
                message = f"nested deeper than {MAX_DEPTH} levels"
                problems.append(error_at("too_deep", loc, message, None))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    grown += len(key)
                    if (text := _text_problem(key)) is not None:
                        problems.append(error_at("bad_text", loc, text, _printable(key)))
                stack.append(((*loc, key), item))
                if total + grown > MAX_SPEC_CHARS:
                    break
        total += grown
        if loc:
            by_field[loc[0]] = by_field.get(loc[0], 0) + grown
        if total > MAX_SPEC_CHARS:
            largest = max(by_field, key=by_field.__getitem__) if by_field else None
            where = () if largest is None else (largest,)
            problems.append(error_at("too_large", where, _TOO_LARGE, total))
            break
    return problems


_TOO_LARGE = f"the spec is larger than its limit of {MAX_SPEC_CHARS} characters, most of it here"


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text: it holds a lone surrogate (e.g. \\ud800)"
    return None


def _printable(text: str) -> str:
    """The text as an error can echo it: escapes for what UTF-8 cannot carry, and short."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return safe if len(safe) <= 80 else safe[:77] + "..."
