"""The submit wizard's first step: the estimator's scenarios as forms, and their answers.

Each scenario shows the few inputs people know (model size, tokens, images, ...); the rest keep
the estimator's defaults. What is typed goes to the estimator unchanged (`"7B"`, `"2T"`), and its
own validation (`aicc.estimate.parse_scenario`) decides what is wrong: its messages come back
against the field they name, so the page and the API refuse exactly the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from aicc.estimate import SCENARIO_NAMES, parse_scenario
from aicc.estimate.families import RECSYS_FAMILIES, SPEECH_FAMILIES, VISION_FAMILIES
from aicc.portal.forms import FieldError
from aicc.portal.forms import Form as PageForm

COMMAND = "command"  # "just a command": no scenario, no estimate
CHOICES = (*SCENARIO_NAMES, COMMAND)


@dataclass(frozen=True)
class Input:
    """One input of a scenario: its estimator field, an example value, whether it is needed,
    and for model families the names to pick from."""

    name: str
    example: str = ""
    required: bool = True
    choices: tuple[str, ...] = ()


_PARAMS = Input("params", "7B")
_EPOCHS = Input("epochs", "1", required=False)

INPUTS: dict[str, tuple[Input, ...]] = {
    "llm-pretrain": (_PARAMS, Input("tokens", "2T")),
    "llm-finetune": (_PARAMS, Input("tokens", "1B"), _EPOCHS),
    "llm-lora": (_PARAMS, Input("tokens", "1B"), _EPOCHS, Input("rank", "16", required=False)),
    "llm-inference": (
        _PARAMS,
        Input("tokens_in", "200M"),
        Input("tokens_out", "200M"),
        Input("requests", "1M", required=False),
        Input("concurrency", "64", required=False),
    ),
    "vision-train": (
        Input("family", "resnet-50", choices=tuple(VISION_FAMILIES)),
        Input("images", "1.28M"),
        _EPOCHS,
        Input("image_size", "", required=False),
    ),
    "speech-train": (
        Input("family", "conformer-m", choices=tuple(SPEECH_FAMILIES)),
        Input("audio_hours", "10K"),
        _EPOCHS,
    ),
    "recsys-train": (
        Input("family", "dlrm-mlperf", choices=tuple(RECSYS_FAMILIES)),
        Input("samples", "4B"),
        _EPOCHS,
    ),
    COMMAND: (),
}
FIELD_NAMES = frozenset(i.name for inputs in INPUTS.values() for i in inputs)


def chosen(value: str | None) -> str:
    """The scenario asked for, or the first one when the value is missing or unknown."""
    return value if value in CHOICES else SCENARIO_NAMES[0]


def values_of(scenario: str, given: Mapping[str, str]) -> dict[str, str]:
    """The form's values for `scenario`: what was typed, else the inputs' examples (an input
    sent empty stays empty, so the person sees it is needed)."""
    values = {"scenario": scenario}
    for item in INPUTS[scenario]:
        values[item.name] = given[item.name].strip() if item.name in given else item.example
    return values


def scenario_of(values: Mapping[str, str]) -> dict[str, Any]:
    """The estimator's input: the scenario and its non-empty inputs, as typed."""
    scenario = values["scenario"]
    body: dict[str, Any] = {"scenario": scenario}
    for item in INPUTS[scenario]:
        if values.get(item.name):
            body[item.name] = values[item.name]
    return body


def check(form: PageForm) -> dict[str, Any] | None:
    """The scenario if the estimator accepts the form's values, else None with `form.errors`
    set: each message on the field it names, or on the form as a whole."""
    body = scenario_of(form.values)
    try:
        parse_scenario(body)
    except ValidationError as err:
        form.errors.update(errors_of(err, body["scenario"]))
        return None
    return body


def errors_of(err: ValidationError, scenario: str) -> dict[str, FieldError]:
    out: dict[str, FieldError] = {}
    for problem in err.errors(include_url=False):
        loc = [str(part) for part in problem["loc"]]
        if loc and loc[0] == scenario:
            loc = loc[1:]
        name = loc[0] if loc and loc[0] in FIELD_NAMES else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        key = "form.error.required" if problem["type"] == "missing" else "form.error.invalid"
        out.setdefault(name, FieldError(key, "" if key == "form.error.required" else message))
    return out
