"""Forecasts against the seasonal naive one: the series-forecast template on generated monthly
series of the shapes that matter (issue 58, item 6), beside statsforecast's AutoETS and
AutoARIMA, each scored by MASE against the seasonal naive forecast on a held-out year.

The shapes, each drawn with seeds 0, 1, 2 (deterministic; a random seasonal profile per seed):

- `linear-mult`: a linear trend times a multiplicative season (the season grows with the level);
- `exp-mult`: an exponential trend (1 % a month) times a multiplicative season;
- `additive`: a linear trend plus an additive season;
- `smooth`: a slow trend plus a two-harmonic season, hardly any noise;
- `noisy`: a weak trend and season under noise as large as the season;
- `short-50`, `short-60`: `linear-mult` with 50 and 60 months of history (50: the fewest the
  template takes at its defaults, 2 + 12 x (3 + 1));
- `intermittent`: Poisson demand with a seasonal rate, most months zero.

Every system sees the same training months and forecasts the next 12, which are held out:

- `seasonal-naive`: the last year repeated (the baseline: MASE's denominator is its in-sample
  error one year ahead, Hyndman and Koehler, 2006);
- `aicc`: the template's own `train.py` (its defaults: `time_budget_s` 60, 3 backtests), then its
  `predict.py` asked `{"horizon": 12}`, each in a process as a job runs them
  (`aicc.testing.templates`);
- `autoets`, `autoarima`: statsforecast's, `season_length=12`, in this process (they take no
  budget and finish in about a second, well inside the template's).

    .venv/bin/python benchmarks/forecast.py [--only linear-mult,short-50] [--seeds 3] [--json]

Per shape: each system's mean MASE over the seeds, and how many series the template beats
seasonal naive on. statsforecast is the `bench` extra's (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

SEASON = 12
HORIZON = 12
SYSTEMS = ("seasonal-naive", "aicc", "autoets", "autoarima")


def _profile(rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A season of 12 months: a sine at a random phase plus a random bump, mean 0, its
    largest swing `amplitude`."""
    k = np.arange(SEASON)
    shape = np.sin(2 * math.pi * k / SEASON + rng.uniform(0, 2 * math.pi))
    shape += 0.5 * rng.normal(size=SEASON)
    shape -= shape.mean()
    return np.asarray(amplitude * shape / np.abs(shape).max(), dtype=float)


