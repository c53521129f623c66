"""What a node's BMC says over Redfish, as values: its power, temperatures, fans, health and
inventory, read from the Redfish documents (dicts) a client fetched. Pure: the fetching is
`executors/bmc.py`'s; this module only reads the JSON the schema describes.

A BMC's answer is input from a device, not from a person we trust: every figure is checked
(a finite number in a plausible range, else absent), every text cut to `MAX_TEXT` characters
and stripped of control characters, and lists cut to `MAX_SENSORS` entries, so a confused or
hostile BMC can neither crash the loop nor fill the database.

Power is read from the classic `Power` resource (`PowerControl[*].PowerConsumedWatts`, and the
limit `PowerControl[0].PowerLimit.LimitInWatts`) or, on newer BMCs, from
`EnvironmentMetrics.PowerWatts.Reading` (the `PowerSubsystem` era, Redfish 2020.4+).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT = 128  # characters of a model name, serial number, sensor name, health word
MAX_SENSORS = 64  # temperatures or fans kept from one answer
MAX_WATTS = 200_000.0  # a node above 200 kW is a misreading, not a node
MAX_CELSIUS = 200.0
MAX_RPM = 100_000.0
HEALTHS = ("OK", "Warning", "Critical")


@dataclass(frozen=True)
class Inventory:
    """The system's model, serial number and BIOS version, as its BMC names them."""

    manufacturer: str = ""
    model: str = ""
    serial_number: str = ""
    bios_version: str = ""


@dataclass(frozen=True)
class Reading:
    """One reading of a BMC. `health` is the worst of the system's and chassis' rollups
    (`OK`, `Warning`, `Critical`; "" when the BMC gives none). `limit_w` is the power limit in
    force (None: none, or not supported); `limit_path` where a limit is written (None: the BMC
    offers no PowerControl to write)."""

    watts: float | None = None
    health: str = ""
    temperatures: Mapping[str, float] = field(default_factory=dict)  # name -> °C
    fans: Mapping[str, float] = field(default_factory=dict)  # name -> RPM (or % where so read)
    inventory: Inventory = Inventory()
    limit_w: float | None = None
    limit_path: str | None = None


def text(value: object) -> str:
    """A device's text as we keep it: a string, printable, at most MAX_TEXT characters."""
    if not isinstance(value, str):
        return ""
    kept = "".join(c for c in value if c.isprintable())
    return kept[:MAX_TEXT].strip()


def number(value: object, high: float, low: float = 0.0) -> float | None:
    """A finite number within [low, high], else None (a BMC's null, string or nonsense)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        found = float(value)
    except OverflowError:
        return None
    if not math.isfinite(found) or not low <= found <= high:
        return None
    return found


def health_of(doc: object) -> str:
    """`Status.HealthRollup`, else `Status.Health`, when it is one of Redfish's three words."""
    status = doc.get("Status") if isinstance(doc, Mapping) else None
    if not isinstance(status, Mapping):
        return ""
    for key in ("HealthRollup", "Health"):
        found = status.get(key)
        if found in HEALTHS:
            return str(found)
    return ""


def worst(*healths: str) -> str:
    """The worst of several health words ("" counts as unknown, below OK)."""
    known = [h for h in healths if h in HEALTHS]
    return max(known, key=HEALTHS.index) if known else ""


def inventory(system: object) -> Inventory:
    """A ComputerSystem's model, serial number and BIOS version."""
    if not isinstance(system, Mapping):
        return Inventory()
    return Inventory(
        manufacturer=text(system.get("Manufacturer")),
        model=text(system.get("Model")),
        serial_number=text(system.get("SerialNumber")),
        bios_version=text(system.get("BiosVersion")),
    )


def _members(doc: object, key: str) -> list[Mapping[str, Any]]:
    found = doc.get(key) if isinstance(doc, Mapping) else None
    if not isinstance(found, list):
        return []
    return [m for m in found[:MAX_SENSORS] if isinstance(m, Mapping)]


def power(doc: object) -> tuple[float | None, float | None, bool]:
    """From a `Power` resource: the node's draw (the sum of its PowerControl entries'
    `PowerConsumedWatts`), the limit in force and whether a PowerControl is there to limit."""
    controls = _members(doc, "PowerControl")
    watts = [number(c.get("PowerConsumedWatts"), MAX_WATTS) for c in controls]
    measured = [w for w in watts if w is not None]
    limit = None
    if controls:
        limits = controls[0].get("PowerLimit")
        if isinstance(limits, Mapping):
            limit = number(limits.get("LimitInWatts"), MAX_WATTS)
            limit = limit if limit else None  # 0 or null: no limit
    total = min(sum(measured), MAX_WATTS) if measured else None
    return total, limit, bool(controls)


def environment_watts(doc: object) -> float | None:
    """From an `EnvironmentMetrics` resource: `PowerWatts.Reading`."""
    found = doc.get("PowerWatts") if isinstance(doc, Mapping) else None
    return number(found.get("Reading"), MAX_WATTS) if isinstance(found, Mapping) else None


def thermal(doc: object) -> tuple[dict[str, float], dict[str, float]]:
    """From a `Thermal` resource: temperatures (°C) and fan speeds by sensor name."""
    temperatures: dict[str, float] = {}
    for n, sensor in enumerate(_members(doc, "Temperatures")):
        value = number(sensor.get("ReadingCelsius"), MAX_CELSIUS, low=-100.0)
        if value is not None:
            temperatures[text(sensor.get("Name")) or f"temperature {n}"] = value
    fans: dict[str, float] = {}
    for n, sensor in enumerate(_members(doc, "Fans")):
        value = number(sensor.get("Reading"), MAX_RPM)
        if value is not None:
            fans[text(sensor.get("Name") or sensor.get("FanName")) or f"fan {n}"] = value
    return temperatures, fans


def link(doc: object, key: str) -> str | None:
    """The `@odata.id` a resource links under `key` (a path on the same BMC), or None."""
    found = doc.get(key) if isinstance(doc, Mapping) else None
    target = found.get("@odata.id") if isinstance(found, Mapping) else None
    if not isinstance(target, str) or not target.startswith("/redfish/") or len(target) > 512:
        return None
    return target


def limit_patch(watts: float | None) -> dict[str, Any]:
    """The body that sets (or, with None, lifts) the first PowerControl's limit."""
    limit: dict[str, Any] = {"LimitInWatts": None if watts is None else round(watts)}
    if watts is not None:
        limit["LimitException"] = "LogEventOnly"  # a BMC that cannot hold it tells, not powers off
    return {"PowerControl": [{"PowerLimit": limit}]}


@dataclass(frozen=True)
class Target:
    """A BMC to read: where it answers and who signs in. The password is never in a repr or
    a log line."""

    node_id: str
    address: str  # https://10.0.0.5 or http://127.0.0.1:8000
    username: str = ""
    password: str = field(default="", repr=False)
    verify_tls: bool = True


@dataclass(frozen=True)
class Outcome:
    """What asking one BMC gave: a reading, or why not (a timeout, a refusal, nonsense)."""

    node_id: str
    reading: Reading | None = None
    error: str = ""
    seconds: float = 0.0
