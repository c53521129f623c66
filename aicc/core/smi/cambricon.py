"""Cambricon MLUs from `cnmon` (no arguments: the summary table Cambricon's documentation and
its partners' install guides show).

Each card is two rows: `Card VF Name Firmware | Bus-Id | Util Ecc-Error` and
`Fan Temp Pwr:Usage/Cap | Memory-Usage | ...` (drivers before 5.x print `Inited Driver` where
later ones print `Bus-Id`). The process table that follows is not read. Fields used:

- Name (`MLU370-X8`) -> the catalog model (`accelerator_names.from_tool_name`), else the name
  as printed;
- Memory-Usage's total and used (MiB) -> the device's memory and the reading;
- Util (%) -> the reading;
- Card -> the device's index (what `MLU_VISIBLE_DEVICES` takes);
- the header's `Driver v...` (else `CNMON v...`) -> the node label `cambricon.com/driver`.

The table has no health column: a card cnmon lists is healthy. It prints no UUID: the device's
is made from the host and its PCI address (its card number where the table has no Bus-Id).
"""

from __future__ import annotations

import re

from aicc.core import accelerator_names, catalog
from aicc.core.smi.report import Report, Unreadable, cells, made_uuid, number, used_total
from aicc.core.topology import Device, DeviceReading

TOOL = "cnmon"
_BUS = re.compile(r"^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]$")
_DRIVER = re.compile(r"Driver\s+v(\S+)")
_CNMON = re.compile(r"CNMON\s+v(\S+)")


def parse(text: str, host: str) -> Report:
    """The cards `cnmon` lists (Unreadable when it shows no card table)."""
    labels: dict[str, str] = {}
    devices: list[Device] = []
    readings: list[DeviceReading] = []
    table = False
    first: list[str] | None = None
    for line in text.splitlines():
        if "CNMON" in line and (found := _DRIVER.search(line) or _CNMON.search(line)):
            labels["cambricon.com/driver"] = found.group(1)
            continue
        row = cells(line)
        if not row:
            continue
        if row[0].startswith("Processes"):
            break
        if row[0].startswith("Card") and "Name" in row[0]:
            table = True
            continue
        if not table or len(row) < 3 or row[0].startswith("Fan"):
            continue
        words = row[0].split()
        if words and words[0].isdigit() and len(words) >= 3:
            first = row
            continue
        if first is None:
            raise Unreadable(f"{TOOL}: a card's second row without its first: {line.strip()!r}")
        device, reading = _card(first, row, host)
        devices.append(device)
        readings.append(reading)
        first = None
    if not table:
        raise Unreadable(f"{TOOL}: no card table (expected the 'Card VF Name Firmware' header)")
    return Report(tuple(devices), tuple(readings), labels)


def _card(first: list[str], second: list[str], host: str) -> tuple[Device, DeviceReading]:
    words = first[0].split()
    card, name = int(words[0]), words[2]
    memory = used_total(second[1])
    known = accelerator_names.from_tool_name(catalog.Vendor.CAMBRICON, name)
    where = first[1] if _BUS.match(first[1]) else f"card{card}"
    uuid = made_uuid(TOOL, host, where)
    total = memory[1] if memory else (int(known.memory_gib * 1024) if known else 0)
    device = Device(card, known.name if known else name, total, uuid=uuid)
    busy = number(first[2])
    return device, DeviceReading(uuid, (busy or 0.0) / 100.0, memory[0] if memory else None)
