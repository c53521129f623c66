"""The vendors' management tools' output, as recorded from public sources (tests/core/smi/, each
file's first line names where it comes from), read into the `Device` and `DeviceReading` that
NVML's path gives: catalog models, memory, health, utilization, labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicc.core import accelerator_names, catalog
from aicc.core.smi import ascend, cambricon, rocm
from aicc.core.smi.probes import PROBES
from aicc.core.smi.report import Unreadable

HERE = Path(__file__).parent / "smi"


def recorded(name: str) -> str:
    """A fixture without its `# source:` line."""
    lines = (HERE / name).read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[0].startswith("# source: "), f"{name} does not name its source"
    return "".join(lines[1:])


def test_every_fixture_names_its_source() -> None:
    for path in sorted(HERE.iterdir()):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# source: ") and len(first) > 30, path.name


def test_npu_smi_on_a_910b4_node_gives_ascend_910b_with_hbm() -> None:
    report = ascend.parse(recorded("npu-smi_910b4-1_25.2.0.txt"), "n1")
    assert [d.model for d in report.devices] == ["Ascend-910B", "Ascend-910B"]
    assert [d.index for d in report.devices] == [0, 1]
    assert [d.memory_mib for d in report.devices] == [65536, 65536]  # HBM, not the 0 / 0 DDR
    assert all(d.healthy for d in report.devices)
    assert [r.memory_used_mib for r in report.readings] == [3197, 3197]
    assert [r.utilization for r in report.readings] == [0.0, 0.0]
    assert report.labels == {"huawei.com/driver": "25.2.0"}
    uuids = [d.uuid for d in report.devices]
    assert uuids == [r.uuid for r in report.readings]
    assert len(set(uuids)) == 2 and all(u and "n1" in u for u in uuids)  # bus ids are masked


def test_npu_smi_on_an_atlas_800_9010_reads_eight_chips_and_skips_the_process_table() -> None:
    report = ascend.parse(recorded("npu-smi_atlas800-9010_24.1.RC2.txt"), "n1")
    assert len(report.devices) == 8
    # the names are redacted ("xxx") in Huawei's page: kept as printed, never guessed
    assert {d.model for d in report.devices} == {"xxx"}
    assert {d.memory_mib for d in report.devices} == {32768}
    assert [d.healthy for d in report.devices] == [True] * 8  # "Warning" is a minor alarm
    assert report.readings[0].memory_used_mib == 0  # HBM in use, not the DDR's 4252
    assert report.labels == {"huawei.com/driver": "24.1.RC2"}


def test_npu_smi_on_a_four_chip_310_card_indexes_by_logical_device_id() -> None:
    report = ascend.parse(recorded("npu-smi_atlas800-3000_21.0.4.txt"), "n1")
    assert [d.model for d in report.devices] == ["Ascend-310"] * 4
    assert [d.index for d in report.devices] == [3, 4, 5, 6]  # the Device column
    assert [d.memory_mib for d in report.devices] == [8192] * 4  # no HBM column: DDR
    assert [r.memory_used_mib for r in report.readings] == [2703, 2867, 2867, 2867]
    assert report.labels == {"huawei.com/driver": "21.0.4.B030"}
    assert len({d.uuid for d in report.devices}) == 4  # one card, four chips


def test_npu_smi_on_an_a3_node_keeps_the_bare_ascend910_name() -> None:
    """A3 chips print "Ascend910": not the 2019 Ascend 910, and the catalog has no figures for
    them, so they keep the printed name; Phy-ID is not a logical id, so they are numbered."""
    report = ascend.parse(recorded("npu-smi_a3_ascend910.txt"), "n1")
    assert [d.model for d in report.devices] == ["Ascend910"] * 3
    assert [d.index for d in report.devices] == [0, 1, 2]
    assert [r.memory_used_mib for r in report.readings] == [3416, 3195, 3415]
    assert report.labels == {}  # the paste starts below the version line


def test_npu_smi_health_other_than_ok_or_warning_is_unhealthy() -> None:
    text = recorded("npu-smi_910b4-1_25.2.0.txt").replace("| OK     ", "| Alarm  ", 1)
    assert [d.healthy for d in ascend.parse(text, "n1").devices] == [False, True]


def test_cnmon_gives_mlu370_x8_cards() -> None:
    report = cambricon.parse(recorded("cnmon_mlu370-x8_v5.10.13.txt"), "n1")
    assert [d.model for d in report.devices] == ["MLU370-X8", "MLU370-X8"]
    assert [d.index for d in report.devices] == [0, 1]
    assert [d.memory_mib for d in report.devices] == [23374, 23374]
    assert [d.uuid for d in report.devices] == ["cnmon:n1:0000:39:00.0", "cnmon:n1:0000:3D:00.0"]
    assert [(r.utilization, r.memory_used_mib) for r in report.readings] == [(0.0, 0), (0.0, 0)]
    assert report.labels == {"cambricon.com/driver": "5.10.13"}


def test_hy_smi_json_gives_a_dcu_and_rocm_smi_leaves_it_to_hygon() -> None:
    text = recorded("rocm-smi_hygon_dtk24.04.3.json")
    report = rocm.parse_hygon(text, "n1")
    (device,) = report.devices
    assert (device.model, device.memory_mib, device.uuid) == (
        "DCU xxxx",
        65520,
        "DCU-7100fa8866904061",
    )
    assert report.readings[0].memory_used_mib == 2
    assert rocm.parse_amd(text, "n1").devices == ()  # the same card, Hygon's


def test_rocm_smi_json_gives_an_amd_gpu_in_mib() -> None:
    text = recorded("rocm-smi_amd_6.2.4.json")
    report = rocm.parse_amd(text, "n1")
    (device,) = report.devices
    assert device.model == "Navi 32 [Radeon RX 7700 XT / 7800 XT]"
    assert device.memory_mib == 17163091968 // 2**20
    assert device.uuid == "GPU-5c88007d760374f3"
    assert report.readings[0].utilization == 1.0
    assert report.readings[0].memory_used_mib == 11615076352 // 2**20
    assert rocm.parse_hygon(text, "n1").devices == ()


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.tool)
@pytest.mark.parametrize(
    "garbage", ["", "command not found\n", "\x00\xff garbage", "{", "[1, 2]", "| a | b |\n"]
)
def test_garbage_is_unreadable_or_empty_never_a_crash(probe: object, garbage: str) -> None:
    try:
        report = probe.parse(garbage, "n1")  # type: ignore[attr-defined]
    except Unreadable as err:
        assert str(err)
    else:
        assert report.devices == ()


def test_tool_names_map_to_catalog_models_or_to_nothing() -> None:
    huawei, cambricon_ = catalog.Vendor.HUAWEI, catalog.Vendor.CAMBRICON
    assert accelerator_names.from_tool_name(huawei, "910B3").name == "Ascend-910B"  # type: ignore[union-attr]
    assert accelerator_names.from_tool_name(huawei, "910ProB").name == "Ascend-910A"  # type: ignore[union-attr]
    assert accelerator_names.from_tool_name(huawei, "310P3").name == "Ascend-310P"  # type: ignore[union-attr]
    assert accelerator_names.from_tool_name(huawei, "Ascend910") is None
    assert accelerator_names.from_tool_name(cambricon_, "MLU370-X8").name == "MLU370-X8"  # type: ignore[union-attr]
    assert (
        accelerator_names.from_tool_name(cambricon_, "MLU590-M9DG") is None
    )  # no public datasheet
    assert accelerator_names.from_tool_name(catalog.Vendor.HYGON, "Z100L").name == "DCU-Z100"  # type: ignore[union-attr]
    assert accelerator_names.from_tool_name(catalog.Vendor.HYGON, "K100_AI") is None
