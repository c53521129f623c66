"""Accelerator catalog: the static facts the rest of aicc reasons about.

Scheduling, quotas and billing all need to compare very different chips, so every model is
reduced to a handful of peak figures taken from vendor material.  The project's common unit
of compute is dense FP16/BF16 PFLOPS (``AcceleratorModel.pflops``): NVIDIA quotes Hopper,
Ampere and Ada tensor figures "with sparsity", so those are halved here, and a figure that a
vendor does not publish is recorded as an estimate together with the reasoning behind it.

Reading the names people and tools write for a model is `core/accelerator_names.py`. This
module is pure data: no I/O, standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

__all__ = [
    "CATALOG",
    "FIGURE_FIELDS",
    "AcceleratorKind",
    "AcceleratorModel",
    "Source",
    "Vendor",
    "check_mig_profile",
    "mig_milli",
    "mig_models",
    "visible_devices_env",
]


class Vendor(StrEnum):
    """Accelerator vendors; the value is the stable identifier stored in the database."""

    NVIDIA = "nvidia"
    HUAWEI = "huawei"
    CAMBRICON = "cambricon"
    HYGON = "hygon"
    KUNLUNXIN = "kunlunxin"
    AMD = "amd"
    MOORE_THREADS = "moore_threads"


AcceleratorKind = Literal["gpu", "npu", "mlu", "dcu", "xpu"]


# How a process is told which devices it owns: each vendor's runtime reads its own variable, so
# an executor must set the right one or a job sees every device on the node. (What an engine
# calls the devices, such as Kubernetes' extended resources, is the executor's business.)
_VISIBLE_DEVICES_ENV: Mapping[Vendor, str] = MappingProxyType(
    {
        Vendor.NVIDIA: "CUDA_VISIBLE_DEVICES",
        Vendor.HUAWEI: "ASCEND_RT_VISIBLE_DEVICES",
        Vendor.CAMBRICON: "MLU_VISIBLE_DEVICES",
        Vendor.HYGON: "HIP_VISIBLE_DEVICES",
        Vendor.KUNLUNXIN: "XPU_VISIBLE_DEVICES",
        Vendor.AMD: "HIP_VISIBLE_DEVICES",
        Vendor.MOORE_THREADS: "MUSA_VISIBLE_DEVICES",
    }
)

# The figures every model must carry, each backed by a Source.
FIGURE_FIELDS: tuple[str, ...] = (
    "memory_gib",
    "memory_bandwidth_gbs",
    "fp16_tflops",
    "fp32_tflops",
    "interconnect",
    "tdp_w",
)

_MIG_PROFILE = re.compile(r"^[1-9]g\.[1-9][0-9]*gb$")


@dataclass(frozen=True, slots=True)
class Source:
    """Where figures come from, so a disputed number can be traced and corrected.

    ``covers`` names the figures this reference backs; an empty tuple means "every figure not
    claimed by a more specific source".  ``estimate`` marks numbers the vendor does not
    publish; ``note`` then says how they were derived.
    """

    reference: str
    covers: tuple[str, ...] = ()
    estimate: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.covers) - set(FIGURE_FIELDS)
        if unknown:
            raise ValueError(f"source covers unknown figures: {sorted(unknown)}")
        if not self.reference.strip():
            raise ValueError("source reference must not be empty")
        if self.estimate and not self.note.strip():
            raise ValueError("an estimate must explain its reasoning in note")


@dataclass(frozen=True, slots=True)
class AcceleratorModel:
    """One accelerator SKU with the peak figures scheduling and billing depend on.

    Memory is the vendor's nominal capacity (DRAM is sized in binary units, so "80 GB" HBM is
    80 GiB); bandwidth is in GB/s; ``fp16_tflops`` is the dense FP16/BF16 matrix peak without
    sparsity; ``fp32_tflops`` is the non-tensor FP32 peak.
    """

    name: str
    vendor: Vendor
    kind: AcceleratorKind
    memory_gib: int
    memory_bandwidth_gbs: float
    fp16_tflops: float
    fp32_tflops: float
    interconnect: str
    tdp_w: int
    sources: tuple[Source, ...]
    mig_profiles: tuple[str, ...] = ()
    nvml_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip():
            raise ValueError(f"invalid model name {self.name!r}")
        numbers = {
            "memory_gib": self.memory_gib,
            "memory_bandwidth_gbs": self.memory_bandwidth_gbs,
            "fp16_tflops": self.fp16_tflops,
            "fp32_tflops": self.fp32_tflops,
            "tdp_w": self.tdp_w,
        }
        for figure, value in numbers.items():
            if not value > 0:
                raise ValueError(f"{self.name}: {figure} must be positive, got {value}")
        if not self.interconnect.strip():
            raise ValueError(f"{self.name}: interconnect must be described")
        for profile in self.mig_profiles:
            if not _MIG_PROFILE.match(profile):
                raise ValueError(f"{self.name}: malformed MIG profile {profile!r}")
        if self.mig_profiles and self.vendor is not Vendor.NVIDIA:
            raise ValueError(f"{self.name}: MIG profiles exist only on NVIDIA parts")
        if self.nvml_names and self.vendor is not Vendor.NVIDIA:
            raise ValueError(f"{self.name}: NVML names exist only on NVIDIA parts")
        for figure in FIGURE_FIELDS:
            self.source_for(figure)  # raises when a figure has no source

    @property
    def pflops(self) -> float:
        """Dense FP16/BF16 PFLOPS, the unit quotas and bills are expressed in."""
        return self.fp16_tflops / 1000.0

    def source_for(self, figure: str) -> Source:
        """The source backing ``figure``: a specific claim wins over a catch-all one."""
        if figure not in FIGURE_FIELDS:
            raise KeyError(f"{figure!r} is not a catalog figure; figures are {FIGURE_FIELDS}")
        for source in self.sources:
            if figure in source.covers:
                return source
        for source in self.sources:
            if not source.covers:
                return source
        raise ValueError(f"{self.name}: figure {figure!r} has no source")

    def is_estimated(self, figure: str) -> bool:
        """Whether ``figure`` is our estimate rather than a published vendor number."""
        return self.source_for(figure).estimate


def visible_devices_env(vendor: Vendor | str) -> str:
    """Environment variable that restricts a process to the devices it was allocated."""
    return _VISIBLE_DEVICES_ENV[_as_vendor(vendor)]


def check_mig_profile(model: AcceleratorModel, profile: str) -> None:
    """Raise ValueError naming what `model` offers when it cannot be cut into `profile` slices,
    so a job spec or an inventory with a wrong profile is fixable from the message alone."""
    if profile not in model.mig_profiles:
        offered = ", ".join(model.mig_profiles) or "none"
        raise ValueError(f"{model.name} has no MIG profile {profile!r} (offers: {offered})")


def mig_milli(profile: str) -> int:
    """A MIG slice's share of its device in milli: `3g.40gb` is 3 of 7 compute slices."""
    return int(profile.split("g.", 1)[0]) * 1000 // 7


