"""Writes the example: eight days of a city courier's deliveries (`stops.csv`), each day a depot
and 25 shops or homes on a 20 x 20 km grid, in a few neighbourhoods, with parcels (demand) and
for some a delivery window (minutes after the shift starts)."""

import csv
import random
import sys
from pathlib import Path

DAYS, STOPS = 8, 25


def main(dest: Path) -> None:
    rng = random.Random(19)
    rows = []
    for day in range(DAYS):
        instance = f"2026-10-{day + 1:02d}"
        rows.append((instance, "depot", 10.0, 10.0, 0, 0, 600))
        hubs = [(rng.uniform(2, 18), rng.uniform(2, 18)) for _ in range(4)]
        for n in range(STOPS):
            hx, hy = rng.choice(hubs)
            x = min(20.0, max(0.0, rng.gauss(hx, 1.8)))
            y = min(20.0, max(0.0, rng.gauss(hy, 1.8)))
            window = rng.random()
            if window < 0.25:
                ready, due = 0, 240  # mornings only
            elif window < 0.5:
                ready, due = 180, 480  # afternoons
            else:
                ready, due = 0, 480
            demand = rng.randint(2, 18)
            rows.append(
                (instance, f"C{day + 1}-{n + 1:02d}", round(x, 2), round(y, 2), demand, ready, due)
            )
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / "stops.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["instance", "stop_id", "x", "y", "demand", "ready", "due"])
        writer.writerows(rows)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
