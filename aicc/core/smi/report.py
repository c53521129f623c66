"""What a vendor's management tool said, in the shape NVML's path already gives: the devices
(`topology.Device`, as discovery registers them), what each is doing now
(`topology.DeviceReading`, as the utilization samples store them) and node labels (the
tool's and driver's versions). Pure: text in, values out.

A tool that names no UUID gets one made from the host and the PCI address it prints
(`<tool>:<host>:<bus id>`), stable across readings and unique across nodes, so samples find
their device as NVML's UUIDs do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aicc.core.topology import Device, DeviceReading


class Unreadable(ValueError):
    """The tool answered, but not in the shape its documentation shows; the message says what
    was missing (the node's note and label carry it)."""


@dataclass(frozen=True)
class Report:
    devices: tuple[Device, ...] = ()
    readings: tuple[DeviceReading, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)


def made_uuid(tool: str, host: str, bus_id: str) -> str:
    """A stable identifier for a device whose tool prints no UUID: its tool, host and PCI
    address (upper-cased, so `0000:c1:00.0` and `0000:C1:00.0` agree)."""
    return f"{tool}:{host}:{bus_id.strip().upper()}"


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def number(text: str) -> float | None:
    """The first number in a cell (`71.2`, `0%`, `32C`, `106 W`), or None (`-`, `NA`, `N/A`)."""
    found = _NUMBER.search(text)
    return float(found.group()) if found else None


def used_total(text: str) -> tuple[int, int] | None:
    """`1197 / 13553` (or `0 MiB/ 23374 MiB`) as (used, total); None when either is not a
    number (a redacted `xxxxx`)."""
    parts = text.split("/")
    if len(parts) != 2:
        return None
    used, total = number(parts[0]), number(parts[1])
    if used is None or total is None:
        return None
    return int(used), int(total)


def cells(line: str) -> list[str]:
    """A table row `| a | b | c |` as its stripped cells; [] for a border or a line of text."""
    text = line.strip()
    if not (text.startswith("|") and text.endswith("|")) or len(text) < 2:
        return []
    return [c.strip() for c in text[1:-1].split("|")]
