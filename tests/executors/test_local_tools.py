"""The vendors' management tools run for real, as small scripts on a PATH of the test's own: a
tool that answers with a recorded output (tests/core/smi/) gives devices, labels and readings;
one that is absent gives nothing and says nothing; one that fails, prints garbage or hangs gives
a label saying why, keeps the devices it found before (unhealthy), and never holds discovery
past its deadline."""

from __future__ import annotations

import time
from pathlib import Path

from aicc.core.smi.probes import PROBES
from aicc.executors.local import node, tools

RECORDED = Path(__file__).parents[1] / "core" / "smi"
NPU_SMI = next(p for p in PROBES if p.tool == "npu-smi")
CNMON = next(p for p in PROBES if p.tool == "cnmon")


def tool(folder: Path, name: str, body: str) -> None:
    script = folder / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)


def replays(folder: Path, name: str, fixture: str) -> None:
    """`name` prints the recorded output (without its `# source:` line)."""
    tool(folder, name, f"tail -n +2 '{RECORDED / fixture}'")


def test_no_tool_no_devices_no_note(tmp_path: Path) -> None:
    found = node.vendor_devices(path=str(tmp_path))
    assert (found.devices, found.labels, found.notes) == ([], {}, [])


def test_a_tool_that_answers_gives_its_devices_labels_and_readings(tmp_path: Path) -> None:
    replays(tmp_path, "npu-smi", "npu-smi_910b4-1_25.2.0.txt")
    replays(tmp_path, "cnmon", "cnmon_mlu370-x8_v5.10.13.txt")
    found = node.vendor_devices(path=str(tmp_path))
    assert [d.model for d in found.devices] == ["Ascend-910B"] * 2 + ["MLU370-X8"] * 2
    assert [d.index for d in found.devices] == [0, 1, 2, 3]  # cnmon's 0 and 1 renumbered
    assert found.labels == {"huawei.com/driver": "25.2.0", "cambricon.com/driver": "5.10.13"}
    assert found.notes == ["2 device(s) from npu-smi", "2 device(s) from cnmon"]
    assert [d.index for d in found.by_tool["cnmon"]] == [0, 1]  # as the tool numbers them
    readings = tools.tool_readings(path=str(tmp_path))
    assert {r.uuid for r in readings} == {d.uuid for d in found.devices}


def test_indices_taken_by_nvidia_gpus_move_the_others_on(tmp_path: Path) -> None:
    replays(tmp_path, "cnmon", "cnmon_mlu370-x8_v5.10.13.txt")
    found = node.vendor_devices([0, 1], path=str(tmp_path))
    assert [d.index for d in found.devices] == [2, 3]


def test_a_failing_tool_is_a_label_and_its_old_devices_stay_unhealthy(tmp_path: Path) -> None:
    replays(tmp_path, "npu-smi", "npu-smi_910b4-1_25.2.0.txt")
    before = node.vendor_devices(path=str(tmp_path))
    tool(tmp_path, "npu-smi", "echo 'the driver is not loaded' >&2; exit 3")
    after = node.vendor_devices(previous=before.by_tool, path=str(tmp_path))
    error = "npu-smi exited with status 3: the driver is not loaded"
    assert after.labels == {"aicc.io/device-tool.npu-smi": error}
    assert after.notes == [f"npu-smi failed ({error})"]
    assert [(d.uuid, d.healthy) for d in after.devices] == [(d.uuid, False) for d in before.devices]
    again = node.vendor_devices(previous=after.by_tool, path=str(tmp_path))
    assert [d.uuid for d in again.devices] == [d.uuid for d in before.devices]  # still kept
    assert tools.tool_readings(path=str(tmp_path)) == []  # no sample from a failed tool


def test_garbage_output_is_a_label_not_a_crash(tmp_path: Path) -> None:
    tool(tmp_path, "npu-smi", "echo 'Segmentation fault'")
    tool(tmp_path, "hy-smi", "printf '\\377\\376 not json'")
    found = node.vendor_devices(path=str(tmp_path))
    assert found.devices == []
    assert "no device table" in found.labels["aicc.io/device-tool.npu-smi"]
    assert "not JSON" in found.labels["aicc.io/device-tool.hy-smi"]


def test_a_hung_tool_is_killed_at_its_deadline_with_what_it_started(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    tool(tmp_path, "cnmon", f"sleep 60 & echo $! > '{marker}'; sleep 60")
    started = time.monotonic()
    found = node.vendor_devices(path=str(tmp_path), timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert found.labels == {"aicc.io/device-tool.cnmon": "cnmon did not answer within 0.5 s"}
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # reaped by init once killed
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z"


def test_the_local_node_carries_the_devices_and_the_failure(tmp_path: Path) -> None:
    replays(tmp_path, "npu-smi", "npu-smi_atlas800-3000_21.0.4.txt")
    tool(tmp_path, "cnmon", "exit 1")
    found, note, by_tool = node.local_node(name="n1", path=str(tmp_path))
    npus = [d for d in found.devices if d.model == "Ascend-310"]
    gpus = [d.index for d in found.devices if d not in npus]  # NVIDIA's, on a machine with some
    first = 3 if not {3, 4, 5, 6} & set(gpus) else max(gpus) + 1
    assert [d.index for d in npus] == list(range(first, first + 4))
    assert found.labels["huawei.com/driver"] == "21.0.4.B030"
    assert found.labels["aicc.io/device-tool.cnmon"] == "cnmon exited with status 1"
    assert "4 device(s) from npu-smi" in note and "cnmon failed" in note
    assert set(by_tool) == {"npu-smi", "cnmon"}


def test_the_tool_is_found_in_its_vendors_folder_off_path(tmp_path: Path) -> None:
    replays(tmp_path, "npu-smi", "npu-smi_910b4-1_25.2.0.txt")
    probe = type(NPU_SMI)(NPU_SMI.vendor, "npu-smi", NPU_SMI.args, NPU_SMI.parse, (str(tmp_path),))
    assert tools.find(probe) == str(tmp_path / "npu-smi")  # no npu-smi on this PATH
    assert tools.find(CNMON, path=str(tmp_path)) is None
