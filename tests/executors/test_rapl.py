"""The RAPL reader against a folder laid out as /sys/class/powercap is (this machine exposes
none), counters wrapping at max_energy_range_uj included."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicc.core.energy import counter_delta
from aicc.executors.local.rapl import Rapl, zones


def _zone(root: Path, name: str, label: str, energy: int, top: int = 1000_000_000) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "name").write_text(label + "\n")
    (path / "energy_uj").write_text(f"{energy}\n")
    (path / "max_energy_range_uj").write_text(f"{top}\n")
    return path


def test_packages_and_dram_are_counted_psys_and_cores_are_not(tmp_path: Path) -> None:
    _zone(tmp_path, "intel-rapl:0", "package-0", 10)
    _zone(tmp_path, "intel-rapl:0:0", "core", 10)
    _zone(tmp_path, "intel-rapl:0:2", "dram", 10)
    _zone(tmp_path, "intel-rapl:1", "psys", 10)
    assert sorted(z.name for z in zones(tmp_path)) == ["dram", "package-0"]


def test_watts_from_two_readings_with_a_wrap(tmp_path: Path) -> None:
    package = _zone(tmp_path, "intel-rapl:0", "package-0", 999_000_000)
    dram = _zone(tmp_path, "intel-rapl:0:2", "dram", 5_000_000)
    rapl = Rapl(tmp_path)
    assert rapl.available and rapl.watts(now=100.0) is None  # the first reading
    (package / "energy_uj").write_text("1000000\n")  # wrapped: 1,000,000 + 1,000,000 µJ = 2 J
    (dram / "energy_uj").write_text("25000000\n")  # 20 J
    assert rapl.watts(now=102.0) == pytest.approx(11.0)  # 22 J in 2 s
    assert counter_delta(999_000_000, 1_000_000, 1000_000_000) == 2_000_000


def test_no_readable_zone_no_reading(tmp_path: Path) -> None:
    _zone(tmp_path, "intel-rapl:0", "package-0", 10).joinpath("energy_uj").chmod(0)
    rapl = Rapl(tmp_path / "absent")
    assert not rapl.available and rapl.watts() is None
