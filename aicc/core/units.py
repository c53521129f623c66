"""Quantities as people write them ("2", "500m", "4GiB", "2h") as the integer units AICC stores.

CPU is milli-cores, memory MiB, an accelerator share milli (1000 = one device), durations seconds
(docs/contracts.md §1). Parsing lives here, once, so the API, the CLI and YAML files agree.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from aicc.core.mistakes import InputError, Mistake

_MEMORY_UNITS = {
    "": 1 / (1024 * 1024),  # bare numbers are bytes, as in Kubernetes
    "b": 1 / (1024 * 1024),
    "k": 1000 / 1024**2,
    "kb": 1000 / 1024**2,
    "ki": 1 / 1024,
    "kib": 1 / 1024,
    "m": 1000**2 / 1024**2,
    "mb": 1000**2 / 1024**2,
    "mi": 1,
    "mib": 1,
    "g": 1000**3 / 1024**2,
    "gb": 1000**3 / 1024**2,
    "gi": 1024,
    "gib": 1024,
    "t": 1000**4 / 1024**2,
    "tb": 1000**4 / 1024**2,
    "ti": 1024**2,
    "tib": 1024**2,
}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$")
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)\s*([smhd])")
Parser = Callable[[Any], int]


def _not_a_quantity(value: object) -> bool:
    """Anything but text or a finite number (None, a list, a bool, inf, NaN from YAML or JSON).

    The parsers raise ValueError for these, never TypeError or OverflowError: pydantic reports
    only ValueError as a validation error, so anything else would be a 500 for bad input.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return True
    return isinstance(value, float) and not math.isfinite(value)


def _in_range(what: str) -> Callable[[Parser], Parser]:
    """A quantity too large for a float (`1e308` CPUs in milli, a 400-digit number) is a
    ValueError like any other bad quantity, not an OverflowError (a 500)."""

    def wrap(parse: Parser) -> Parser:
        @functools.wraps(parse)
        def checked(value: Any) -> int:
            try:
                return parse(value)
            except OverflowError:
                raise InputError("{what} is out of range", what=what) from None

        return checked

    return wrap


@_in_range("cpu")
def parse_cpu_milli(value: str | int | float) -> int:
    """`2` -> 2000, `0.5` -> 500, `"500m"` -> 500."""
    if _not_a_quantity(value):
        raise InputError("cpu must be a number like 2, 0.5 or '500m'")
    if isinstance(value, int | float):
        milli = round(value * 1000)
    else:
        match = _QUANTITY.match(value)
        if not match or match.group(2) not in ("", "m"):
            raise InputError("cpu {value!r} is not a number like 2, 0.5 or '500m'", value=value)
        number = float(match.group(1))
        milli = round(number) if match.group(2) == "m" else round(number * 1000)
    if milli < 0:
        raise InputError("cpu must not be negative")
    return milli


@_in_range("memory")
def parse_memory_mib(value: str | int | float) -> int:
    """`"4GiB"` -> 4096, `"512MiB"` -> 512; a bare number in YAML is bytes, as in Kubernetes."""
    if _not_a_quantity(value):
        raise InputError("memory must be a size like '4GiB' or '512MiB'")
    if isinstance(value, int | float):
        mib = value / (1024 * 1024)
    else:
        match = _QUANTITY.match(value)
        unit = match.group(2).lower() if match else None
        if not match or unit not in _MEMORY_UNITS:
            raise InputError(
                "memory {value!r} is not a size like '4GiB', '512MiB' or '2G'", value=value
            )
        mib = float(match.group(1)) * _MEMORY_UNITS[unit]
    if mib < 0:
        raise InputError("memory must not be negative")
    bare = not isinstance(value, str) or not _QUANTITY.match(value).group(2)  # type: ignore[union-attr]
    if bare and 0 < mib < 1:  # `memory: 8192` almost surely meant MiB, not 8 KiB
        raise InputError(
            "memory {value!r} is only {value} bytes; write '{value}MiB' or 'NGiB'", value=value
        )
    return max(round(mib), 1) if mib > 0 else 0


@_in_range("a share")
def parse_share_milli(value: str | int | float) -> int:
    """A share of one accelerator: `0.5` -> 500, `"250m"` -> 250, `500` (already milli) -> 500."""
    if _not_a_quantity(value):
        raise InputError("a share must be a number like 0.5 or '500m'")
    if isinstance(value, str):
        try:
            milli = parse_cpu_milli(value)
        except ValueError:
            raise InputError(
                "a share {value!r} is not a number like 0.5 or '500m'", value=value
            ) from None
    else:
        milli = round(value * 1000) if value <= 1 else round(value)
    if not 0 < milli <= 1000:
        raise InputError("a share of one accelerator must be between 0 and 1 (1 to 1000 milli)")
    return milli


