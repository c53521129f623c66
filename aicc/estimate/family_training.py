"""Scenarios for model families with published sizes: vision, speech recognition, recommendation.

FLOPs: 3 × published forward FLOPs per image for vision, 6 × parameters per encoder frame for
speech, 6 × dense parameters per sample for recommendation (families.py gives the figures).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, model_validator

from aicc.estimate import families
from aicc.estimate.assumptions import Assumption
from aicc.estimate.inputs import (
    KAPLAN,
    Amount,
    AmountOrZero,
    BytesPerValue,
    Epochs,
    FamilyName,
    ScenarioBase,
)
from aicc.estimate.shapes import TRAIN_BYTES_PER_PARAM, training_state_assumption
from aicc.estimate.workload import Workload, WorkloadClass


def _check_family(
    kind: str, family: str | None, known: Mapping[str, object], sizes: Mapping[str, object]
) -> None:
    """A family of `known`, or none and every one of `sizes` (the sizes a family stands for)."""
    if family is None:
        if any(size is None for size in sizes.values()):
            raise ValueError(
                f"give a family (one of {', '.join(known)}) or both {' and '.join(sizes)}"
            )
    elif family not in known:
        raise ValueError(families.unknown_family(kind, family, known))


def _training(
    scenario: VisionTrain | SpeechTrain | RecsysTrain,
    kind: WorkloadClass,
    data: tuple[str, float],
    assumptions: tuple[Assumption, ...],
    *,
    flops: float,
    memory_bytes: float,
) -> Workload:
    """A family's training workload: its own `assumptions`, then the data per epoch (`data`:
    its name and amount) and the epochs, both given, and the training state."""
    name, amount = data
    return Workload(
        scenario=scenario.scenario,
        workload_class=kind,
        flops=flops,
        memory_bytes=memory_bytes,
        assumptions=(
            *assumptions,
            Assumption(name=name, value=amount, source="given"),
            Assumption(name="epochs", value=scenario.epochs, source="given"),
            training_state_assumption(TRAIN_BYTES_PER_PARAM),
        ),
    )


class VisionTrain(ScenarioBase):
    """Training a vision model family on `images` images per epoch."""

    scenario: Literal["vision-train"] = "vision-train"
    family: FamilyName = Field(description=f"one of {', '.join(families.VISION_FAMILIES)}")
    images: Amount = Field(description="images per epoch")
    epochs: Epochs = 1.0
    image_size: Annotated[int | None, Field(ge=16, le=8192)] = None

    @model_validator(mode="after")
    def _known_family(self) -> VisionTrain:
        _check_family("vision", self.family, families.VISION_FAMILIES, {})
        return self

    def workload(self) -> Workload:
        fam = families.VISION_FAMILIES[self.family]
        size = self.image_size or fam.image_size
        per_image = (
            families.TRAIN_FORWARD_MULTIPLE * fam.forward_flops * (size / fam.image_size) ** 2
        )
        assumptions = (
            Assumption(name="family", value=f"{fam.name} ({fam.task})", source="given"),
            Assumption(
                name="forward_flops_per_image",
                value=fam.forward_flops,
                unit="FLOP",
                source=f"{fam.published_gops} G as published at {fam.image_size} px; {fam.source}",
            ),
            Assumption(
                name="train_multiple",
                value=families.TRAIN_FORWARD_MULTIPLE,
                source=families.TRAIN_MULTIPLE_SOURCE,
            ),
            Assumption(
                name="image_size",
                value=size,
                unit="px",
                source="given; FLOPs scale with pixel count" if self.image_size else "reference",
                estimate=self.image_size is not None,
            ),
        )
        return _training(
            self,
            WorkloadClass.VISION,
            ("images", self.images),
            assumptions,
            flops=per_image * self.images * self.epochs,
            memory_bytes=TRAIN_BYTES_PER_PARAM * fam.params,
        )


class SpeechTrain(ScenarioBase):
    """Training a speech recognition encoder on `audio_hours` hours of audio per epoch."""

    scenario: Literal["speech-train"] = "speech-train"
    family: FamilyName | None = Field(
        default=None, description=f"one of {', '.join(families.SPEECH_FAMILIES)}"
    )
    params: Amount | None = None
    frames_per_second: Annotated[float | None, Field(gt=0, le=1000)] = None
    audio_hours: Amount = Field(description="hours of audio per epoch")
    epochs: Epochs = 1.0

    @model_validator(mode="after")
    def _family_or_size(self) -> SpeechTrain:
        sizes = {"params": self.params, "frames_per_second": self.frames_per_second}
        _check_family("speech", self.family, families.SPEECH_FAMILIES, sizes)
        return self

    def workload(self) -> Workload:
        if self.family is not None:
            fam = families.SPEECH_FAMILIES[self.family]
            params, fps, share, source = (
                self.params or fam.params,
                self.frames_per_second or fam.frames_per_second,
                fam.per_frame_share,
                fam.source,
            )
        else:
            assert self.params is not None and self.frames_per_second is not None
            params, fps, share, source = self.params, self.frames_per_second, 1.0, "given"
        frames = self.audio_hours * 3600.0 * fps * self.epochs
        assumptions = (
            Assumption(name="params", value=params, source=source),
            Assumption(name="frames_per_second", value=fps, source=source),
            Assumption(name="params_per_frame_share", value=share, source=source),
            Assumption(name="flops_rule", value="6 × params per frame", source=KAPLAN),
        )
        return _training(
            self,
            WorkloadClass.SPEECH,
            ("audio_hours", self.audio_hours),
            assumptions,
            flops=6.0 * params * share * frames,
            memory_bytes=TRAIN_BYTES_PER_PARAM * params,
        )


class RecsysTrain(ScenarioBase):
    """Training a DLRM-style recommendation model on `samples` samples per epoch.

    Compute is the dense MLPs (6 FLOPs per dense parameter per sample; the pairwise feature
    interactions add about 2% for the MLPerf configuration and are not counted); memory is
    dominated by the embedding tables, kept in fp32 and sharded across devices.
    """

    scenario: Literal["recsys-train"] = "recsys-train"
    family: FamilyName | None = Field(
        default=None, description=f"one of {', '.join(families.RECSYS_FAMILIES)}"
    )
    dense_params: Amount | None = None
    embedding_params: AmountOrZero | None = None
    samples: Amount = Field(description="training samples per epoch")
    epochs: Epochs = 1.0
    embedding_bytes_per_param: BytesPerValue = Field(
        default=4.0, description="4 for fp32 with SGD (the MLPerf reference); 8 with Adagrad"
    )

    @model_validator(mode="after")
    def _family_or_size(self) -> RecsysTrain:
        sizes = {"dense_params": self.dense_params, "embedding_params": self.embedding_params}
        _check_family("recommendation", self.family, families.RECSYS_FAMILIES, sizes)
        return self

    def workload(self) -> Workload:
        fam = families.RECSYS_FAMILIES.get(self.family or "")
        dense = self.dense_params or (fam.dense_params if fam else 0.0)
        embedding = (
            self.embedding_params
            if self.embedding_params is not None
            else (fam.embedding_params if fam else 0.0)
        )
        source = fam.source if fam else "given"
        assumptions = (
            Assumption(name="dense_params", value=dense, source=source),
            Assumption(name="embedding_params", value=embedding, source=source),
            Assumption(name="flops_rule", value="6 × dense params per sample", source=KAPLAN),
            Assumption(
                name="embedding_bytes_per_param",
                value=self.embedding_bytes_per_param,
                unit="B",
                source="fp32 tables updated by SGD, as in the MLPerf DLRM reference",
            ),
        )
        return _training(
            self,
            WorkloadClass.RECSYS,
            ("samples", self.samples),
            assumptions,
            flops=6.0 * dense * self.samples * self.epochs,
            memory_bytes=TRAIN_BYTES_PER_PARAM * dense + self.embedding_bytes_per_param * embedding,
        )
