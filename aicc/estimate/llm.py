"""LLM scenarios: pre-training, full fine-tuning, LoRA fine-tuning and inference.

FLOPs: 6·N·D for dense transformer training (Kaplan et al. 2020), (4·N + 6·N_trainable)·D for
LoRA, 2·N per token for inference. Memory: 16 bytes per trained parameter (ZeRO), 2 per frozen or
served one, plus the KV cache when serving.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from aicc.estimate.assumptions import Assumption
from aicc.estimate.inputs import (
    KAPLAN,
    Amount,
    AmountOrZero,
    BytesPerValue,
    Epochs,
    ScenarioBase,
)
from aicc.estimate.shapes import (
    HALF_PRECISION_BYTES,
    TRAIN_BYTES_PER_PARAM,
    kv_bytes_per_token,
    training_state_assumption,
    transformer_shape,
)
from aicc.estimate.workload import Decoding, Workload, WorkloadClass

_KV_RULE = "2 (key, value) × layers × hidden × kv_heads_fraction × bytes per value"


class _DenseTransformer(ScenarioBase):
    params: Amount = Field(description="parameters, e.g. 7e9 or '7B'")
    layers: Annotated[int | None, Field(ge=1, le=1000)] = None
    hidden: Annotated[int | None, Field(ge=1, le=1_000_000)] = None

    def _params_assumption(self) -> Assumption:
        return Assumption(name="params", value=self.params, source="given")


class _FullTraining(_DenseTransformer):
    bytes_per_param: Annotated[float, Field(gt=0, le=64)] = TRAIN_BYTES_PER_PARAM

    def _training(self, name: str, tokens: float, extra: list[Assumption]) -> Workload:
        flops = 6.0 * self.params * tokens
        return Workload(
            scenario=name,
            workload_class=WorkloadClass.LLM_TRAIN,
            flops=flops,
            memory_bytes=self.bytes_per_param * self.params,
            assumptions=(
                self._params_assumption(),
                *extra,
                Assumption(name="flops_rule", value="6·N·D", source=KAPLAN),
                training_state_assumption(self.bytes_per_param),
            ),
        )


class LlmPretrain(_FullTraining):
    """Dense transformer pre-training on `tokens` tokens."""

    scenario: Literal["llm-pretrain"] = "llm-pretrain"
    tokens: Amount = Field(description="training tokens, e.g. 2e12 or '2T'")

    def workload(self) -> Workload:
        given = [Assumption(name="tokens", value=self.tokens, source="given")]
        return self._training(self.scenario, self.tokens, given)


class LlmFinetune(_FullTraining):
    """Full fine-tuning: every weight trained, `tokens` per epoch."""

    scenario: Literal["llm-finetune"] = "llm-finetune"
    tokens: Amount = Field(description="tokens in the fine-tuning set (one epoch)")
    epochs: Epochs = 1.0

    def workload(self) -> Workload:
        given = [
            Assumption(name="tokens", value=self.tokens, source="given"),
            Assumption(name="epochs", value=self.epochs, source="given"),
        ]
        return self._training(self.scenario, self.tokens * self.epochs, given)


class LlmLora(_DenseTransformer):
    """LoRA fine-tuning: frozen base weights plus low-rank adapters on the attention projections.

    Trainable parameters come from `rank` (adapters on `adapted_matrices_per_layer` d×d matrices
    per layer, each adding r·2d parameters) or directly from `trainable_fraction`. FLOPs per token
    are 2N forward + 2N for the activation gradients through the frozen weights + 6 per trainable
    parameter; the frozen weights' own gradients are never computed.
    """

    scenario: Literal["llm-lora"] = "llm-lora"
    tokens: Amount = Field(description="tokens in the fine-tuning set (one epoch)")
    epochs: Epochs = 1.0
    rank: Annotated[int | None, Field(ge=1, le=4096)] = None
    trainable_fraction: Annotated[float | None, Field(gt=0, lt=1)] = None
    adapted_matrices_per_layer: Annotated[int, Field(ge=1, le=16)] = 4
    base_bytes_per_param: BytesPerValue = Field(
        default=HALF_PRECISION_BYTES, description="2 for bf16 weights, 0.5 for 4-bit (QLoRA)"
    )

    @model_validator(mode="after")
    def _rank_or_fraction(self) -> LlmLora:
        if self.rank is not None and self.trainable_fraction is not None:
            raise ValueError("give either rank or trainable_fraction, not both")
        return self

    def workload(self) -> Workload:
        assumptions = [
            self._params_assumption(),
            Assumption(name="tokens", value=self.tokens, source="given"),
            Assumption(name="epochs", value=self.epochs, source="given"),
        ]
        if self.trainable_fraction is not None:
            trainable = self.params * self.trainable_fraction
            assumptions.append(
                Assumption(name="trainable_fraction", value=self.trainable_fraction, source="given")
            )
        else:
            rank = self.rank if self.rank is not None else 16
            shape = transformer_shape(self.params, layers=self.layers, hidden=self.hidden)
            trainable = 2.0 * rank * shape.hidden * self.adapted_matrices_per_layer * shape.layers
            assumptions += shape.assumptions(self.params)
            assumptions.append(
                Assumption(
                    name="lora_rank",
                    value=rank,
                    source="given" if self.rank is not None else "default (rank 16)",
                    estimate=self.rank is None,
                )
            )
        trainable = min(trainable, self.params)
        base = self.params - trainable
        assumptions += [
            Assumption(name="trainable_params", value=trainable, source="derived"),
            Assumption(
                name="flops_rule",
                value="(4·N + 6·N_trainable)·D",
                source="forward 2N + activation gradients 2N; no weight gradients for frozen "
                "weights (Hu et al. 2021, 'LoRA', §4.2)",
            ),
            Assumption(
                name="base_bytes_per_param",
                value=self.base_bytes_per_param,
                unit="B",
                source="given" if "base_bytes_per_param" in self.model_fields_set else "bf16",
            ),
            training_state_assumption(TRAIN_BYTES_PER_PARAM),
        ]
        tokens = self.tokens * self.epochs
        return Workload(
            scenario=self.scenario,
            workload_class=WorkloadClass.LLM_LORA,
            flops=(4.0 * self.params + 6.0 * trainable) * tokens,
            memory_bytes=base * self.base_bytes_per_param + trainable * TRAIN_BYTES_PER_PARAM,
            assumptions=tuple(assumptions),
        )


class LlmInference(_DenseTransformer):
    """Serving `requests` requests with `tokens_in` prompt and `tokens_out` generated tokens in all,
    `concurrency` sequences decoded together."""

    scenario: Literal["llm-inference"] = "llm-inference"
    tokens_in: AmountOrZero = Field(description="prompt tokens over all requests")
    tokens_out: AmountOrZero = Field(description="generated tokens over all requests")
    requests: Amount = 1.0
    concurrency: Annotated[int, Field(ge=1, le=65_536)] = 64
    bytes_per_param: BytesPerValue = HALF_PRECISION_BYTES
    kv_bytes_per_value: BytesPerValue = HALF_PRECISION_BYTES
    kv_heads_fraction: Annotated[float, Field(gt=0, le=1)] = 1.0

    @model_validator(mode="after")
    def _some_tokens(self) -> LlmInference:
        if self.tokens_in + self.tokens_out <= 0:
            raise ValueError("tokens_in and tokens_out are both zero; give the tokens to process")
        return self

    def workload(self) -> Workload:
        shape = transformer_shape(self.params, layers=self.layers, hidden=self.hidden)
        kv_token = kv_bytes_per_token(
            shape, kv_heads_fraction=self.kv_heads_fraction, bytes_per_value=self.kv_bytes_per_value
        )
        prompt = self.tokens_in / self.requests
        output = self.tokens_out / self.requests
        live = max(1, min(self.concurrency, math.ceil(self.requests)))
        weights = self.bytes_per_param * self.params
        decoding = Decoding(
            prefill_flops=2.0 * self.params * self.tokens_in,
            decode_flops=2.0 * self.params * self.tokens_out,
            tokens_out=self.tokens_out,
            concurrency=live,
            weight_bytes=weights,
            kv_bytes_per_token=kv_token,
            mean_context=prompt + output / 2.0,
        )
        assumptions = (
            self._params_assumption(),
            Assumption(name="tokens_in", value=self.tokens_in, source="given"),
            Assumption(name="tokens_out", value=self.tokens_out, source="given"),
            Assumption(name="requests", value=self.requests, source="given"),
            Assumption(
                name="concurrent_sequences", value=live, source="min(concurrency, requests)"
            ),
            *shape.assumptions(self.params),
            Assumption(name="flops_rule", value="2·N per token", source=KAPLAN),
            Assumption(name="kv_bytes_per_token", value=kv_token, unit="B", source=_KV_RULE),
            Assumption(
                name="memory_rule",
                value="weights + concurrent sequences × KV bytes per token × (prompt + output)",
                source="estimator rule",
                estimate=True,
            ),
        )
        return Workload(
            scenario=self.scenario,
            workload_class=WorkloadClass.LLM_INFERENCE,
            flops=decoding.prefill_flops + decoding.decode_flops,
            memory_bytes=weights + live * kv_token * (prompt + output),
            assumptions=assumptions,
            decoding=decoding,
        )