@_in_range("a duration")
def parse_duration_s(value: str | int | float) -> int:
    """`"2h"` -> 7200, `"1h30m"` -> 5400, `90` (seconds) -> 90."""
    if _not_a_quantity(value):
        raise InputError("a duration must look like '2h', '30m', '1h30m' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower()
        if re.fullmatch(r"[0-9]*\.?[0-9]+", text):
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or _DURATION_PART.sub("", text).strip():
                raise InputError(
                    "duration {value!r} must look like '2h', '30m', '1h30m' or '90s'", value=value
                )
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise InputError("a duration must be positive")
    return round(seconds)


def format_memory(mib: int) -> str:
    """4096 -> '4GiB', 1536 -> '1.5GiB', 512 -> '512MiB' (for tables)."""
    if mib >= 1024:
        gib = mib / 1024
        return f"{gib:.0f}GiB" if gib == int(gib) else f"{gib:.1f}GiB"
    return f"{mib}MiB"


def format_cpu(milli: int) -> str:
    """2000 -> '2', 500 -> '500m'."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def format_duration(seconds: float) -> str:
    """7260 -> '2h1m', 59 -> '59s'."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


CPU_AND_MEMORY: Mapping[str, tuple[str, Parser]] = {
    "cpu": ("cpu_milli", parse_cpu_milli),
    "memory": ("memory_mib", parse_memory_mib),
}


def to_stored_units(
    data: Any,
    rules: Mapping[str, tuple[str, Parser]] = CPU_AND_MEMORY,
    mistakes: list[Mistake] | None = None,
) -> Any:
    """In a raw mapping from YAML or JSON, replace each key people write (`memory: 4GiB`) by the
    stored one (`memory_mib: 4096`). Anything but a mapping is left for validation to refuse.
    A value that does not parse raises, or, given `mistakes`, is left out and noted there, so
    that a validator reports it beside every other mistake of the same input."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key, (stored, parse) in rules.items():
        if key in out:
            value = out.pop(key)
            try:
                out[stored] = parse(value)
            except ValueError as err:
                if mistakes is None:
                    raise
                mistakes.append((key, value, err))
    return out


STORAGE_QUOTA_KEY = "storage_gib"  # data set storage, a quota's ceiling, in GiB


def quota_amounts(pairs: list[str]) -> dict[str, float]:
    """`["A100=4", "cpu=64", "memory=512GiB", "pflops=2", "storage=100GiB"]` -> a quota's
    stored units (docs/contracts.md §1): a model in milli of a device, cpu_milli, memory_mib,
    pflops, storage_gib. The CLI's `--guaranteed`/`--max` and the portal's quota form read
    quotas with this one function, so the two agree. Raises ValueError naming the pair."""
    out: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or not key or not value:
            raise ValueError(f"{pair!r}: write KEY=VALUE, e.g. A100=4, cpu=64, memory=512GiB")
        try:
            if key in ("cpu", "cpu_milli"):
                out["cpu_milli"] = parse_cpu_milli(value) if key == "cpu" else float(value)
            elif key in ("memory", "memory_mib"):
                out["memory_mib"] = parse_memory_mib(value) if key == "memory" else float(value)
            elif key in ("storage", STORAGE_QUOTA_KEY):  # a bare number: GiB, as stored
                bare = _QUANTITY.match(value)
                gib = bare and not bare.group(2)
                out[STORAGE_QUOTA_KEY] = float(value) if gib else parse_memory_mib(value) / 1024
            elif key == "pflops":
                out["pflops"] = float(value)
            else:
                out[key] = float(value) * 1000  # devices of that model
        except ValueError as err:  # InputError included
            raise ValueError(f"{pair!r}: {err}") from None
    return out


def quota_text(amounts: Mapping[str, float]) -> str:
    """The inverse of `quota_amounts`, for a form to show a quota as people write it."""
    words = []
    for key, value in amounts.items():
        if key == "cpu_milli":
            words.append(f"cpu={value / 1000:g}")
        elif key == "memory_mib":
            words.append(f"memory={value / 1024:g}GiB")
        elif key == STORAGE_QUOTA_KEY:
            words.append(f"storage={value:g}GiB")
        elif key == "pflops":
            words.append(f"pflops={value:g}")
        else:
            words.append(f"{key}={value / 1000:g}")
    return " ".join(words)
