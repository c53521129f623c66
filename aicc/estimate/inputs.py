"""What scenario inputs have in common: amounts as people write them, and the base model.

Counts accept `7e9`, `7000000000` or `"7B"` (suffixes K, M, B/G, T); a bad one raises ValueError
saying what to write, which pydantic reports against the field.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from aicc.estimate.workload import Workload

_AMOUNT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgt]?)\s*$", re.IGNORECASE)
MAX_AMOUNT = 1e18  # a billion billion parameters or tokens: beyond any model, within floats
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
KAPLAN = "Kaplan et al. 2020, 'Scaling Laws for Neural Language Models', §2.1"


def parse_amount(value: object, *, allow_zero: bool = False) -> float:
    """`7e9`, `7000000000`, `"7B"`, `"2T"` -> a float; anything else raises ValueError."""
    hint = "a number such as 7e9, 7000000000 or '7B' (suffixes K, M, B, T)"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be {hint}")
    if isinstance(value, str):
        match = _AMOUNT.match(value)
        if not match:
            raise ValueError(f"{value!r} is not {hint}")
        number = float(match.group(1)) * _SUFFIX[match.group(2).lower()]
    else:
        number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"must be {'zero or ' if allow_zero else ''}positive: {hint}")
    if number > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT:g}: {hint}")
    return number


Amount = Annotated[float, BeforeValidator(parse_amount)]
AmountOrZero = Annotated[float, BeforeValidator(lambda v: parse_amount(v, allow_zero=True))]
Epochs = Annotated[float, Field(gt=0, le=10_000, description="passes over the data")]
BytesPerValue = Annotated[float, Field(gt=0, le=8)]


def _family_name(value: object) -> object:
    return value.strip().casefold().replace("_", "-") if isinstance(value, str) else value


FamilyName = Annotated[str, BeforeValidator(_family_name)]


class ScenarioBase(BaseModel):
    """Unknown fields are refused (a misspelt option must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def workload(self) -> Workload:
        raise NotImplementedError
