"""Writes the example data set: three years (2021 to 2023) of a shop's daily sales, with its
holiday flag (true or false). Sales grow slowly, are higher at weekends and in the cool
months, jump on the shopping festivals (618, Double 11) and the National Day week, drop over
the Spring Festival, and wander with the weather and demand. Dates are written as
`2021/03/04`, as many shop systems export them.

python example.py DEST  ->  DEST/shop_sales_daily.csv
"""

from __future__ import annotations

import math
import sys
from datetime import date, timedelta
from pathlib import Path

import aicc_template
import numpy as np

START = date(2021, 1, 1)
DAYS = 3 * 365
SPRING_FESTIVAL = {2021: date(2021, 2, 12), 2022: date(2022, 2, 1), 2023: date(2023, 1, 22)}
WEEKDAY = [0.92, 0.9, 0.93, 0.97, 1.05, 1.2, 1.18]  # Monday to Sunday


def effect(day: date) -> tuple[float, bool]:
    """The holiday's effect on the day's sales, and whether it is a holiday."""
    if (day.month, day.day) in ((6, 18), (11, 11)):
        return 1.7, True
    if day.month == 10 and day.day <= 7:
        return 1.3, True
    gap = (day - SPRING_FESTIVAL[day.year]).days
    if 0 <= gap < 7:
        return 0.55, True
    return 1.0, False


def generate(rng: np.random.Generator) -> dict[str, list[object]]:
    days = [START + timedelta(days=i) for i in range(DAYS)]
    noise = np.zeros(DAYS)
    for i in range(1, DAYS):
        noise[i] = 0.6 * noise[i - 1] + rng.normal(0, 0.04)
    sales, holiday = [], []
    for i, day in enumerate(days):
        trend = 200 + 0.06 * i
        year = 1 + 0.12 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25)
        boost, flag = effect(day)
        sales.append(round(trend * year * WEEKDAY[day.weekday()] * boost * (1 + noise[i]), 1))
        holiday.append(flag)
    return {
        "date": [f"{d:%Y/%m/%d}" for d in days],
        "sales": sales,
        "holiday": holiday,
    }


def main() -> None:
    dest = Path(sys.argv[1])
    aicc_template.write_table(
        dest / "shop_sales_daily.csv", generate(np.random.default_rng(20210101))
    )


if __name__ == "__main__":
    main()
