"""Huawei Ascend NPUs from `npu-smi info`, the table Huawei's documentation shows.

Each chip is two rows: `NPU Name | Health | Power(W) Temp(C) Hugepages-Usage(page)` and
`Chip [Device|Phy-ID] | Bus-Id | AICore(%) Memory-Usage(MB) [HBM-Usage(MB)]`. A card with
several chips (Atlas 300I, model 3000) repeats its NPU id once per chip; the process table that
follows is not read. Fields used:

- the chip's name (`910B4-1`, `310P3`, `310`) -> the catalog model
  (`accelerator_names.from_tool_name`), else the name as printed;
- HBM-Usage's total where the chip has HBM, else Memory-Usage's (310, 310P) -> its memory;
- Health: `OK` and `Warning` (a minor alarm, the chip still runs work) are healthy; `Alarm`,
  `Critical` or anything else is not;
- AICore(%) and the memory in use -> the reading;
- `Device` (the logical id `ASCEND_RT_VISIBLE_DEVICES` takes) -> the device's index where the
  table has that column, else the chip's position in the table (the logical ids of a 910B
  node, and of a container that sees only some chips);
- the header's `Version` -> the node label `huawei.com/driver`.

npu-smi prints no UUID: the device's is made from the host and its NPU and chip ids.
"""

from __future__ import annotations

import re

from aicc.core import accelerator_names, catalog
from aicc.core.smi.report import Report, Unreadable, cells, made_uuid, number
from aicc.core.topology import Device, DeviceReading

TOOL = "npu-smi"
HEALTHY = frozenset({"ok", "warning"})
_BUS = re.compile(r"^[0-9A-Fa-fx]{4}:[0-9A-Fa-fx]{2}:[0-9A-Fa-fx]{2}\.[0-9A-Fa-f]$")
_PAIR = re.compile(r"(\d+)\s*/\s*(\d+)")
_VERSION = re.compile(r"Version:\s*(\S+)")


def parse(text: str, host: str) -> Report:
    """The chips `npu-smi info` lists (Unreadable when it shows no device table)."""
    labels: dict[str, str] = {}
    header: str | None = None  # the second header row: which columns the table has
    devices: list[Device] = []
    readings: list[DeviceReading] = []
    first: list[str] | None = None  # the chip's first row, waiting for its second
    for line in text.splitlines():
        if TOOL in line and "Version" in line and (found := _VERSION.search(line)):
            labels["huawei.com/driver"] = found.group(1)
            continue
        row = cells(line)
        if not row:
            continue
        joined = " ".join(row)
        if "Process id" in joined or "Process name" in joined:
            break  # the process table: no more chips
        if row[0].startswith("Chip") and "Bus-Id" in joined:
            header = joined
            continue
        if row[0].startswith("NPU") and "Health" in joined:
            continue
        if header is None or len(row) < 3:
            continue
        if not _BUS.match(row[1]):
            first = row
            continue
        if first is None:
            raise Unreadable(f"{TOOL}: a chip's second row without its first: {line.strip()!r}")
        device, reading = _chip(first, row, header, host, len(devices))
        devices.append(device)
        readings.append(reading)
        first = None
    if header is None:
        raise Unreadable(f"{TOOL}: no device table (expected the 'Chip ... Bus-Id' header)")
    return Report(tuple(devices), tuple(readings), labels)


def _chip(
    first: list[str], second: list[str], header: str, host: str, position: int
) -> tuple[Device, DeviceReading]:
    head = first[0].split(None, 1)
    ids = second[0].split()
    if len(head) != 2 or not head[0].isdigit() or not ids or not ids[0].isdigit():
        raise Unreadable(f"{TOOL}: cannot read the NPU and chip ids from {first[0]!r}")
    npu, name, chip = int(head[0]), head[1].strip(), int(ids[0])
    has_device = "Device" in header.split("Bus-Id")[0]
    index = int(ids[1]) if has_device and len(ids) > 1 and ids[1].isdigit() else position
    pairs = [(int(u), int(t)) for u, t in _PAIR.findall(second[2])]
    if not pairs:
        raise Unreadable(f"{TOOL}: no memory figures for NPU {npu} chip {chip}")
    used, total = pairs[-1] if len(pairs) > 1 and pairs[-1][1] > 0 else pairs[0]
    known = accelerator_names.from_tool_name(catalog.Vendor.HUAWEI, name)
    uuid = made_uuid(TOOL, host, f"npu{npu}.chip{chip}")
    memory = total or (int(known.memory_gib * 1024) if known else 0)
    device = Device(
        index,
        known.name if known else name,
        memory,
        uuid=uuid,
        healthy=first[1].strip().casefold() in HEALTHY,
    )
    busy = number(second[2].split()[0]) if second[2].split() else None
    return device, DeviceReading(uuid, (busy or 0.0) / 100.0, used)
