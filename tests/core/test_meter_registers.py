"""Facility meters, pure (core/meters.py): a register's words into kW or kWh for every type and
word order, a meter's mean kW over an hour from power samples and from a counter, and the
hour's PUE or its gap, never filled in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aicc.core.meters import (
    MAX_GAP,
    TYPES,
    Point,
    Register,
    RegisterError,
    decode,
    encode,
    hour_pue,
    mean_kw,
)

H = datetime(2026, 11, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize("kind", sorted(TYPES))
@pytest.mark.parametrize("order", ["big", "little"])
def test_every_type_and_word_order_reads_back(kind: str, order: str) -> None:
    register = Register(0, kind, order, scale=0.1, unit="kW")
    value = 1234.5 if kind.startswith("float") else 1234.0
    words = encode(value, register)
    assert len(words) == register.count == TYPES[kind][1]
    assert decode(words, register) == pytest.approx(value)


def test_known_words_as_a_meter_sends_them() -> None:
    # 200.0 as IEEE 754 float32 is 0x43480000: big word order sends 0x4348 first
    assert decode([0x4348, 0x0000], Register(0, "float32", "big")) == 200.0
    assert decode([0x0000, 0x4348], Register(0, "float32", "little")) == 200.0
    # a uint32 Wh counter at 123456789 Wh, low word first: 123456.789 kWh
    words = [123456789 & 0xFFFF, 123456789 >> 16]
    assert decode(words, Register(0, "uint32", "little", unit="Wh")) == pytest.approx(123456.789)
    assert decode([0xFFFF], Register(0, "int16", unit="W", scale=10)) == pytest.approx(-0.01)
    with pytest.raises(RegisterError, match="needs 2"):
        decode([1], Register(0, "uint32"))
    with pytest.raises(RegisterError, match="not a number"):
        decode([0x7FC0, 0], Register(0, "float32"))  # NaN


def points(values: list[tuple[int, float]]) -> list[Point]:
    return [Point(H + timedelta(minutes=m), v) for m, v in values]


def test_mean_power_integrates_and_a_gap_is_none() -> None:
    # 100 kW for the first half, 200 kW for the second, every 5 minutes
    found = points([(m, 100.0 if m < 30 else 200.0) for m in range(0, 61, 5)])
    assert mean_kw(found, H, "power") == pytest.approx(150.0, abs=5)
    assert mean_kw(points([(m, 80.0) for m in range(0, 61, 5)]), H, "power") == 80.0
    holed = [p for p in found if not 20 <= (p.at - H).total_seconds() / 60 <= 40]
    assert mean_kw(holed, H, "power") is None  # 25 minutes unsampled
    late = [p for p in found if p.at - H > MAX_GAP + timedelta(minutes=1)]
    assert mean_kw(late, H, "power") is None  # the hour's start unsampled
    assert mean_kw([], H, "power") is None


def test_counter_rise_is_the_hours_energy_and_a_reset_is_a_gap() -> None:
    # 250 kWh an hour: the counter read every 4 minutes from 07:58 past the hour
    found = [
        Point(H + timedelta(minutes=m - 2), 10_000 + 250 * (m - 2) / 60) for m in range(0, 65, 4)
    ]
    assert mean_kw(found, H, "energy") == pytest.approx(250.0)
    reset = [*found[:5], Point(found[5].at, 0.0), *found[6:]]
    assert mean_kw(reset, H, "energy") is None


def test_hour_pue_by_roles_and_its_gaps() -> None:
    flat = {
        "grid": points([(m, 1300.0) for m in range(0, 61, 5)]),
        "it-a": points([(m, 600.0) for m in range(0, 61, 5)]),
        "it-b": points([(m, 400.0) for m in range(0, 61, 5)]),
        "chiller": points([(m, 250.0) for m in range(0, 61, 5)]),
    }
    meters = [
        ("grid", "utility", "power"),
        ("it-a", "it", "power"),
        ("it-b", "it", "power"),
        ("chiller", "cooling", "power"),
    ]
    found = hour_pue(H, meters, flat)
    assert found.pue == pytest.approx(1.3) and found.gap == "" and found.facility_from == "utility"
    assert found.it_kw == 1000 and found.cooling_kw == 250
    partial = hour_pue(H, meters[1:], flat)  # no utility meter: IT + cooling
    assert partial.pue == pytest.approx(1.25) and partial.facility_from == "it+cooling"
    lacking = hour_pue(H, meters, {**flat, "it-b": flat["it-b"][:4]})
    assert lacking.pue is None and lacking.gap == "missing" and lacking.missing == ("it-b",)
    assert hour_pue(H, meters[:1], flat).gap == "no-it"
    assert hour_pue(H, meters[1:3], flat).gap == "no-facility"
    idle = hour_pue(H, meters, {**flat, "it-a": points([(m, 0.0) for m in range(0, 61, 5)]),
                                 "it-b": points([(m, 0.0) for m in range(0, 61, 5)])})  # fmt: skip
    assert idle.pue is None and idle.gap == "no-it-power"
