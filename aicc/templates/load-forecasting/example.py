"""Writes the example data set: the hourly electricity load of a mid-sized city over 120 days
of spring and early summer 2025, with its temperature. The load follows the working day (morning
and evening peaks), the week (lower at weekends), public holidays (Qingming, Labour Day, Dragon
Boat) and the heat (air conditioning above about 22 °C), with weather and demand noise.

python example.py DEST  ->  DEST/city_load_hourly.csv
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import aicc_template
import numpy as np

START = datetime(2025, 3, 1)
DAYS = 120
HOLIDAYS = {date(2025, 4, d) for d in (4, 5, 6)} | {date(2025, 5, d) for d in range(1, 6)}
HOLIDAYS |= {date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 2)}
# The day's shape of a working day, per hour, as a share of the base load.
WORKDAY = [
    0.72, 0.68, 0.66, 0.65, 0.66, 0.71, 0.82, 0.95, 1.05, 1.1, 1.12, 1.1,
    1.04, 1.06, 1.1, 1.1, 1.08, 1.1, 1.18, 1.22, 1.18, 1.08, 0.94, 0.81,
]  # fmt: skip
RESTDAY = [
    0.74, 0.7, 0.67, 0.66, 0.66, 0.68, 0.72, 0.78, 0.86, 0.93, 0.97, 0.98,
    0.96, 0.94, 0.94, 0.95, 0.97, 1.02, 1.1, 1.14, 1.12, 1.04, 0.92, 0.8,
]  # fmt: skip


def generate(rng: np.random.Generator) -> dict[str, list[object]]:
    hours = DAYS * 24
    times = [START + timedelta(hours=i) for i in range(hours)]
    day = np.arange(hours) / 24
    hour = np.array([t.hour for t in times])
    # Temperature: the season warming from about 9 to 29 °C, a daily swing peaking at 15:00,
    # and weather fronts lasting days (a slow random walk pulled back to the season).
    weather = np.zeros(hours)
    for i in range(1, hours):
        weather[i] = 0.985 * weather[i - 1] + rng.normal(0, 0.35)
    season = 9 + 20 * (day / DAYS) ** 1.2
    temperature = season + 4.5 * np.cos((hour - 15) / 24 * 2 * np.pi) + weather
    rest = np.array([t.weekday() >= 5 or t.date() in HOLIDAYS for t in times])
    holiday = np.array([t.date() in HOLIDAYS for t in times])
    shape = np.where(rest, np.take(RESTDAY, hour), np.take(WORKDAY, hour))
    cooling = 16 * np.maximum(temperature - 22, 0) ** 1.15
    heating = 7 * np.maximum(13 - temperature, 0)
    noise = np.zeros(hours)
    for i in range(1, hours):
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 0.009)
    growth = 1 + 0.0004 * day
    load = (850 * shape * growth * np.where(holiday, 0.9, 1.0) + cooling + heating) * (1 + noise)
    return {
        "timestamp": [t.strftime("%Y-%m-%d %H:%M:%S") for t in times],
        "load_mw": np.round(load, 1).tolist(),
        "temperature": np.round(temperature, 1).tolist(),
    }


def main() -> None:
    dest = Path(sys.argv[1])
    aicc_template.write_table(
        dest / "city_load_hourly.csv", generate(np.random.default_rng(20250301))
    )


if __name__ == "__main__":
    main()
