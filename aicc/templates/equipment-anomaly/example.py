"""Writes the example data set: five days of readings, every five minutes, from four
centrifugal pumps of a water plant (vibration, bearing temperature, outlet pressure, motor
current), with rare faults marked in `is_anomaly` (about 3% of the readings): bearing wear
(vibration and heat rise), cavitation (pressure falls, vibration gets rough), an electrical
fault (current up, nothing else) and a seal leak (pressure down, current up). A fault mostly
breaks the usual relation between the sensors rather than pushing one far out of range.

python example.py DEST  ->  DEST/pump_sensors.csv
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import aicc_template
import numpy as np

START = datetime(2025, 9, 1)
STEPS = 5 * 24 * 12  # five days of five-minute readings
PUMPS = {  # rated current (A), pressure (bar), vibration (mm/s)
    "P-101": (42.0, 6.2, 2.1),
    "P-102": (38.0, 5.6, 1.8),
    "P-103": (55.0, 7.4, 2.6),
    "P-104": (30.0, 4.8, 1.5),
}
FAULTS = ("bearing", "cavitation", "electrical", "seal")


def smooth(rng: np.random.Generator, n: int, keep: float, step: float) -> np.ndarray:
    out = np.zeros(n)
    for i in range(1, n):
        out[i] = keep * out[i - 1] + rng.normal(0, step)
    return out


def pump(rng: np.random.Generator, rated: tuple[float, float, float]) -> dict[str, np.ndarray]:
    current0, pressure0, vibration0 = rated
    hour = (np.arange(STEPS) * 5 / 60) % 24
    # Demand on the pump: the town's water use (morning and evening peaks) and slow drift.
    demand = (
        0.62
        + 0.16 * np.sin((hour - 7) / 24 * 2 * np.pi) ** 2
        + 0.18 * (np.exp(-((hour - 19.5) ** 2) / 4))
    )
    demand = np.clip(demand + smooth(rng, STEPS, 0.98, 0.012), 0.3, 1.05)
    current = current0 * (0.45 + 0.55 * demand) + rng.normal(0, 0.35, STEPS)
    pressure = pressure0 * (0.55 + 0.45 * demand) + rng.normal(0, 0.05, STEPS)
    vibration = vibration0 * (0.75 + 0.35 * demand) + np.abs(rng.normal(0, 0.07, STEPS))
    ambient = 24 + 4 * np.sin((hour - 9) / 24 * 2 * np.pi)
    heat = np.empty(STEPS)  # the bearing warms with the load, over about an hour
    heat[0] = current[0] / current0
    for i in range(1, STEPS):
        heat[i] = heat[i - 1] + (current[i] / current0 - heat[i - 1]) / 12
    temperature = ambient + 22 * heat + rng.normal(0, 0.25, STEPS)
    label = np.zeros(STEPS, dtype=int)
    start = int(rng.integers(30, 120))
    while start < STEPS - 30:
        length = int(rng.integers(4, 14))
        fault = FAULTS[int(rng.integers(len(FAULTS)))]
        strength = rng.uniform(0.6, 1.2)
        ramp = np.linspace(0.4, 1.0, length) * strength
        span = slice(start, start + length)
        if fault == "bearing":
            vibration[span] *= 1 + 0.9 * ramp
            temperature[span] += 7 * ramp
        elif fault == "cavitation":
            pressure[span] *= 1 - 0.22 * ramp
            vibration[span] += np.abs(rng.normal(0, 0.9 * vibration0 * strength, length))
        elif fault == "electrical":
            current[span] *= 1 + 0.28 * ramp
        else:
            pressure[span] *= 1 - 0.15 * ramp
            current[span] *= 1 + 0.1 * ramp
        label[span] = 1
        start += length + int(rng.integers(160, 420))
    return {
        "vibration_mm_s": vibration,
        "bearing_temp_c": temperature,
        "pressure_bar": pressure,
        "motor_current_a": current,
        "is_anomaly": label,
    }


def generate(rng: np.random.Generator) -> dict[str, list[object]]:
    table: dict[str, list[object]] = {"timestamp": [], "machine_id": []}
    for name, rated in PUMPS.items():
        readings = pump(rng, rated)
        table["timestamp"] += [
            f"{START + timedelta(minutes=5 * i):%Y-%m-%d %H:%M:%S}" for i in range(STEPS)
        ]
        table["machine_id"] += [name] * STEPS
        for column, values in readings.items():
            rounded = values.tolist() if column == "is_anomaly" else np.round(values, 3).tolist()
            table.setdefault(column, []).extend(rounded)
    return table


def main() -> None:
    dest = Path(sys.argv[1])
    aicc_template.write_table(dest / "pump_sensors.csv", generate(np.random.default_rng(20250901)))


if __name__ == "__main__":
    main()
