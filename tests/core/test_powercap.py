"""Which power cap is in force: the standing one, and an operator's event only inside its
window; and the quantities people write for a cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aicc.core.powercap import CapEvent, in_force, parse_power_kw

T = datetime(2026, 11, 25, 10, tzinfo=UTC)
EVENT = CapEvent("pcap_1", 120.0, T, T + timedelta(hours=2))


def test_an_event_cap_applies_only_inside_its_window() -> None:
    assert in_force(None, [EVENT], T - timedelta(seconds=1)) is None
    inside = in_force(None, [EVENT], T)
    assert inside is not None and inside.cap_kw == 120.0
    assert inside.source == "demand response until 2026-11-25 12:00 UTC"
    assert in_force(None, [EVENT], T + timedelta(hours=2)) is None


def test_the_lowest_of_the_standing_cap_and_the_events_holds() -> None:
    before = in_force(200.0, [EVENT], T - timedelta(hours=1))
    assert before is not None and (before.cap_kw, before.source) == (200.0, "site.power_cap_kw")
    during = in_force(200.0, [EVENT], T + timedelta(hours=1))
    assert during is not None and during.cap_kw == 120.0
    looser = CapEvent("pcap_2", 500.0, T, T + timedelta(hours=2))
    kept = in_force(200.0, [looser], T)
    assert kept is not None and kept.cap_kw == 200.0


@pytest.mark.parametrize(
    ("text", "kw"), [("120kW", 120.0), ("1.5MW", 1500.0), ("800W", 0.8), ("75", 75.0), (42, 42.0)]
)
def test_power_quantities(text: str | int, kw: float) -> None:
    assert parse_power_kw(text) == pytest.approx(kw)


@pytest.mark.parametrize("bad", ["120 kWh", "-3kW", "0", "lots", True, 10**400, float("nan")])
def test_bad_power_quantities_say_what_would_do(bad: object) -> None:
    with pytest.raises(ValueError, match="power"):
        parse_power_kw(bad)  # type: ignore[arg-type]
