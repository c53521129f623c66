"""Tests for the accelerator catalog: coverage, figure sanity, lookups and NVML mapping."""

from __future__ import annotations

import dataclasses

import pytest

from aicc.core.accelerator_names import from_nvml_name, lookup
from aicc.core.catalog import (
    CATALOG,
    FIGURE_FIELDS,
    AcceleratorModel,
    Source,
    Vendor,
    visible_devices_env,
)

REQUIRED_MODELS = (
    "H100-SXM",
    "H100-PCIe",
    "H200",
    "H20",
    "H800",
    "A100-80GB",
    "A100-40GB",
    "A800-80GB",
    "L40S",
    "L20",
    "A10",
    "V100-32GB",
    "T4",
    "RTX-4090",
    "Ascend-910B",
    "MLU370-X8",
    "DCU-Z100",
    "Kunlun-R200",
)

ALL_MODELS = sorted(CATALOG.values(), key=lambda m: m.name)


def test_catalog_is_broad_enough() -> None:
    assert len(CATALOG) >= 16
    assert len({model.vendor for model in CATALOG.values()}) >= 5
    for name in REQUIRED_MODELS:
        assert name in CATALOG


def test_catalog_keys_match_model_names() -> None:
    for key, model in CATALOG.items():
        assert key == model.name


def test_catalog_is_read_only() -> None:
    with pytest.raises(TypeError):
        CATALOG["fake"] = CATALOG["T4"]  # type: ignore[index]


def test_models_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        CATALOG["T4"].fp16_tflops = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.name)
def test_every_figure_is_positive_and_sourced(model: AcceleratorModel) -> None:
    assert model.memory_gib > 0
    assert model.memory_bandwidth_gbs > 0
    assert model.fp16_tflops > 0
    assert model.fp32_tflops > 0
    assert model.tdp_w > 0
    assert model.interconnect.strip()
    assert model.sources
    for figure in FIGURE_FIELDS:
        source = model.source_for(figure)
        assert source.reference.strip()
        if source.estimate:
            assert source.note.strip(), f"{model.name}.{figure} estimate lacks reasoning"


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.name)
def test_dense_fp16_exceeds_fp32(model: AcceleratorModel) -> None:
    # Every catalogued part has matrix units or packed FP16, so half precision is faster.
    assert model.fp16_tflops > model.fp32_tflops


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.name)
def test_kind_matches_vendor(model: AcceleratorModel) -> None:
    expected = {
        Vendor.NVIDIA: "gpu",
        Vendor.AMD: "gpu",
        Vendor.MOORE_THREADS: "gpu",
        Vendor.HUAWEI: "npu",
        Vendor.CAMBRICON: "mlu",
        Vendor.HYGON: "dcu",
        Vendor.KUNLUNXIN: "xpu",
    }
    assert model.kind == expected[model.vendor]


def test_pflops_is_dense_fp16_in_petaflops() -> None:
    assert CATALOG["H100-SXM"].pflops == pytest.approx(0.989, abs=1e-3)
    assert CATALOG["A100-80GB"].pflops == pytest.approx(0.312)
    for model in CATALOG.values():
        assert model.pflops == pytest.approx(model.fp16_tflops / 1000)


@pytest.mark.parametrize(
    ("name", "dense_tflops"),
    [
        ("H100-SXM", 989.4),
        ("A100-80GB", 312.0),
        ("H20", 148.0),
        ("L40S", 362.05),
        ("V100-32GB", 125.0),
        ("T4", 65.0),
    ],
)
def test_nvidia_figures_are_dense_not_sparse(name: str, dense_tflops: float) -> None:
    assert CATALOG[name].fp16_tflops == pytest.approx(dense_tflops)


def test_memory_bandwidth_ordering() -> None:
    assert CATALOG["H200"].memory_bandwidth_gbs == pytest.approx(4800)
    assert CATALOG["H100-SXM"].memory_bandwidth_gbs == pytest.approx(3350)
    assert CATALOG["H200"].memory_bandwidth_gbs > CATALOG["H100-SXM"].memory_bandwidth_gbs
    assert CATALOG["H200"].memory_gib > CATALOG["H100-SXM"].memory_gib