def mig_models(profile: str) -> tuple[AcceleratorModel, ...]:
    """Every model that can be partitioned into slices of `profile` (catalog order)."""
    return tuple(m for m in CATALOG.values() if profile in m.mig_profiles)


def _as_vendor(vendor: Vendor | str) -> Vendor:
    if isinstance(vendor, Vendor):
        return vendor
    key = vendor.strip().casefold().replace("-", "_").replace(" ", "_")
    try:
        return Vendor(key)
    except ValueError:
        known = ", ".join(v.value for v in Vendor)
        raise ValueError(f"unknown vendor {vendor!r}; known vendors: {known}") from None


# --------------------------------------------------------------------------------------------
# Catalog data.  NVIDIA datasheets print tensor peaks with 2:4 sparsity for Ampere and later;
# every such number below is the printed value halved.


def _sheet(reference: str) -> Source:
    return Source(reference=reference)


_MIG_A100_40 = ("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")
_MIG_80 = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
_MIG_H100_94 = ("1g.12gb", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb")
_MIG_H20 = ("1g.12gb", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb")
_MIG_H200 = ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb")

_NV = "https://www.nvidia.com/en-us/data-center"
_H100_SHEET = f"NVIDIA H100 Tensor Core GPU datasheet, {_NV}/h100/"
_A100_SHEET = f"NVIDIA A100 Tensor Core GPU datasheet, {_NV}/a100/"
_A800_SHEET = "NVIDIA A800 Tensor Core GPU datasheet (China-market A100 variant)"
_H800_SHEET = "NVIDIA H800 Tensor Core GPU product brief (China-market H100 variant)"

_MODELS: tuple[AcceleratorModel, ...] = (
    # ---------------------------------------------------------------- NVIDIA Hopper
    AcceleratorModel(
        name="H100-SXM",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=80,
        memory_bandwidth_gbs=3350.0,
        fp16_tflops=989.4,  # datasheet: 1,979 with sparsity
        fp32_tflops=67.0,
        interconnect="NVLink4 900 GB/s",
        tdp_w=700,
        mig_profiles=_MIG_80,
        nvml_names=("NVIDIA H100 80GB HBM3",),
        sources=(_sheet(_H100_SHEET + " (H100 SXM column)"),),
    ),
    AcceleratorModel(
        name="H100-PCIe",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=80,
        memory_bandwidth_gbs=2000.0,
        fp16_tflops=756.5,  # datasheet: 1,513 with sparsity
        fp32_tflops=51.0,
        interconnect="PCIe Gen5 128 GB/s; NVLink bridge 600 GB/s",
        tdp_w=350,
        mig_profiles=_MIG_80,
        nvml_names=("NVIDIA H100 PCIe",),
        sources=(_sheet(_H100_SHEET + " (H100 PCIe column, first edition)"),),
    ),
    AcceleratorModel(
        name="H100-NVL",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=94,
        memory_bandwidth_gbs=3900.0,
        fp16_tflops=835.5,  # datasheet: 1,671 with sparsity
        fp32_tflops=60.0,
        interconnect="PCIe Gen5 128 GB/s; NVLink bridge 600 GB/s",
        tdp_w=400,
        mig_profiles=_MIG_H100_94,
        nvml_names=("NVIDIA H100 NVL",),
        sources=(_sheet(_H100_SHEET + " (H100 NVL column, per GPU; TDP is the top of 350-400 W)"),),
    ),
    AcceleratorModel(
        name="H200",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=141,
        memory_bandwidth_gbs=4800.0,
        fp16_tflops=989.4,  # same GH100 compute as H100 SXM; datasheet: 1,979 with sparsity
        fp32_tflops=67.0,
        interconnect="NVLink4 900 GB/s",
        tdp_w=700,
        mig_profiles=_MIG_H200,
        nvml_names=("NVIDIA H200",),
        sources=(_sheet(f"NVIDIA H200 Tensor Core GPU datasheet (H200 SXM column), {_NV}/h200/"),),
    ),
    AcceleratorModel(
        name="H20",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=96,
        memory_bandwidth_gbs=4000.0,
        fp16_tflops=148.0,  # product brief: 296 with sparsity
        fp32_tflops=44.0,
        interconnect="NVLink4 900 GB/s",
        tdp_w=400,
        mig_profiles=_MIG_H20,
        nvml_names=("NVIDIA H20",),
        sources=(
            _sheet(
                "NVIDIA H20 product brief as distributed to China-market OEMs "
                "(no public nvidia.com datasheet)"
            ),
        ),
    ),
    AcceleratorModel(
        name="H800",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=80,
        memory_bandwidth_gbs=3350.0,
        fp16_tflops=989.4,  # H100 SXM compute; only NVLink is cut down
        fp32_tflops=67.0,
        interconnect="NVLink4 400 GB/s",
        tdp_w=700,
        mig_profiles=_MIG_80,
        nvml_names=("NVIDIA H800", "NVIDIA H800 80GB HBM3"),
        sources=(_sheet(_H800_SHEET + " (SXM5)"),),
    ),
    AcceleratorModel(
        name="H800-PCIe",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=80,
        memory_bandwidth_gbs=2000.0,
        fp16_tflops=756.5,  # H100 PCIe compute; only NVLink is cut down
        fp32_tflops=51.0,
        interconnect="PCIe Gen5 128 GB/s; NVLink bridge 400 GB/s",
        tdp_w=350,
        mig_profiles=_MIG_80,
        nvml_names=("NVIDIA H800 PCIe",),
        sources=(_sheet(_H800_SHEET + " (PCIe)"),),
    ),
    # ---------------------------------------------------------------- NVIDIA Ampere
    AcceleratorModel(
        name="A100-80GB",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=80,
        memory_bandwidth_gbs=2039.0,
        fp16_tflops=312.0,  # datasheet: 624 with sparsity
        fp32_tflops=19.5,
        interconnect="NVLink3 600 GB/s",
        tdp_w=400,
        mig_profiles=_MIG_80,
        nvml_names=("NVIDIA A100-SXM4-80GB",),
        sources=(_sheet(_A100_SHEET + " (A100 80GB SXM column)"),),
    ),
    AcceleratorModel(
        name="A100-80GB-PCIe",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=80,
        memory_bandwidth_gbs=1935.0,
        fp16_tflops=312.0,
        fp32_tflops=19.5,
        interconnect="PCIe Gen4 64 GB/s; NVLink bridge 600 GB/s",
        tdp_w=300,
        mig_profiles=_MIG_80,
        nvml_names=("NVIDIA A100 80GB PCIe",),
        sources=(_sheet(_A100_SHEET + " (A100 80GB PCIe column)"),),
    ),
    AcceleratorModel(
        name="A100-40GB",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=40,
        memory_bandwidth_gbs=1555.0,
        fp16_tflops=312.0,
        fp32_tflops=19.5,
        interconnect="NVLink3 600 GB/s",
        tdp_w=400,
        mig_profiles=_MIG_A100_40,
        nvml_names=("NVIDIA A100-SXM4-40GB",),
        sources=(_sheet(_A100_SHEET + " (A100 40GB SXM column, 2020 edition)"),),
    ),
    AcceleratorModel(
        name="A100-40GB-PCIe",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=40,
        memory_bandwidth_gbs=1555.0,
        fp16_tflops=312.0,
        fp32_tflops=19.5,
        interconnect="PCIe Gen4 64 GB/s; NVLink bridge 600 GB/s",
        tdp_w=250,
        mig_profiles=_MIG_A100_40,
        nvml_names=("NVIDIA A100-PCIE-40GB",),
        sources=(_sheet(_A100_SHEET + " (A100 40GB PCIe column, 2020 edition)"),),
    ),
    AcceleratorModel(
        name="A800-80GB",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=80,
        memory_bandwidth_gbs=2039.0,
        fp16_tflops=312.0,  # A100 compute; only NVLink is cut down
        fp32_tflops=19.5,
        interconnect="NVLink3 400 GB/s",
        tdp_w=400,
        mig_profiles=_MIG_80,
        nvml_names=("NVIDIA A800-SXM4-80GB",),
        sources=(_sheet(_A800_SHEET + " (A800 80GB SXM column)"),),
    ),
    AcceleratorModel(
        name="A800-80GB-PCIe",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=80,
        memory_bandwidth_gbs=1935.0,
        fp16_tflops=312.0,
        fp32_tflops=19.5,
        interconnect="PCIe Gen4 64 GB/s; NVLink bridge 400 GB/s",
        tdp_w=300,
        mig_profiles=_MIG_80,
        nvml_names=("NVIDIA A800 80GB PCIe",),
        sources=(_sheet(_A800_SHEET + " (A800 80GB PCIe column)"),),
    ),
    AcceleratorModel(
        name="A10",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=24,
        memory_bandwidth_gbs=600.0,
        fp16_tflops=125.0,  # datasheet: 250 with sparsity
        fp32_tflops=31.2,
        interconnect="PCIe Gen4 64 GB/s",
        tdp_w=150,
        nvml_names=("NVIDIA A10",),
        sources=(_sheet(f"NVIDIA A10 Tensor Core GPU datasheet, {_NV}/products/a10-gpu/"),),
    ),
    # ---------------------------------------------------------------- NVIDIA Ada Lovelace
    AcceleratorModel(
        name="L40S",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=48,
        memory_bandwidth_gbs=864.0,
        fp16_tflops=362.05,  # datasheet: 733 with sparsity
        fp32_tflops=91.6,
        interconnect="PCIe Gen4 64 GB/s",
        tdp_w=350,
        nvml_names=("NVIDIA L40S",),
        sources=(_sheet(f"NVIDIA L40S GPU datasheet, {_NV}/l40s/"),),
    ),
    AcceleratorModel(
        name="L20",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=48,
        memory_bandwidth_gbs=864.0,
        fp16_tflops=119.5,  # product brief: 239 with sparsity
        fp32_tflops=59.8,
        interconnect="PCIe Gen4 64 GB/s",
        tdp_w=275,
        nvml_names=("NVIDIA L20",),
        sources=(
            _sheet(
                "NVIDIA L20 product brief as distributed to China-market OEMs "
                "(no public nvidia.com datasheet)"
            ),
        ),
    ),
    AcceleratorModel(
        name="L4",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=24,
        memory_bandwidth_gbs=300.0,
        fp16_tflops=121.0,  # datasheet: 242 with sparsity
        fp32_tflops=30.3,
        interconnect="PCIe Gen4 64 GB/s",
        tdp_w=72,
        nvml_names=("NVIDIA L4",),
        sources=(_sheet(f"NVIDIA L4 Tensor Core GPU datasheet, {_NV}/l4/"),),
    ),
    AcceleratorModel(
        name="RTX-4090",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=24,
        memory_bandwidth_gbs=1008.0,
        # GeForce tensor cores run FP16 with FP32 accumulate (the mode BF16 training uses) at
        # half the FP16-accumulate rate: 165.2 dense, vs 330.3 with FP16 accumulate.
        fp16_tflops=165.2,
        fp32_tflops=82.6,
        interconnect="PCIe Gen4 64 GB/s",
        tdp_w=450,
        nvml_names=("NVIDIA GeForce RTX 4090",),
        sources=(
            _sheet(
                "NVIDIA Ada Lovelace GPU architecture whitepaper, appendix table for "
                "GeForce RTX 4090 (FP16/BF16 tensor with FP32 accumulate, dense)"
            ),
        ),
    ),
    # ---------------------------------------------------------------- NVIDIA Volta / Turing
    AcceleratorModel(
        name="V100-32GB",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=32,
        memory_bandwidth_gbs=900.0,
        fp16_tflops=125.0,  # tensor-core FP16; Volta has no BF16 and no sparsity
        fp32_tflops=15.7,
        interconnect="NVLink2 300 GB/s",
        tdp_w=300,
        nvml_names=("Tesla V100-SXM2-32GB",),
        sources=(_sheet("NVIDIA Tesla V100 GPU datasheet (V100 SXM2 column)"),),
    ),
    AcceleratorModel(
        name="T4",
        vendor=Vendor.NVIDIA,
        kind="gpu",
        memory_gib=16,
        memory_bandwidth_gbs=320.0,
        fp16_tflops=65.0,  # mixed-precision FP16/FP32 tensor; Turing has no BF16
        fp32_tflops=8.1,
        interconnect="PCIe Gen3 32 GB/s",
        tdp_w=70,
        nvml_names=("Tesla T4",),
        sources=(_sheet(f"NVIDIA T4 Tensor Core GPU datasheet, {_NV}/tesla-t4/"),),
    ),
    # ---------------------------------------------------------------- AMD
    AcceleratorModel(
        name="MI300X",
        vendor=Vendor.AMD,
        kind="gpu",
        memory_gib=192,
        memory_bandwidth_gbs=5300.0,
        fp16_tflops=1307.4,  # datasheet: 2,614.9 with sparsity
        fp32_tflops=163.4,  # vector FP32
        interconnect="Infinity Fabric 896 GB/s; PCIe Gen5 128 GB/s",
        tdp_w=750,
        sources=(
            _sheet(
                "AMD Instinct MI300X accelerator datasheet, "
                "https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html"
            ),
        ),
    ),
    # ---------------------------------------------------------------- Huawei Ascend
    AcceleratorModel(
        name="Ascend-910B",
        vendor=Vendor.HUAWEI,
        kind="npu",
        memory_gib=64,
        memory_bandwidth_gbs=1600.0,
        fp16_tflops=313.0,
        fp32_tflops=78.3,
        interconnect="HCCS 392 GB/s (7 links x 56 GB/s)",
        tdp_w=400,
        sources=(
            Source(
                reference="Huawei Atlas 800T A2 training server documentation (64 GB HBM2e)",
                covers=("memory_gib",),
            ),
            Source(
                reference="estimate from public reporting; Huawei publishes no chip datasheet",
                covers=("memory_bandwidth_gbs", "fp16_tflops", "interconnect", "tdp_w"),
                estimate=True,
                note=(
                    "910B ships in bins (910B1..910B4) whose FP16 peaks are reported between "
                    "about 280 and 376 TFLOPS; 313 is the commonly quoted mid-bin (910B3) value. "
                    "1.6 TB/s HBM2e, 7 HCCS links of 56 GB/s and a ~400 W module are the "
                    "figures most often cited for Atlas 800T A2 nodes."
                ),
            ),
            Source(
                reference="estimate; no published FP32 peak",
                covers=("fp32_tflops",),
                estimate=True,
                note="taken as a quarter of the FP16 cube peak (313 / 4), rounded",
            ),
        ),
    ),
    AcceleratorModel(
        name="Ascend-910A",
        vendor=Vendor.HUAWEI,
        kind="npu",
        memory_gib=32,
        memory_bandwidth_gbs=1200.0,
        fp16_tflops=256.0,
        fp32_tflops=64.0,
        interconnect="HCCS; PCIe Gen4 64 GB/s",
        tdp_w=310,
        sources=(
            Source(
                reference=(
                    "Huawei Ascend 910 launch announcement, August 2019 "
                    "(256 TFLOPS FP16, 310 W measured)"
                ),
                covers=("fp16_tflops", "tdp_w"),
            ),
            Source(
                reference="estimate from Atlas 300T / Atlas 800 (model 9000) public material",
                covers=("memory_gib", "memory_bandwidth_gbs", "interconnect"),
                estimate=True,
                note="32 GB of HBM2 at about 1.2 TB/s is the configuration usually reported",
            ),
            Source(
                reference="estimate; no published FP32 peak",
                covers=("fp32_tflops",),
                estimate=True,
                note="taken as a quarter of the FP16 cube peak (256 / 4)",
            ),
        ),
    ),
    AcceleratorModel(
        name="Ascend-310P",
        vendor=Vendor.HUAWEI,
        kind="npu",
        memory_gib=24,
        memory_bandwidth_gbs=204.8,
        fp16_tflops=70.0,
        fp32_tflops=17.5,
        interconnect="PCIe Gen4 64 GB/s",
        tdp_w=72,
        sources=(
            Source(
                reference=(
                    "Huawei Atlas 300I Pro inference card datasheet (one Ascend 310P: 70 TFLOPS "
                    "FP16, 24 GB LPDDR4X at 204.8 GB/s, PCIe 4.0 x16, 72 W), "
                    "https://www.hiascend.com/hardware/accelerator-card"
                ),
            ),
            Source(
                reference="estimate; no published FP32 peak",
                covers=("fp32_tflops",),
                estimate=True,
                note="taken as a quarter of the FP16 peak (70 / 4), as for the 910 parts",
            ),
        ),
    ),
    AcceleratorModel(
        name="Ascend-310",
        vendor=Vendor.HUAWEI,
        kind="npu",
        memory_gib=8,
        memory_bandwidth_gbs=51.2,
        fp16_tflops=8.0,
        fp32_tflops=2.0,
        interconnect="PCIe Gen3 (four chips share the card's x16)",
        tdp_w=8,
        sources=(
            Source(
                reference=(
                    "Huawei Ascend 310 AI processor specification (8 TFLOPS FP16, 16 TOPS INT8, "
                    "8 W), https://www.hiascend.com/"
                ),
                covers=("fp16_tflops", "tdp_w"),
            ),
            Source(
                reference=(
                    "Huawei Atlas 300I inference card (model 3000) datasheet: four Ascend 310, "
                    "32 GB LPDDR4X at 204.8 GB/s, PCIe 3.0 x16"
                ),
                covers=("memory_gib", "memory_bandwidth_gbs", "interconnect"),
                estimate=True,
                note="the card's memory and bandwidth divided among its four chips",
            ),
            Source(
                reference="estimate; no published FP32 peak",
                covers=("fp32_tflops",),
                estimate=True,
                note="taken as a quarter of the FP16 peak (8 / 4), as for the 910 parts",
            ),
        ),
    ),
    # ---------------------------------------------------------------- Cambricon
    AcceleratorModel(
        name="MLU370-X8",
        vendor=Vendor.CAMBRICON,
        kind="mlu",
        memory_gib=48,
        memory_bandwidth_gbs=614.4,
        fp16_tflops=96.0,  # FP16 and BF16 are both quoted at 96 TFLOPS
        fp32_tflops=32.0,
        interconnect="MLU-Link 200 GB/s; PCIe Gen4 64 GB/s",
        tdp_w=250,
        sources=(
            _sheet(
                "Cambricon MLU370-X8 product page and launch announcement (March 2022), "
                "https://www.cambricon.com/"
            ),
        ),
    ),
    # ---------------------------------------------------------------- Hygon
    AcceleratorModel(
        name="DCU-Z100",
        vendor=Vendor.HYGON,
        kind="dcu",
        memory_gib=32,
        memory_bandwidth_gbs=1024.0,
        fp16_tflops=23.0,
        fp32_tflops=11.5,
        interconnect="PCIe Gen4 64 GB/s",
        tdp_w=300,
        sources=(
            Source(
                reference="Hygon DCU Z100 public product material (32 GB HBM2)",
                covers=("memory_gib",),
            ),
            Source(
                reference="estimate; Hygon publishes few Z100 figures",
                estimate=True,
                note=(
                    "Z100 is a GCN-lineage design without matrix units: 60 CUs x 64 lanes x "
                    "2 FLOP x ~1.5 GHz gives ~11.5 TFLOPS FP32, packed FP16 doubles it to ~23; "
                    "4096-bit HBM2 at 2 Gbps gives 1024 GB/s; 300 W and PCIe Gen4 match the "
                    "class of card."
                ),
            ),
        ),
    ),
    # ---------------------------------------------------------------- Kunlunxin
    AcceleratorModel(
        name="Kunlun-R200",
        vendor=Vendor.KUNLUNXIN,
        kind="xpu",
        memory_gib=32,
        memory_bandwidth_gbs=512.0,
        fp16_tflops=128.0,
        fp32_tflops=32.0,
        interconnect="PCIe Gen4 64 GB/s",
        tdp_w=150,
        sources=(
            _sheet(
                "Kunlunxin R200 AI accelerator card product page (2nd-gen XPU-R), "
                "https://www.kunlunxin.com/"
            ),
        ),
    ),
    # ---------------------------------------------------------------- Moore Threads
    AcceleratorModel(
        name="MTT-S4000",
        vendor=Vendor.MOORE_THREADS,
        kind="gpu",
        memory_gib=48,
        memory_bandwidth_gbs=768.0,
        fp16_tflops=100.0,
        fp32_tflops=25.0,
        interconnect="MTLink 240 GB/s; PCIe Gen5 128 GB/s",
        tdp_w=450,
        sources=(
            Source(
                reference="Moore Threads MTT S4000 product page, https://www.mthreads.com/",
                covers=("memory_gib", "memory_bandwidth_gbs", "fp32_tflops", "interconnect"),
            ),
            Source(
                reference="Moore Threads MTT S4000 product page, https://www.mthreads.com/",
                covers=("fp16_tflops", "tdp_w"),
                estimate=True,
                note=(
                    "the page quotes 100 TFLOPS FP16/BF16 without saying whether sparsity is "
                    "included; taken as dense. 450 W is the board power reported at launch."
                ),
            ),
        ),
    ),
)


def _build_catalog(models: tuple[AcceleratorModel, ...]) -> Mapping[str, AcceleratorModel]:
    table: dict[str, AcceleratorModel] = {}
    for model in models:
        if model.name.casefold() in {key.casefold() for key in table}:
            raise ValueError(f"duplicate catalog key {model.name!r}")
        table[model.name] = model
    return MappingProxyType(table)


CATALOG: Mapping[str, AcceleratorModel] = _build_catalog(_MODELS)
"""Every known model by stable key; read-only so no caller can edit shared facts."""


def _check_tables() -> None:
    missing = set(Vendor) - set(_VISIBLE_DEVICES_ENV)
    if missing:
        raise ValueError(f"vendors without runtime data: {sorted(missing)}")


_check_tables()
