"""Published sizes of common non-LLM models: FLOPs per sample, parameters, frame rates.

Vision figures are per image at the family's reference resolution. Two counting conventions
exist: torchvision's "GFLOPS" count one fused multiply-add as one operation (its ResNet-50 figure,
4.09, is the 4.1 GMACs timm reports), while Ultralytics multiplies thop's MAC count by two. We
store what the source prints and say which convention it uses; `forward_flops` is always real
floating-point operations (one multiply-add = 2 FLOPs).

A training step costs about three forward passes (the backward pass computes gradients with
respect to both activations and weights, each about as costly as the forward pass).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

VisionTask = Literal["classification", "detection", "instance-segmentation", "segmentation"]

TRAIN_FORWARD_MULTIPLE = 3.0
TRAIN_MULTIPLE_SOURCE = (
    "forward + backward ≈ 3 × forward (Kaplan et al. 2020 §2.1; Amodei & Hernandez 2018, "
    "'AI and Compute', appendix)"
)

_TORCHVISION = (
    "torchvision model metadata (`_ops`, `num_params`), pytorch.org/vision/stable/models.html; "
    "GFLOPS there count a multiply-add as one operation"
)
_ULTRALYTICS = (
    "Ultralytics YOLOv8 docs, detection model table at 640 px "
    "(docs.ultralytics.com/models/yolov8); FLOPs there are 2 × thop MACs"
)


@dataclass(frozen=True, slots=True)
class VisionFamily:
    name: str
    task: VisionTask
    published_gops: float  # as printed by the source
    counts_macs: bool  # True when the source counts a multiply-add as one operation
    params: float
    image_size: int  # reference resolution (square side, or the short side for detectors)
    source: str

    @property
    def forward_flops(self) -> float:
        return self.published_gops * 1e9 * (2.0 if self.counts_macs else 1.0)


def _tv(name: str, task: VisionTask, gops: float, params: float, size: int) -> VisionFamily:
    return VisionFamily(name, task, gops, True, params, size, _TORCHVISION)


def _yolo(name: str, gflops: float, params_m: float) -> VisionFamily:
    return VisionFamily(name, "detection", gflops, False, params_m * 1e6, 640, _ULTRALYTICS)


VISION_FAMILIES: Mapping[str, VisionFamily] = MappingProxyType(
    {
        f.name: f
        for f in (
            _tv("resnet-50", "classification", 4.089, 25_557_032, 224),
            _tv("vit-b-16", "classification", 17.564, 86_567_656, 224),
            _tv("faster-rcnn-r50-fpn", "detection", 134.38, 41_755_286, 800),
            _tv("mask-rcnn-r50-fpn", "instance-segmentation", 134.38, 44_401_393, 800),
            _tv("deeplabv3-r50", "segmentation", 178.722, 42_004_074, 520),
            _tv("fcn-r50", "segmentation", 152.717, 35_322_218, 520),
            _yolo("yolov8n", 8.7, 3.2),
            _yolo("yolov8s", 28.6, 11.2),
            _yolo("yolov8m", 78.9, 25.9),
            _yolo("yolov8l", 165.2, 43.7),
            _yolo("yolov8x", 257.8, 68.2),
        )
    }
)


@dataclass(frozen=True, slots=True)
class SpeechFamily:
    """A speech encoder: parameters applied per frame, and frames per second of audio."""

    name: str
    params: float
    frames_per_second: float
    per_frame_share: float  # fraction of the parameters applied at the frame rate
    source: str


_CONFORMER = (
    "Gulati et al. 2020, 'Conformer', Table 1 (parameters); 10 ms features with 4x convolutional "
    "subsampling give 25 encoder frames per second"
)
_WAV2VEC2 = (
    "Baevski et al. 2020, 'wav2vec 2.0' (95M BASE, 317M LARGE); the feature encoder emits a frame "
    "every 20 ms (50 per second); its convolution FLOPs are not counted"
)
_WHISPER = (
    "Radford et al. 2022, 'Whisper', Table 1 (parameters); 30 s of audio become 1500 encoder "
    "positions (50 per second); encoder and decoder have the same depth and width, so half the "
    "parameters run per frame; the decoder runs at the text rate and is not counted"
)

SPEECH_FAMILIES: Mapping[str, SpeechFamily] = MappingProxyType(
    {
        f.name: f
        for f in (
            SpeechFamily("conformer-s", 10.3e6, 25.0, 1.0, _CONFORMER),
            SpeechFamily("conformer-m", 30.7e6, 25.0, 1.0, _CONFORMER),
            SpeechFamily("conformer-l", 118.8e6, 25.0, 1.0, _CONFORMER),
            SpeechFamily("wav2vec2-base", 95e6, 50.0, 1.0, _WAV2VEC2),
            SpeechFamily("wav2vec2-large", 317e6, 50.0, 1.0, _WAV2VEC2),
            SpeechFamily("whisper-small", 244e6, 50.0, 0.5, _WHISPER),
            SpeechFamily("whisper-medium", 769e6, 50.0, 0.5, _WHISPER),
            SpeechFamily("whisper-large", 1550e6, 50.0, 0.5, _WHISPER),
        )
    }
)


@dataclass(frozen=True, slots=True)
class RecsysFamily:
    """A DLRM-style model: dense MLP parameters (compute) and embedding parameters (memory)."""

    name: str
    dense_params: float
    embedding_params: float
    source: str


_DLRM = (
    "MLPerf DLRM reference on Criteo Terabyte (facebookresearch/dlrm bench/run_and_time.sh): "
    "bottom MLP 13-512-256-128, top MLP 1024-1024-512-256-1 (input 479 = 128 + 27·26/2 "
    "interactions), 26 tables of dimension 128 with 187,767,399 rows in all; parameter counts "
    "are ours, from that configuration"
)

RECSYS_FAMILIES: Mapping[str, RecsysFamily] = MappingProxyType(
    {"dlrm-mlperf": RecsysFamily("dlrm-mlperf", 2_368_897, 24_034_227_072, _DLRM)}
)


def unknown_family(kind: str, name: str, known: Mapping[str, object]) -> str:
    return f"unknown {kind} model family {name!r}; known: {', '.join(known)}"