def test_china_market_parts_keep_compute_but_lose_interconnect() -> None:
    assert CATALOG["H800"].fp16_tflops == CATALOG["H100-SXM"].fp16_tflops
    assert CATALOG["A800-80GB"].fp16_tflops == CATALOG["A100-80GB"].fp16_tflops
    assert "400 GB/s" in CATALOG["H800"].interconnect
    assert "400 GB/s" in CATALOG["A800-80GB"].interconnect


def test_estimates_are_marked() -> None:
    assert CATALOG["Ascend-910B"].is_estimated("fp16_tflops")
    assert CATALOG["DCU-Z100"].is_estimated("fp32_tflops")
    assert not CATALOG["H100-SXM"].is_estimated("fp16_tflops")
    assert not CATALOG["Ascend-910B"].is_estimated("memory_gib")


def test_source_for_rejects_unknown_figure() -> None:
    with pytest.raises(KeyError):
        CATALOG["T4"].source_for("colour")


def test_mig_profiles() -> None:
    assert "1g.10gb" in CATALOG["A100-80GB"].mig_profiles
    assert "7g.80gb" in CATALOG["H100-SXM"].mig_profiles
    assert "1g.5gb" in CATALOG["A100-40GB"].mig_profiles
    assert "7g.141gb" in CATALOG["H200"].mig_profiles
    assert CATALOG["A800-80GB"].mig_profiles
    for name in ("L40S", "T4", "V100-32GB", "RTX-4090", "Ascend-910B", "MI300X"):
        assert CATALOG[name].mig_profiles == ()


def test_nvml_names_only_on_nvidia() -> None:
    for model in CATALOG.values():
        if model.vendor is Vendor.NVIDIA:
            assert model.nvml_names, model.name
        else:
            assert model.nvml_names == (), model.name


@pytest.mark.parametrize(
    ("vendor", "env"),
    [
        (Vendor.NVIDIA, "CUDA_VISIBLE_DEVICES"),
        (Vendor.HUAWEI, "ASCEND_RT_VISIBLE_DEVICES"),
        (Vendor.CAMBRICON, "MLU_VISIBLE_DEVICES"),
        (Vendor.HYGON, "HIP_VISIBLE_DEVICES"),
        (Vendor.KUNLUNXIN, "XPU_VISIBLE_DEVICES"),
        (Vendor.AMD, "HIP_VISIBLE_DEVICES"),
        (Vendor.MOORE_THREADS, "MUSA_VISIBLE_DEVICES"),
    ],
)
def test_visible_devices_env(vendor: Vendor, env: str) -> None:
    assert visible_devices_env(vendor) == env
    assert visible_devices_env(vendor.value) == env


def test_visible_devices_env_accepts_loose_strings_and_rejects_unknown() -> None:
    assert visible_devices_env("NVIDIA") == "CUDA_VISIBLE_DEVICES"
    assert visible_devices_env("Moore Threads") == "MUSA_VISIBLE_DEVICES"
    with pytest.raises(ValueError, match="unknown vendor"):
        visible_devices_env("acme")


def test_every_vendor_has_runtime_data_and_a_model() -> None:
    for vendor in Vendor:
        assert visible_devices_env(vendor).endswith("_VISIBLE_DEVICES")
        models = [m for m in CATALOG.values() if m.vendor is vendor]
        assert models, f"vendor {vendor} has no catalogued model"


def test_the_catalog_names_no_engine_resources() -> None:
    """What Kubernetes calls a device is the Kubernetes executor's (executors/kubernetes/
    resources.py); the catalog keeps the devices' own truth."""
    fields = {f.name for f in dataclasses.fields(AcceleratorModel)}
    assert not any("k8s" in name or "kubernetes" in name for name in fields), fields
    import aicc.core.catalog as catalog

    assert not hasattr(catalog, "k8s_resource")


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("H100-SXM", "H100-SXM"),
        ("h100-sxm", "H100-SXM"),
        ("H100", "H100-SXM"),
        ("h100-80gb", "H100-SXM"),
        ("nvidia h100", "H100-SXM"),
        ("h100_pcie", "H100-PCIe"),
        ("A100", "A100-80GB"),
        ("a100 80gb pcie", "A100-80GB-PCIe"),
        ("a100-40gb", "A100-40GB"),
        ("910B", "Ascend-910B"),
        ("Huawei Ascend 910B", "Ascend-910B"),
        ("ascend 910", "Ascend-910A"),
        ("mlu370", "MLU370-X8"),
        ("z100", "DCU-Z100"),
        ("R200", "Kunlun-R200"),
        ("rtx 4090", "RTX-4090"),
        ("Tesla T4", "T4"),
        ("NVIDIA H100 80GB HBM3", "H100-SXM"),
        ("moore threads s4000", "MTT-S4000"),
        ("MI300X", "MI300X"),
    ],
)
def test_lookup_aliases(alias: str, expected: str) -> None:
    assert lookup(alias).name == expected


