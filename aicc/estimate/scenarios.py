"""The estimator's scenarios, told apart by their `scenario` field.

One pydantic model per scenario (LLM ones in llm.py, model-family ones in family_training.py), so
the same dict can come from the API body, `aicc estimate` flags or a job spec's `scenario:` block.
Each turns into a `Workload` (FLOPs, memory, decoding traffic). Invalid input raises pydantic's
`ValidationError` (a `ValueError`) whose messages name the field and say what to write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, TypeAdapter

from aicc.estimate.family_training import RecsysTrain, SpeechTrain, VisionTrain
from aicc.estimate.inputs import parse_amount
from aicc.estimate.llm import LlmFinetune, LlmInference, LlmLora, LlmPretrain

__all__ = [
    "SCENARIO_NAMES",
    "LlmFinetune",
    "LlmInference",
    "LlmLora",
    "LlmPretrain",
    "RecsysTrain",
    "Scenario",
    "SpeechTrain",
    "VisionTrain",
    "parse_amount",
    "parse_scenario",
]

SCENARIO_NAMES: tuple[str, ...] = (
    "llm-pretrain",
    "llm-finetune",
    "llm-lora",
    "llm-inference",
    "vision-train",
    "speech-train",
    "recsys-train",
)


def _tag(value: Any) -> Any:
    return value.get("scenario") if isinstance(value, dict) else getattr(value, "scenario", None)


# A callable discriminator, so that a missing or misspelt `scenario` gets one message naming them.
Scenario = Annotated[
    Annotated[LlmPretrain, Tag("llm-pretrain")]
    | Annotated[LlmFinetune, Tag("llm-finetune")]
    | Annotated[LlmLora, Tag("llm-lora")]
    | Annotated[LlmInference, Tag("llm-inference")]
    | Annotated[VisionTrain, Tag("vision-train")]
    | Annotated[SpeechTrain, Tag("speech-train")]
    | Annotated[RecsysTrain, Tag("recsys-train")],
    Discriminator(
        _tag,
        custom_error_type="unknown_scenario",
        custom_error_message=f"scenario must be one of {', '.join(SCENARIO_NAMES)}",
    ),
]
_ADAPTER: TypeAdapter[Scenario] = TypeAdapter(Scenario, config=ConfigDict(title="scenario"))


def parse_scenario(data: Mapping[str, Any] | BaseModel) -> Scenario:
    """A scenario from a dict (API body, CLI flags, a job spec's `scenario:`); raises pydantic's
    ValidationError naming the field, or for an unknown `scenario` the names that exist."""
    if isinstance(data, BaseModel):
        data = data.model_dump()
    return _ADAPTER.validate_python(dict(data))
