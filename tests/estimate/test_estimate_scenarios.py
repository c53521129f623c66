"""Scenarios: inputs people write, FLOPs and memory, and errors that say what to fix."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from aicc.core.jobspec import JobSpec
from aicc.estimate.scenarios import (
    SCENARIO_NAMES,
    LlmFinetune,
    LlmInference,
    LlmLora,
    LlmPretrain,
    VisionTrain,
    parse_amount,
    parse_scenario,
)
from aicc.estimate.shapes import transformer_shape

EXAMPLES: dict[str, dict[str, Any]] = {
    "llm-pretrain": {"scenario": "llm-pretrain", "params": "7B", "tokens": "2T"},
    "llm-finetune": {"scenario": "llm-finetune", "params": 7e9, "tokens": 1e8, "epochs": 3},
    "llm-lora": {"scenario": "llm-lora", "params": "70B", "tokens": "100M", "rank": 8},
    "llm-inference": {
        "scenario": "llm-inference",
        "params": "7B",
        "tokens_in": "1M",
        "tokens_out": "500K",
        "requests": 1000,
    },
    "vision-train": {"scenario": "vision-train", "family": "ResNet-50", "images": 1.28e6},
    "speech-train": {"scenario": "speech-train", "family": "conformer-l", "audio_hours": 960},
    "recsys-train": {"scenario": "recsys-train", "family": "dlrm-mlperf", "samples": "4B"},
}


def test_every_scenario_has_an_example() -> None:
    assert set(EXAMPLES) == set(SCENARIO_NAMES)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_every_scenario_gives_positive_flops_and_memory(name: str) -> None:
    workload = parse_scenario(EXAMPLES[name]).workload()
    assert workload.scenario == name
    assert workload.flops > 0 and math.isfinite(workload.flops)
    assert workload.memory_bytes > 0
    assert workload.assumptions


@pytest.mark.parametrize(
    ("text", "value"),
    [("7B", 7e9), ("2T", 2e12), ("1.3M", 1.3e6), ("500k", 5e5), ("7e9", 7e9), (7e9, 7e9), (12, 12)],
)
def test_amounts_people_write(text: str | float, value: float) -> None:
    assert parse_amount(text) == value


@pytest.mark.parametrize("bad", ["seven", "-1", 0, -5, True, None, float("inf"), "7Q", [7]])
def test_bad_amounts_say_what_to_write(bad: object) -> None:
    with pytest.raises(ValueError, match="7e9"):
        parse_amount(bad)


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_scenario(data)
    return str(info.value)


def test_invalid_input_names_the_field_and_the_fix() -> None:
    text = _error({"scenario": "llm-pretrain", "params": -7, "tokens": "2T"})
    assert "params" in text and "positive" in text
    assert "tokens" in _error({"scenario": "llm-pretrain", "params": "7B"})
    assert "scenario must be one of llm-pretrain" in _error({"scenario": "llm-pretrian"})
    assert "scenario must be one of" in _error({"params": "7B"})
    assert "tokenz" in _error({"scenario": "llm-pretrain", "params": 1, "tokens": 1, "tokenz": 1})
    text = _error({"scenario": "vision-train", "family": "resnet5", "images": 10})
    assert "unknown vision model family 'resnet5'" in text and "resnet-50" in text
    text = _error(
        {**EXAMPLES["llm-lora"], "trainable_fraction": 0.01}  # rank given too
    )
    assert "either rank or trainable_fraction" in text
    assert "frames_per_second" in _error({"scenario": "speech-train", "audio_hours": 10})
    assert "dense_params" in _error({"scenario": "recsys-train", "samples": 10})
    text = _error({"scenario": "llm-inference", "params": 1e9, "tokens_in": 0, "tokens_out": 0})
    assert "give the tokens" in text
    assert "epochs" in _error({**EXAMPLES["llm-finetune"], "epochs": 0})


def test_job_spec_scenario_block_parses() -> None:
    spec = JobSpec.model_validate({"command": "python train.py", "scenario": EXAMPLES["llm-lora"]})
    assert spec.scenario is not None
    assert isinstance(parse_scenario(spec.scenario), LlmLora)


def test_pretraining_is_6nd_with_16_bytes_per_param() -> None:
    workload = LlmPretrain(params=7e9, tokens=2e12).workload()
    assert workload.flops == pytest.approx(6 * 7e9 * 2e12)
    assert workload.memory_bytes == pytest.approx(16 * 7e9)


def test_finetune_counts_epochs() -> None:
    one = LlmFinetune(params=7e9, tokens=1e8).workload().flops
    assert LlmFinetune(params=7e9, tokens=1e8, epochs=3).workload().flops == pytest.approx(3 * one)


def test_lora_costs_less_than_full_finetuning_and_holds_frozen_weights() -> None:
    full = LlmFinetune(params=7e9, tokens=1e8).workload()
    lora = LlmLora(params=7e9, tokens=1e8).workload()
    assert 4 * 7e9 * 1e8 < lora.flops < full.flops
    assert lora.memory_bytes < full.memory_bytes / 6  # ~2 bytes per frozen parameter
    qlora = LlmLora(params=7e9, tokens=1e8, base_bytes_per_param=0.5).workload()
    assert qlora.memory_bytes < lora.memory_bytes / 3
    by_fraction = LlmLora(params=7e9, tokens=1e8, trainable_fraction=0.01).workload()
    assert by_fraction.flops == pytest.approx((4 * 7e9 + 6 * 7e7) * 1e8)


def test_transformer_shape_from_params() -> None:
    shape = transformer_shape(7e9, layers=None, hidden=None)
    assert shape.derived and 30 <= shape.layers <= 36 and 4000 <= shape.hidden <= 4400
    gpt3 = transformer_shape(175e9, layers=None, hidden=None)
    assert gpt3.layers == 96 and abs(gpt3.hidden - 12288) / 12288 < 0.01
    given = transformer_shape(7e9, layers=32, hidden=4096)
    assert (given.layers, given.hidden, given.derived) == (32, 4096, False)


def test_inference_flops_and_kv_cache() -> None:
    mha = LlmInference(params=7e9, tokens_in=1e6, tokens_out=5e5, requests=1000).workload()
    assert mha.flops == pytest.approx(2 * 7e9 * 1.5e6)
    assert mha.decoding is not None and mha.decoding.concurrency == 64
    gqa = LlmInference(
        params=7e9, tokens_in=1e6, tokens_out=5e5, requests=1000, kv_heads_fraction=0.125
    ).workload()
    weights = 2 * 7e9
    assert gqa.memory_bytes - weights == pytest.approx((mha.memory_bytes - weights) / 8)


def test_vision_flops_scale_with_pixels() -> None:
    base = VisionTrain(family="resnet-50", images=1e6).workload().flops
    assert base == pytest.approx(3 * 2 * 4.089e9 * 1e6)
    double = VisionTrain(family="resnet-50", images=1e6, image_size=448).workload().flops
    assert double == pytest.approx(4 * base)
    yolo = VisionTrain(family="yolov8s", images=1e6).workload().flops
    assert yolo == pytest.approx(3 * 28.6e9 * 1e6)  # Ultralytics prints real FLOPs
