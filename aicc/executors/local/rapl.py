"""This machine's CPU and memory power from RAPL, read through the kernel's powercap files
(`/sys/class/powercap/intel-rapl:N/energy_uj`, AMD's too under the same names): the machine is
the local executor's, so the reading is here; loops/books.py stores it as the node's power
(services/telemetry/samples.py) and the meter shares it among the node's CPU jobs.

Zones counted: each top-level package (`intel-rapl:N`, name `package-*`) and each `dram`
sub-zone (`intel-rapl:N:M`): the package zones hold their cores and uncore, DRAM is apart,
and `psys` (the whole platform, where there is one) would count everything twice. Counters
wrap to 0 past `max_energy_range_uj` (core/energy.py's `counter_delta`). Files the kernel
keeps for root only (since 2020, CVE-2020-8694) are skipped: no readable zone, no reading.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from aicc.core.energy import counter_delta

log = logging.getLogger(__name__)
POWERCAP = Path("/sys/class/powercap")
MAX_FILE = 64  # bytes of one counter file


@dataclass(frozen=True)
class Zone:
    path: Path
    name: str
    max_range_uj: int


def _read(path: Path) -> str:
    with open(path, "rb") as handle:
        return handle.read(MAX_FILE).decode("ascii", "replace").strip()


def zones(root: Path = POWERCAP) -> list[Zone]:
    """The package and DRAM zones whose counters this process can read."""
    found = []
    try:
        candidates = sorted(root.glob("intel-rapl:*"))
    except OSError:
        return []
    for path in candidates:
        try:
            name = _read(path / "name")
            if not (name.startswith("package") or name == "dram"):
                continue
            top = path.name.count(":") == 1
            if name.startswith("package") and not top:
                continue
            int(_read(path / "energy_uj"))
            found.append(Zone(path, name, int(_read(path / "max_energy_range_uj"))))
        except (OSError, ValueError):
            continue  # unreadable (root only) or not a counter
    return found


class Rapl:
    """Successive readings of the zones' counters; `watts()` is the mean power since the last
    call (None at the first call, or without a readable zone)."""

    def __init__(self, root: Path = POWERCAP) -> None:
        self.root = root
        self.zones = zones(root)
        self._last: tuple[float, dict[Path, int]] | None = None

    @property
    def available(self) -> bool:
        return bool(self.zones)

    def counters(self) -> dict[Path, int]:
        found = {}
        for zone in self.zones:
            try:
                found[zone.path] = int(_read(zone.path / "energy_uj"))
            except (OSError, ValueError):
                continue
        return found

    def watts(self, now: float | None = None) -> float | None:
        """Mean power (W) of the counted zones since the previous call."""
        if not self.zones:
            return None
        at = time.monotonic() if now is None else now
        seen = self.counters()
        last, self._last = self._last, (at, seen)
        if last is None or at <= last[0]:
            return None
        joules = 0.0
        for zone in self.zones:
            if zone.path in seen and zone.path in last[1]:
                delta = counter_delta(last[1][zone.path], seen[zone.path], zone.max_range_uj)
                joules += delta / 1e6
        return joules / (at - last[0])
