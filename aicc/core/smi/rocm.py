"""Hygon DCUs and AMD GPUs from the ROCm SMI's JSON: `hy-smi` (Hygon's build of it, in DTK)
and `rocm-smi`, both asked `--showproductname --showmeminfo vram --showuse --showuniqueid
--json`, which answer `{"card0": {"Card Series": ..., "vram Total Memory (MiB)": ...}}`.

Fields used, per card:

- `Card Series` (`Z100L`, `K100_AI`; AMD's also `Device Name`) -> the catalog model
  (`accelerator_names.from_tool_name`), else the name as printed;
- `VRAM Total Memory` and `VRAM Total Used Memory`, in the unit the key names (`(MiB)` in
  DTK's, `(B)` in ROCm's) -> the device's memory and the reading;
- `DCU use (%)`, `HCU use (%)` (DTK 25.04 and later) or `GPU use (%)` -> the reading;
- `Unique ID` -> the UUID (`DCU-<id>`, `GPU-<id>` as rocminfo prints it), else one made from
  the host and the card;
- the cards in the order of their numbers -> the device's index (what `HIP_VISIBLE_DEVICES`
  takes: some DTK releases number the cards from 1).

A DTK machine has both tools and both list the same DCUs: a card is Hygon's when its keys say
DCU or HCU, or its vendor is Haiguang, and each probe keeps only its vendor's cards. The JSON has
no health field: a card the tool lists is healthy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aicc.core import accelerator_names, catalog
from aicc.core.smi.report import Report, Unreadable, made_uuid, number
from aicc.core.topology import Device, DeviceReading

_CARD = re.compile(r"^card(\d+)$")
_MEMORY = re.compile(r"^vram total (used )?memory \((b|kib|mib|gib)\)$", re.IGNORECASE)
_USE = re.compile(r"^[dhg]cu use \(%\)$|^gpu use \(%\)$", re.IGNORECASE)
_MIB = {"b": 1 / 2**20, "kib": 1 / 1024, "mib": 1.0, "gib": 1024.0}


def parse_hygon(text: str, host: str) -> Report:
    """The Hygon DCUs `hy-smi --json` lists."""
    return parse(text, host, catalog.Vendor.HYGON, "hy-smi")


def parse_amd(text: str, host: str) -> Report:
    """The AMD GPUs `rocm-smi --json` lists (a DTK machine's DCUs left to `parse_hygon`)."""
    return parse(text, host, catalog.Vendor.AMD, "rocm-smi")


def parse(text: str, host: str, vendor: catalog.Vendor, tool: str) -> Report:
    try:
        found = json.loads(text)
    except ValueError as err:
        raise Unreadable(f"{tool}: not JSON ({err})") from None
    if not isinstance(found, dict):
        raise Unreadable(f"{tool}: expected an object of cards, got {type(found).__name__}")
    cards = sorted(
        (int(m.group(1)), fields)
        for key, fields in found.items()
        if (m := _CARD.match(key)) and isinstance(fields, dict)
    )
    devices: list[Device] = []
    readings: list[DeviceReading] = []
    for index, (card, fields) in enumerate(cards):
        if (_vendor(fields) is catalog.Vendor.HYGON) != (vendor is catalog.Vendor.HYGON):
            continue
        device, reading = _card(fields, host, vendor, tool, index, card)
        devices.append(device)
        readings.append(reading)
    return Report(tuple(devices), tuple(readings), {})


def _vendor(fields: Mapping[str, Any]) -> catalog.Vendor:
    keys = " ".join(fields).casefold()
    maker = str(fields.get("Card Vendor", "")).casefold()
    if "dcu" in keys or "hcu" in keys or "haiguang" in maker or "hygon" in maker:
        return catalog.Vendor.HYGON
    return catalog.Vendor.AMD


def _card(
    fields: Mapping[str, Any],
    host: str,
    vendor: catalog.Vendor,
    tool: str,
    index: int,
    card: int,
) -> tuple[Device, DeviceReading]:
    name = str(fields.get("Card Series") or fields.get("Device Name") or "").strip()
    if not name:
        raise Unreadable(f"{tool}: card{card} has no Card Series")
    total = used = None
    busy = 0.0
    for key, value in fields.items():
        memory = _MEMORY.match(key.strip())
        amount = number(str(value))
        if memory and amount is not None:
            mib = int(amount * _MIB[memory.group(2).casefold()])
            used, total = (mib, total) if memory.group(1) else (used, mib)
        elif _USE.match(key.strip()) and amount is not None:
            busy = amount
    unique = str(fields.get("Unique ID", "")).strip().removeprefix("0x")
    prefix = "DCU" if vendor is catalog.Vendor.HYGON else "GPU"
    uuid = (
        f"{prefix}-{unique}"
        if unique and unique.upper() != "N/A"
        else made_uuid(tool, host, f"card{card}")
    )
    known = accelerator_names.from_tool_name(vendor, name)
    memory_mib = total or (int(known.memory_gib * 1024) if known else 0)
    device = Device(index, known.name if known else name, memory_mib, uuid=uuid)
    return device, DeviceReading(uuid, busy / 100.0, used)
