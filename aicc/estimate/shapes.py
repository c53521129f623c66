"""Rules of thumb for dense transformers: shape from parameter count, and bytes held per parameter.

A tenant usually knows only "a 7B model". Memory checks and the bandwidth model of decoding need
more: the number of layers and the hidden size (for the KV cache), and how many bytes training keeps
per parameter. The rules here derive those from the parameter count; callers may give the real
figures instead, and every derived figure is reported as an assumption.
"""

from __future__ import annotations

from dataclasses import dataclass

from aicc.estimate.assumptions import Assumption

# N ≈ 12·L·d² for the non-embedding parameters of a GPT-style block (attention 4·d², MLP 8·d²).
PARAMS_PER_LAYER_D2 = 12
_PARAMS_RULE = "Kaplan et al. 2020, 'Scaling Laws for Neural Language Models', §2.1: N ≈ 12·L·d²"

# hidden size / layers: GPT-3 175B has d=12288, L=96; Llama 2 7B d=4096, L=32; both are 128.
ASPECT_RATIO = 128
_ASPECT_SOURCE = (
    "GPT-3 175B (Brown et al. 2020, Table 2.1: d=12288, 96 layers) and Llama 2 7B "
    "(Touvron et al. 2023: d=4096, 32 layers) both have d/L = 128"
)

# Mixed-precision Adam: fp16/bf16 weights (2) + gradients (2) + fp32 master weights, momentum
# and variance (4 + 4 + 4) = 16 bytes per parameter.
TRAIN_BYTES_PER_PARAM = 16.0
_ZERO_SOURCE = (
    "Rajbhandari et al. 2020, 'ZeRO: Memory Optimizations Toward Training Trillion Parameter "
    "Models', §3.1: mixed-precision Adam keeps 16 bytes per parameter (2Ψ + 2Ψ + 12Ψ)"
)

HALF_PRECISION_BYTES = 2.0


@dataclass(frozen=True, slots=True)
class Shape:
    """Layers and hidden size of a dense transformer, and whether they were derived."""

    layers: int
    hidden: int
    derived: bool

    def assumptions(self, params: float) -> list[Assumption]:
        if not self.derived:
            return [
                Assumption(name="layers", value=self.layers, source="given"),
                Assumption(name="hidden_size", value=self.hidden, source="given"),
            ]
        note = f"derived from {params:.3g} parameters with d/L = {ASPECT_RATIO}"
        return [
            Assumption(
                name="hidden_size",
                value=self.hidden,
                source=f"{note}; {_PARAMS_RULE}; {_ASPECT_SOURCE}",
                estimate=True,
            ),
            Assumption(name="layers", value=self.layers, source=note, estimate=True),
        ]


def transformer_shape(params: float, *, layers: int | None, hidden: int | None) -> Shape:
    """The shape given, completed from N ≈ 12·L·d² and d = 128·L where a figure is missing."""
    if layers is not None and hidden is not None:
        return Shape(layers=layers, hidden=hidden, derived=False)
    if hidden is not None:
        return Shape(layers=max(1, round(params / (12 * hidden**2))), hidden=hidden, derived=True)
    if layers is not None:
        derived_hidden = max(1, round((params / (12 * layers)) ** 0.5))
        return Shape(layers=layers, hidden=derived_hidden, derived=True)
    d = (params * ASPECT_RATIO / PARAMS_PER_LAYER_D2) ** (1 / 3)
    return Shape(layers=max(1, round(d / ASPECT_RATIO)), hidden=max(1, round(d)), derived=True)


def kv_bytes_per_token(shape: Shape, *, kv_heads_fraction: float, bytes_per_value: float) -> float:
    """Bytes of KV cache one token occupies: a key and a value per layer, each of width
    `hidden × kv_heads_fraction` (1 for multi-head attention, n_kv_heads / n_heads for GQA)."""
    return 2.0 * shape.layers * shape.hidden * kv_heads_fraction * bytes_per_value


def training_state_assumption(bytes_per_param: float) -> Assumption:
    source = _ZERO_SOURCE if bytes_per_param == TRAIN_BYTES_PER_PARAM else "given"
    return Assumption(
        name="training_bytes_per_param", value=bytes_per_param, unit="B", source=source
    )
