"""What a scenario becomes before any accelerator is considered: FLOPs, memory, decoding traffic.

A `Workload` is the seam between the scenarios (which know models and data) and the options
(which know accelerators and prices): everything accelerator-independent is settled here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aicc.estimate.assumptions import Assumption


class WorkloadClass(StrEnum):
    """Efficiency classes: each has its own MFU table (efficiency.py)."""

    LLM_TRAIN = "llm-train"
    LLM_LORA = "llm-lora"
    LLM_INFERENCE = "llm-inference"
    VISION = "vision"
    SPEECH = "speech"
    RECSYS = "recsys"


@dataclass(frozen=True, slots=True)
class Decoding:
    """Autoregressive decoding: each step reads every weight and each live sequence's KV cache
    once and emits one token per live sequence."""

    prefill_flops: float
    decode_flops: float
    tokens_out: float
    concurrency: int
    weight_bytes: float
    kv_bytes_per_token: float
    mean_context: float  # tokens held in a sequence's KV cache, averaged over its decoding

    @property
    def step_bytes(self) -> float:
        return self.weight_bytes + self.concurrency * self.kv_bytes_per_token * self.mean_context

    @property
    def steps(self) -> float:
        return self.tokens_out / self.concurrency


@dataclass(frozen=True, slots=True)
class Workload:
    """Total FLOPs, the bytes that must fit in device memory across one option's devices (the
    estimator assumes fully sharded training and tensor-parallel inference), and for inference
    the decoding traffic."""

    scenario: str
    workload_class: WorkloadClass
    flops: float
    memory_bytes: float
    assumptions: tuple[Assumption, ...]
    decoding: Decoding | None = None
