"""Efficiency tables: every figure sourced, generations cover the catalog, scaling behaves."""

from __future__ import annotations

import pytest

from aicc.core.catalog import CATALOG
from aicc.estimate.efficiency import (
    GENERATION_OF,
    LLM_TRAIN_MFU,
    MBU,
    Generation,
    fast_link_group,
    generation_of,
    mfu_figure,
    scaling_factor,
)
from aicc.estimate.workload import WorkloadClass


def test_generation_table_names_only_catalog_models() -> None:
    assert set(GENERATION_OF) <= set(CATALOG)


def test_every_nvidia_amd_and_ascend_model_has_a_generation() -> None:
    for model in CATALOG.values():
        if model.vendor.value in ("nvidia", "amd", "huawei"):
            assert generation_of(model) is not Generation.OTHER, model.name


@pytest.mark.parametrize("workload_class", list(WorkloadClass))
def test_every_figure_is_sourced_and_plausible(workload_class: WorkloadClass) -> None:
    for model in CATALOG.values():
        figure = mfu_figure(workload_class, model)
        assert 0.02 <= figure.value <= 0.6, (workload_class, model.name)
        assert figure.source.strip()
        if figure.estimate:
            assert "estimate" in figure.source


def test_published_figures_are_not_marked_estimates() -> None:
    assert not LLM_TRAIN_MFU[Generation.HOPPER].estimate
    assert not LLM_TRAIN_MFU[Generation.AMPERE].estimate
    assert "Llama 3" in LLM_TRAIN_MFU[Generation.HOPPER].source
    assert LLM_TRAIN_MFU[Generation.OTHER].estimate
    assert all(figure.estimate for figure in MBU.values())


def test_lora_runs_at_0_83_of_training_mfu() -> None:
    h100 = CATALOG["H100-SXM"]
    train = mfu_figure(WorkloadClass.LLM_TRAIN, h100).value
    assert mfu_figure(WorkloadClass.LLM_LORA, h100).value == pytest.approx(0.83 * train)


def test_vision_transfers_by_bandwidth_to_peak_ratio() -> None:
    a100 = mfu_figure(WorkloadClass.VISION, CATALOG["A100-80GB"]).value
    h100 = mfu_figure(WorkloadClass.VISION, CATALOG["H100-SXM"])
    assert h100.estimate and h100.value < a100
    # H20 has far more bandwidth per FLOP than an A100: capped at the A100 figure.
    assert mfu_figure(WorkloadClass.VISION, CATALOG["H20"]).value == pytest.approx(a100)


def test_fast_link_groups_from_the_catalog() -> None:
    assert fast_link_group(CATALOG["H100-SXM"]) == 8
    assert fast_link_group(CATALOG["Ascend-910B"]) == 8
    assert fast_link_group(CATALOG["H100-PCIe"]) == 2  # NVLink bridge
    assert fast_link_group(CATALOG["L4"]) == 1


def test_scaling_is_one_within_a_group_and_falls_beyond() -> None:
    assert scaling_factor(8, group=8, alpha=0.02) == 1.0
    assert scaling_factor(16, group=8, alpha=0.02) == pytest.approx(1 / 1.02)
    assert scaling_factor(16_384, group=8, alpha=0.02) == pytest.approx(1 / 1.22)
    values = [scaling_factor(n, group=8, alpha=0.02) for n in (8, 64, 512, 4096)]
    assert values == sorted(values, reverse=True)
    assert scaling_factor(4096, group=8, alpha=0.0) == 1.0
