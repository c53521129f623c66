"""The site's energy profile read from disk: the real grid carbon of Germany and Great Britain
in 2020 (when the shared traces are on this machine), a small profile with its CSV beside it,
and profiles the server refuses to start with, saying what to fix."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aicc import config
from aicc.core.energy import ProfileError
from aicc.server import energy_profile
from aicc.services.billing.energy import load_profile

TRACES = Path("/work/shared/data/traces/carbon-2020")
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.fixture
def traces() -> Path:
    if not (TRACES / "ger_ci.csv").exists():
        reason = f"the carbon-2020 traces are not at {TRACES} (SOURCE.md there says what they are)"
        warnings.warn(reason, stacklevel=1)  # in the summary, not only as an 's'
        pytest.skip(reason)
    return TRACES


def test_the_real_2020_profiles_of_germany_and_great_britain(traces: Path, tmp_path: Path) -> None:
    """ger_ci.csv comes every 15 minutes, gb_ci.csv every 30, both in UTC: an hour is the mean
    of its rows (ger_ci.csv lines 9606-9609, gb_ci.csv lines 4804-4805)."""
    for name in ("ger", "gb"):
        (tmp_path / f"{name}.yaml").write_text(
            f"name: {name}-2020\ntimezone: UTC\nrepeat: yearly\n"
            f"carbon_intensity: {{csv: {traces / f'{name}_ci.csv'}}}\n"
        )
    de = load_profile(tmp_path / "ger.yaml")
    gb = load_profile(tmp_path / "gb.yaml")
    hour = datetime(2020, 3, 29, 1, 0, tzinfo=UTC)
    assert de.carbon_at(hour) == pytest.approx(173.052, abs=1e-3)
    assert gb.carbon_at(hour) == pytest.approx((122.22187359928283 + 124.64792655480535) / 2)
    assert de.carbon_intensity is not None and len(de.carbon_intensity.hourly) == 9288
    assert de.carbon_at(datetime(2026, 3, 29, 1, 45, tzinfo=UTC)) == de.carbon_at(hour)
    hours = [datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(8784)]
    de_year = [de.carbon_at(t) or 0.0 for t in hours]  # 2020: a leap year, every hour present
    gb_year = [gb.carbon_at(t) or 0.0 for t in hours]
    assert sum(de_year) / len(hours) == pytest.approx(313.4, abs=0.1)
    assert sum(gb_year) / len(hours) == pytest.approx(212.9, abs=0.1)
    assert min(gb_year) == pytest.approx(64.7, abs=0.1) and max(de_year) < 600


def test_a_profile_reads_its_csv_from_its_own_folder(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "grid.csv").write_text(
        "Time,Carbon Intensity\n2026-11-03 09:00:00,520\n2026-11-03 09:30:00,480\n"
    )
    (tmp_path / "site" / "energy.yaml").write_text(
        "timezone: UTC\npue: 1.2\ncarbon_intensity: {csv: grid.csv}\n"
    )
    profile = load_profile(tmp_path / "site" / "energy.yaml")
    assert profile.carbon_at(datetime(2026, 11, 3, 9, 20, tzinfo=UTC)) == 500.0
    assert profile.pue_at(datetime(2030, 1, 1, tzinfo=UTC)) == 1.2


def test_a_profile_that_does_not_parse_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "energy.yaml"
    path.write_text("timezone: UTC\npue: [1.2\ncarbon_intensity: 400\n")
    with pytest.raises(ProfileError, match=r"energy.yaml line 3, column \d+: not YAML"):
        load_profile(path)
    path.write_text("carbon_intensity: {csv: missing.csv}\n")
    with pytest.raises(ProfileError, match=r"cannot read .*missing.csv"):
        load_profile(path)


def test_the_server_refuses_a_bad_profile_and_finds_a_relative_one_in_its_home(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "energy.yaml").write_text("pue: {monthly: [1.3, 1.3]}\n")
    settings = config.load(home, site={"energy_profile": "energy.yaml"})
    with pytest.raises(config.ConfigError) as caught:
        energy_profile(settings)
    assert str(caught.value) == (
        f"site.energy_profile: {home / 'energy.yaml'}: pue.monthly: a list of 12 numbers, "
        "January first"
    )
    (home / "energy.yaml").write_text("pue: 1.15\n")
    found = energy_profile(settings)
    assert found is not None and found.pue_at(datetime(2026, 1, 1, tzinfo=UTC)) == 1.15
    assert energy_profile(config.load(home)) is None
    assert config.load(home).site.carbon_intensity == 536.6


def test_the_profiles_docs_billing_md_shows_are_read_as_it_says(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "billing.md").read_text("utf-8")
    blocks = [b for b in FENCE.findall(text) if b.startswith("# example: energy profile")]
    assert len(blocks) == 2
    (tmp_path / "grid-2026.csv").write_text("Time,Carbon Intensity\n2026-07-01 08:00:00,530\n")
    (tmp_path / "beijing.yaml").write_text(blocks[0])
    profile = load_profile(tmp_path / "beijing.yaml")
    assert profile.carbon_at(datetime(2026, 7, 1, 0, 30, tzinfo=UTC)) == 530.0  # 08:30 local
    assert profile.pue_at(datetime(2026, 7, 1, tzinfo=UTC)) == 1.20
    assert profile.price_at(datetime(2025, 12, 31, 18, tzinfo=UTC)) == 0.40  # 02:00 local
    assert "/carbon-2020/ger_ci.csv" in blocks[1]