def _linear_mult(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    level = 100 + rng.uniform(0.8, 2.0) * t
    season = 1 + _profile(rng, 0.35)[t % SEASON]
    return np.asarray(level * season * (1 + rng.normal(0, 0.03, n)), dtype=float)


def _exp_mult(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    season = 1 + _profile(rng, 0.3)[t % SEASON]
    return np.asarray(50 * 1.01**t * season * (1 + rng.normal(0, 0.03, n)), dtype=float)


def _additive(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    return np.asarray(200 + 0.8 * t + _profile(rng, 30)[t % SEASON] + rng.normal(0, 4, n))


def _smooth(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    phase = rng.uniform(0, 2 * math.pi)
    season = 10 * np.sin(2 * math.pi * t / SEASON + phase) + 4 * np.cos(4 * math.pi * t / SEASON)
    return np.asarray(50 + 0.4 * t + 0.002 * t**2 + season + rng.normal(0, 0.5, n))


def _noisy(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    return np.asarray(100 + 0.2 * t + _profile(rng, 10)[t % SEASON] + rng.normal(0, 8, n))


def _intermittent(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    rate = 0.8 * (1 + _profile(rng, 0.9)[t % SEASON])
    return rng.poisson(rate).astype(float)


# shape: (maker, months of history before the held-out year)
SHAPES: dict[str, tuple[Callable[[np.random.Generator, int], np.ndarray], int]] = {
    "linear-mult": (_linear_mult, 120),
    "exp-mult": (_exp_mult, 96),
    "additive": (_additive, 96),
    "smooth": (_smooth, 72),
    "noisy": (_noisy, 96),
    "short-50": (_linear_mult, 50),
    "short-60": (_linear_mult, 60),
    "intermittent": (_intermittent, 72),
}


def series(shape: str, seed: int) -> np.ndarray:
    """The shape's series for `seed`: its history and the held-out year."""
    make, months = SHAPES[shape]
    index = list(SHAPES).index(shape)
    return np.asarray(make(np.random.default_rng(1000 * index + seed), months + HORIZON))


def mase(history: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> float:
    scale = float(np.abs(history[SEASON:] - history[:-SEASON]).mean())
    return float(np.abs(np.asarray(predicted) - actual).mean() / scale)


def seasonal_naive(history: np.ndarray) -> np.ndarray:
    return np.array([history[len(history) - SEASON + k % SEASON] for k in range(HORIZON)])


def statsforecast_model(name: str) -> Callable[[np.ndarray], np.ndarray]:
    from statsforecast.models import AutoARIMA, AutoETS

    kind = {"autoets": AutoETS, "autoarima": AutoARIMA}[name]

    def forecast(history: np.ndarray) -> np.ndarray:
        model = kind(season_length=SEASON).fit(history.astype(float))
        return np.asarray(model.predict(HORIZON)["mean"], dtype=float)

    return forecast


def aicc(history: np.ndarray, work: Path) -> tuple[np.ndarray, str]:
    """The template trained on `history` (months from 2010-01) at its defaults, then asked
    for the next 12 months; its forecast and the forecaster it chose."""
    from aicc.testing import templates

    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    lines = ["month,value"] + [
        f"{2010 + i // 12}-{i % 12 + 1:02d}-01,{v:.6g}" for i, v in enumerate(history)
    ]
    (data / "series.csv").write_text("\n".join(lines) + "\n")
    columns = {"time": "month", "target": "value"}
    trained = templates.train("series-forecast", data, work / "run", {}, columns=columns)
    asked = work / "horizon.jsonl"
    asked.write_text(json.dumps({"horizon": HORIZON}) + "\n")
    out = templates.predict("series-forecast", trained.model, asked, work / "forecast.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return np.array([r["value_forecast"] for r in rows], dtype=float), trained.report["facts"][
        "model"
    ]


def run(shapes: list[str], seeds: int, systems: list[str], work: Path) -> list[dict[str, Any]]:
    """One row per series: each system's MASE and seconds (and the template's choice)."""
    out = []
    for shape in shapes:
        for seed in range(seeds):
            y = series(shape, seed)
            history, actual = y[:-HORIZON], y[-HORIZON:]
            row: dict[str, Any] = {"shape": shape, "seed": seed, "months": len(history)}
            for system in systems:
                started = time.monotonic()
                try:
                    if system == "seasonal-naive":
                        got = seasonal_naive(history)
                    elif system == "aicc":
                        got, row["aicc_model"] = aicc(history, work / f"{shape}-{seed}")
                    else:
                        got = statsforecast_model(system)(history)
                    row[system] = round(mase(history, actual, got), 4)
                except (AssertionError, subprocess.SubprocessError, ValueError) as e:
                    row[system] = None
                    row[f"{system}_error"] = str(e).strip().splitlines()[-1][:300]
                row[f"{system}_s"] = round(time.monotonic() - started, 2)
            print(json.dumps(row), file=sys.stderr, flush=True)
            out.append(row)
    return out


def summary(rows: list[dict[str, Any]], systems: list[str]) -> dict[str, Any]:
    """Per shape each system's mean MASE, and the series where the template beats seasonal
    naive; over all, the same and the mean seconds."""
    shapes: dict[str, Any] = {}
    for shape in dict.fromkeys(r["shape"] for r in rows):
        mine = [r for r in rows if r["shape"] == shape]
        means = {s: _mean([r.get(s) for r in mine]) for s in systems}
        beats = sum(
            1
            for r in mine
            if r.get("aicc") is not None and r["aicc"] < r.get("seasonal-naive", math.inf)
        )
        shapes[shape] = {"mean_mase": means, "aicc_beats_naive": f"{beats}/{len(mine)}"}
    overall = {s: _mean([r.get(s) for r in rows]) for s in systems}
    seconds = {s: _mean([r.get(f"{s}_s") for r in rows]) for s in systems}
    won = [r for r in rows if r.get("aicc") is not None and r["aicc"] < r.get("seasonal-naive", 0)]
    shapes_won = [
        k
        for k, v in shapes.items()
        if (v["mean_mase"].get("aicc") or math.inf) < (v["mean_mase"].get("seasonal-naive") or 0)
    ]
    return {
        "shapes": shapes,
        "mean_mase": overall,
        "mean_seconds": seconds,
        "aicc_beats_naive_series": f"{len(won)}/{len(rows)}",
        "aicc_beats_naive_shapes": f"{len(shapes_won)}/{len(shapes)}",
    }


def _mean(values: list[Any]) -> float | None:
    got = [v for v in values if v is not None]
    return round(sum(got) / len(got), 4) if got and len(got) == len(values) else None


def _versions() -> str:
    from importlib import metadata

    names = ("statsforecast", "statsmodels", "scikit-learn", "numpy")
    found = []
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)


def markdown(doc: dict[str, Any]) -> str:
    systems = doc["systems"]
    lines = ["| shape (months) | " + " | ".join(systems) + " | AICC beats naive |"]
    lines.append("|---" * (len(systems) + 2) + "|")
    for shape, s in doc["summary"]["shapes"].items():
        months = SHAPES[shape][1]
        cells = [_fmt(s["mean_mase"][k]) for k in systems]
        lines.append(
            f"| {shape} ({months}) | " + " | ".join(cells) + f" | {s['aicc_beats_naive']} |"
        )
    means = doc["summary"]["mean_mase"]
    won = doc["summary"]["aicc_beats_naive_series"]
    lines.append("| mean | " + " | ".join(_fmt(means[k]) for k in systems) + f" | {won} |")
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated shapes")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--dir", type=Path, default=None, help="keep the runs' files here")
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    args = parser.parse_args()
    shapes = [s for s in args.only.split(",") if s] or list(SHAPES)
    unknown = set(shapes) - set(SHAPES)
    if unknown:
        parser.error(f"no shape {sorted(unknown)}; the shapes: {list(SHAPES)}")
    systems = [s for s in args.systems.split(",") if s]
    if not systems or set(systems) - set(SYSTEMS):
        parser.error(f"--systems: some of {', '.join(SYSTEMS)}")
    work = args.dir or Path(tempfile.mkdtemp(prefix="aicc-forecast-"))
    rows = run(shapes, args.seeds, systems, work)
    doc = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "libraries": _versions(),
        "systems": systems,
        "rows": rows,
        "summary": summary(rows, systems),
    }
    print(json.dumps(doc, indent=2) if args.json else markdown(doc))


if __name__ == "__main__":
    main()
