"""How much of an accelerator's dense peak a workload sustains, and what spreading it costs.

Time on an accelerator = FLOPs / (devices × dense FP16/BF16 peak × MFU × scaling). MFU (model
FLOPs utilization: useful model FLOPs over peak) is set per workload class and accelerator
generation, each figure with its source; figures no publication gives are marked estimates and
say how they were derived. LLM decoding is bounded by memory bandwidth instead, at a sustained
fraction of datasheet bandwidth (MBU, model bandwidth utilization). Every figure can be replaced
by the caller (`options.Overrides`).

Multi-device scaling: devices joined by a fast link (NVLink, HCCS, Infinity Fabric, MLU-Link,
MTLink) form groups of up to 8; beyond one group, each doubling of the device count costs a
fraction α of throughput: scaling(n) = 1 / (1 + α·log2(n / g)) for n > g, else 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from aicc.core.catalog import CATALOG, AcceleratorModel
from aicc.estimate.workload import WorkloadClass


@dataclass(frozen=True, slots=True)
class Figure:
    value: float
    source: str
    estimate: bool = False


class Generation(StrEnum):
    HOPPER = "hopper"
    AMPERE = "ampere"
    ADA = "ada"
    VOLTA = "volta"
    TURING = "turing"
    CDNA3 = "cdna3"
    ASCEND = "ascend"
    OTHER = "other"


_GENERATIONS: Mapping[Generation, tuple[str, ...]] = {
    Generation.HOPPER: ("H100-SXM", "H100-PCIe", "H100-NVL", "H200", "H20", "H800", "H800-PCIe"),
    Generation.AMPERE: (
        "A100-80GB",
        "A100-80GB-PCIe",
        "A100-40GB",
        "A100-40GB-PCIe",
        "A800-80GB",
        "A800-80GB-PCIe",
        "A10",
    ),
    Generation.ADA: ("L40S", "L20", "L4", "RTX-4090"),
    Generation.VOLTA: ("V100-32GB",),
    Generation.TURING: ("T4",),
    Generation.CDNA3: ("MI300X",),
    # the 310 parts are inference cards: the 910 parts' figures, estimates, until one is measured
    Generation.ASCEND: ("Ascend-910B", "Ascend-910A", "Ascend-310P", "Ascend-310"),
}
GENERATION_OF: Mapping[str, Generation] = MappingProxyType(
    {name: gen for gen, names in _GENERATIONS.items() for name in names}
)


def generation_of(model: AcceleratorModel) -> Generation:
    """The generation a catalog model belongs to; models added later fall into OTHER (the most
    conservative figures) until someone places them."""
    return GENERATION_OF.get(model.name, Generation.OTHER)


_NO_PUBLISHED = "estimate: no published MFU for this generation we could cite"

# Dense transformer training (pre-training and full fine-tuning).
LLM_TRAIN_MFU: Mapping[Generation, Figure] = MappingProxyType(
    {
        Generation.HOPPER: Figure(
            0.40,
            "Dubey et al. 2024, 'The Llama 3 Herd of Models', Table 4: 38-43% BF16 MFU on "
            "8,192-16,384 H100 (Llama 3.1 405B); torchtitan measures 33-39% for Llama 3.1 8B on "
            "H100 (docs/benchmarks-protocol.md §2); 0.40 is the middle of these",
        ),
        Generation.AMPERE: Figure(
            0.45,
            "Korthikanti et al. 2022, 'Reducing Activation Recomputation in Large Transformer "
            "Models': 54.2% MFU for a 530B GPT on 2,240 A100 with selective recomputation, 42.1% "
            "with full recomputation; 0.45 lies between the two",
        ),
        Generation.VOLTA: Figure(
            0.24,
            "Shoeybi et al. 2019, 'Megatron-LM': 15.1 PFLOPS sustained on 512 V100 (29.5 TFLOPS "
            "per GPU, 24% of 125); Chowdhery et al. 2022, 'PaLM', Table 3: GPT-3 on V100 21.3%",
        ),
        Generation.ADA: Figure(
            0.35, f"{_NO_PUBLISHED}; PCIe-only cards, set below the Ampere figure", True
        ),
        Generation.TURING: Figure(0.20, f"{_NO_PUBLISHED}; set below the Volta figure", True),
        Generation.CDNA3: Figure(
            0.30, f"{_NO_PUBLISHED}; ROCm software stack less mature, 3/4 of Hopper", True
        ),
        Generation.ASCEND: Figure(
            0.30, f"{_NO_PUBLISHED}; CANN software stack, 3/4 of Hopper", True
        ),
        Generation.OTHER: Figure(
            0.25, f"{_NO_PUBLISHED}; young software stacks, below every other figure", True
        ),
    }
)

# Other classes as a multiple of the LLM training figure of the same generation.
_DERIVED: Mapping[WorkloadClass, Figure] = MappingProxyType(
    {
        WorkloadClass.LLM_LORA: Figure(
            0.83,
            "derived: Hu et al. 2021 ('LoRA', §4.2) measured LoRA 25% faster than full "
            "fine-tuning on GPT-3 175B while doing 4N instead of 6N FLOPs per token (1.5x fewer), "
            "so MFU is 1.25 / 1.5 = 0.83 of full fine-tuning",
        ),
        WorkloadClass.LLM_INFERENCE: Figure(
            1.0,
            "estimate: prefill (and decoding at large batch) runs the same large matrix products "
            "as a training forward pass, so the training MFU is used",
            True,
        ),
        WorkloadClass.SPEECH: Figure(
            0.7,
            "estimate: speech encoders are transformers or conformers on short sequences with "
            "convolution modules; 0.7 of the LLM figure",
            True,
        ),
        WorkloadClass.RECSYS: Figure(
            0.25,
            "estimate: DLRM steps are dominated by embedding lookups and all-to-all exchanges, "
            "not matrix products; 0.25 of the LLM figure",
            True,
        ),
    }
)

# Vision: measured on NVIDIA's reference ResNet-50 recipe, transferred to other parts by a roofline.
_RN50_TRAIN_FLOPS = 3 * 2 * 4.089e9
_DLE = (
    "NVIDIA DeepLearningExamples, PyTorch ResNet50 v1.5 README, training performance, 1 GPU, "
    "mixed precision"
)
VISION_MFU: Mapping[str, Figure] = MappingProxyType(
    {
        "A100-80GB": Figure(
            0.19,
            f"{_DLE}: 2,470 img/s on A100 80GB × {_RN50_TRAIN_FLOPS / 1e9:.1f} GFLOP per "
            "training image = 60.6 TFLOPS, 19% of 312",
        ),
        "V100-32GB": Figure(
            0.23,
            f"{_DLE}: 1,156 img/s on V100 32GB × {_RN50_TRAIN_FLOPS / 1e9:.1f} GFLOP = 28.4 "
            "TFLOPS, 23% of 125",
        ),
    }
)
_VISION_REFERENCE = "A100-80GB"


def _vision_mfu(model: AcceleratorModel) -> Figure:
    measured = VISION_MFU.get(model.name)
    if measured is not None:
        return measured
    ref = CATALOG[_VISION_REFERENCE]
    ratio = (model.memory_bandwidth_gbs / ref.memory_bandwidth_gbs) / (
        model.fp16_tflops / ref.fp16_tflops
    )
    reference = VISION_MFU[_VISION_REFERENCE]
    value = reference.value * min(1.0, ratio)
    return Figure(
        round(value, 3),
        "estimate: convolutional training is largely bandwidth-bound, so the A100 figure "
        f"({reference.value}) is scaled by this part's bandwidth-to-peak ratio relative to the "
        f"A100's ({ratio:.2f}, at most 1)",
        True,
    )


def mfu_figure(workload_class: WorkloadClass, model: AcceleratorModel) -> Figure:
    """Default MFU for one workload class on one accelerator, with its source."""
    if workload_class is WorkloadClass.VISION:
        return _vision_mfu(model)
    base = LLM_TRAIN_MFU[generation_of(model)]
    if workload_class is WorkloadClass.LLM_TRAIN:
        return base
    factor = _DERIVED[workload_class]
    return Figure(
        round(base.value * factor.value, 4),
        f"{factor.value} × LLM training MFU ({base.value}); {factor.source}; base: {base.source}",
        base.estimate or factor.estimate,
    )


_MBU_SOURCE = (
    "estimate: share of datasheet HBM bandwidth a serving engine sustains while streaming "
    "weights and KV cache (MBU as defined in Databricks/MosaicML, 'LLM Inference Performance "
    "Engineering: Best Practices', 2023)"
)
_YOUNG_STACKS = (Generation.ASCEND, Generation.OTHER)
MBU: Mapping[Generation, Figure] = MappingProxyType(
    {
        gen: Figure(0.5, f"{_MBU_SOURCE}; lower for younger software stacks", True)
        if gen in _YOUNG_STACKS
        else Figure(0.6, _MBU_SOURCE, True)
        for gen in Generation
    }
)


def mbu_figure(model: AcceleratorModel) -> Figure:
    return MBU[generation_of(model)]


SCALING_ALPHA = Figure(
    0.02,
    "estimate: each doubling of devices beyond one fast-link group costs about 2% of "
    "throughput (1/(1+α·log2(n/g))); for scale, Llama 3 (Table 4) lost 7% going from 8,192 to "
    "16,384 H100 at a fixed global batch, the costliest kind of doubling",
    True,
)
_FAST_LINKS = ("nvlink", "hccs", "infinity fabric", "mlu-link", "mtlink")
NODE_GROUP = 8


def fast_link_group(model: AcceleratorModel) -> int:
    """Devices that share a fast link: 8 on an NVLink/HCCS/... board, 2 over an NVLink bridge,
    1 for PCIe-only cards (read from the catalog's interconnect text)."""
    text = model.interconnect.casefold()
    if "bridge" in text:
        return 2
    if any(link in text for link in _FAST_LINKS):
        return NODE_GROUP
    return 1


def scaling_factor(count: int, *, group: int, alpha: float) -> float:
    """1 within one fast-link group; 1 / (1 + α·log2(count / group)) beyond it."""
    if count <= group:
        return 1.0
    return 1.0 / (1.0 + alpha * math.log2(count / group))