def test_lookup_is_case_insensitive_for_every_key() -> None:
    for key in CATALOG:
        assert lookup(key.lower()) is CATALOG[key]
        assert lookup(key.upper()) is CATALOG[key]


def test_lookup_unknown_lists_close_matches() -> None:
    with pytest.raises(KeyError, match="close matches") as excinfo:
        lookup("H1000")
    assert "H100-SXM" in str(excinfo.value)
    with pytest.raises(KeyError) as excinfo:
        lookup("910")
    message = str(excinfo.value)
    assert "Ascend-910B" in message
    assert "Ascend-910A" in message


def test_lookup_without_close_match_lists_known_models() -> None:
    with pytest.raises(KeyError, match="known models") as excinfo:
        lookup("quantum-annealer")
    assert "T4" in str(excinfo.value)
    with pytest.raises(KeyError):
        lookup("")


@pytest.mark.parametrize(
    ("nvml_name", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "H100-SXM"),
        ("NVIDIA H100 PCIe", "H100-PCIe"),
        ("NVIDIA H100 NVL", "H100-NVL"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA H20", "H20"),
        ("NVIDIA H800", "H800"),
        ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA A100-SXM4-40GB", "A100-40GB"),
        ("NVIDIA A100-PCIE-40GB", "A100-40GB-PCIe"),
        ("NVIDIA A100 80GB PCIe", "A100-80GB-PCIe"),
        ("NVIDIA A800-SXM4-80GB", "A800-80GB"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L20", "L20"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA A10", "A10"),
        ("Tesla V100-SXM2-32GB", "V100-32GB"),
        ("Tesla T4", "T4"),
        ("NVIDIA GeForce RTX 4090", "RTX-4090"),
    ],
)
def test_from_nvml_name_exact(nvml_name: str, expected: str) -> None:
    model = from_nvml_name(nvml_name)
    assert model is not None
    assert model.name == expected
    assert nvml_name in model.nvml_names


@pytest.mark.parametrize(
    ("nvml_name", "expected"),
    [
        ("  nvidia  h100 80gb hbm3 ", "H100-SXM"),
        ("NVIDIA A100-SXM-80GB", "A100-80GB"),
        ("NVIDIA H100-SXM5-80GB", "H100-SXM"),
        ("Tesla T4 ", "T4"),
        ("T4", "T4"),
        ("NVIDIA H800 PCIe", "H800-PCIe"),
    ],
)
def test_from_nvml_name_tolerant(nvml_name: str, expected: str) -> None:
    model = from_nvml_name(nvml_name)
    assert model is not None
    assert model.name == expected


@pytest.mark.parametrize(
    "nvml_name",
    [
        "NVIDIA A10G",  # different part from A10
        "NVIDIA L40",  # not L40S, not L4
        "NVIDIA H200 NVL",  # lower clocks than H200 SXM
        "NVIDIA GeForce RTX 4090 D",  # cut-down China variant
        "Tesla V100-SXM2-16GB",
        "NVIDIA GH200 480GB",
        "NVIDIA B200",
        "",
    ],
)
def test_from_nvml_name_unknown_returns_none(nvml_name: str) -> None:
    assert from_nvml_name(nvml_name) is None


def test_model_validation_rejects_bad_figures() -> None:
    base = CATALOG["T4"]
    with pytest.raises(ValueError, match="positive"):
        dataclasses.replace(base, fp16_tflops=0.0)
    with pytest.raises(ValueError, match="MIG profile"):
        dataclasses.replace(base, mig_profiles=("big",))
    with pytest.raises(ValueError, match="no source"):
        dataclasses.replace(base, sources=(Source("sheet", covers=("tdp_w",)),))


def test_source_validation() -> None:
    with pytest.raises(ValueError, match="unknown figures"):
        Source("sheet", covers=("speed",))
    with pytest.raises(ValueError, match="reasoning"):
        Source("guess", estimate=True)
