"""Writes the example data set: 1,200 generated daily records of a small factory's three
production lines (400 days), as a person would export them from a spreadsheet: dates as
`2021/03/04` text, gaps in the measurements, a category, a boolean, the shift leader's free-text
note, a row number, and the day's quality grade to predict: good, minor_defects or rework, in
the column `target`, so that a run on the example needs no column chosen (a run on the user's
data names theirs: `--column target=COLUMN`).

python example.py DEST  ->  DEST/factory_days.csv
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import aicc_template
import numpy as np

DAYS = 400
LINES = ["A", "B", "C"]
SUPPLIERS = ["Huaxin", "Dongfang", "Beigang", "Zhenyu"]
SUPPLIER_RISK = [0.0, 0.15, 0.9, 0.3]
GRADES = ["good", "minor_defects", "rework"]
NOTES = [  # (what the shift leader wrote, how it bears on the day's quality)
    ("smooth run, no issues", -0.6),
    ("normal output, routine checks done", -0.4),
    ("cleaning of the moulds done before the shift", -0.5),
    ("vibration on press {n} after lunch", 1.1),
    ("material batch felt damp, dried it for {n} minutes", 0.9),
    ("new operator trained on station {n}", 0.5),
    ("short power dip around {n}:00, restarted", 0.7),
    ("sensor on station {n} recalibrated", 0.2),
]


def generate(rng: np.random.Generator) -> dict[str, list[object]]:
    """The days of the three lines, with a quality that worsens with hours since the last
    maintenance, humid days, one supplier's material, speed, Mondays and what the note tells
    (a grade that no single column decides)."""
    n = DAYS * len(LINES)
    day = np.repeat(np.arange(DAYS), len(LINES))
    line = np.tile(np.arange(len(LINES)), DAYS)
    when = [date(2021, 1, 4) + timedelta(days=int(d)) for d in day]
    season = np.sin(2 * np.pi * (day - 100) / 365)
    temperature = np.round(18 + 10 * season + rng.normal(0, 2.5, n), 1)
    humidity = np.clip(np.round(60 + 15 * season + rng.normal(0, 9, n)), 20, 99)
    hours = np.zeros(n)
    for i in range(len(LINES)):  # maintenance every 10 to 30 days per line
        since, rows = 0.0, np.flatnonzero(line == i)
        for r in rows:
            since = 0.0 if rng.random() < 0.06 else since + rng.uniform(14, 22)
            hours[r] = round(since, 1)
    supplier = rng.choice(len(SUPPLIERS), n, p=[0.4, 0.25, 0.15, 0.2])
    speed = np.round(rng.normal([38, 42, 46], 4, (DAYS, 3)).reshape(-1), 1)
    overtime = rng.random(n) < 0.2
    note = rng.choice(len(NOTES), n, p=[0.3, 0.2, 0.12, 0.1, 0.08, 0.08, 0.05, 0.07])
    monday = np.array([d.weekday() == 0 for d in when])
    risk = (
        0.006 * hours
        + 0.05 * np.maximum(humidity - 68, 0)
        + np.take(SUPPLIER_RISK, supplier)
        + 0.06 * (speed - 42)
        + 0.45 * monday
        + 0.35 * overtime
        + np.array([NOTES[k][1] for k in note])
        + rng.normal(0, 0.45, n)
    )
    grade = np.digitize(risk, [0.75, 1.55])
    texts = [
        f"Line {LINES[li]}: " + NOTES[k][0].format(n=int(rng.integers(1, 12)))
        for li, k in zip(line, note, strict=True)
    ]
    return {
        "id": list(range(1, n + 1)),
        "date": [d.strftime("%Y/%m/%d") for d in when],
        "line": [LINES[i] for i in line],
        "supplier": [SUPPLIERS[i] for i in supplier],
        "temperature_c": _gaps(rng, temperature, 0.03),
        "humidity_pct": _gaps(rng, humidity, 0.05),
        "hours_since_maintenance": hours.tolist(),
        "line_speed": _gaps(rng, speed, 0.02),
        "overtime": overtime.tolist(),
        "shift_note": texts,
        "target": [GRADES[g] for g in grade],
    }


def _gaps(rng: np.random.Generator, values: np.ndarray, share: float) -> list[float | None]:
    """The values with a share of them missing, as a spreadsheet has them."""
    return [None if rng.random() < share else float(v) for v in values]


def main() -> None:
    dest = Path(sys.argv[1])
    table = generate(np.random.default_rng(20211104))
    shares = [table["target"].count(g) / len(table["target"]) for g in GRADES]
    assert all(0.15 < s < 0.6 for s in shares), shares
    aicc_template.write_table(dest / "factory_days.csv", table)


if __name__ == "__main__":
    main()
