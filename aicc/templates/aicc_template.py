"""What every template's `train.py` and `predict.py` share, shipped next to them in the job's
working directory (`import aicc_template`): the call convention of `aicc/core/templates.py`,
reading the input table, the held-out split, and writing metrics, curves and the report.

Standard library and pyarrow only; it imports nothing of AICC, so a template runs wherever a
job runs, and a downloaded model's `predict.py` runs without AICC.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson", ".json")


@dataclass
class Run:
    """One training run: where its data and outputs are, its hyperparameters, and the input
    table with the data's column for each of the template's columns."""

    data: Path
    output: Path
    hp: dict[str, Any]
    table: str | None = None  # the table to learn from (a path in `data`); None: find one
    columns: dict[str, str] = field(default_factory=dict)  # template column -> data column
    started: float = field(default_factory=time.monotonic)

    @property
    def model_dir(self) -> Path:
        path = self.output / "model"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def read_table(self, names: Sequence[str]) -> dict[str, list[Any]]:
        """The input table's columns `names` (the template's names), as lists."""
        wanted = {n: self.columns.get(n, n) for n in names}
        path = self.data / self.table if self.table else find_table(self.data, wanted.values())
        table = read_table(path)
        missing = [data for data in wanted.values() if data not in table]
        if missing:
            raise SystemExit(f"{path.name} has no column {missing[0]}")
        return {name: table[data] for name, data in wanted.items()}

    def log(self, step: int, **values: float) -> None:
        """One point of the training curves (`metrics.jsonl`), written as it happens."""
        point = {"step": step, "time_s": round(time.monotonic() - self.started, 3), **values}
        with open(self.output / "metrics.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(point) + "\n")

    def finish(self, metrics: dict[str, float], report: dict[str, Any]) -> None:
        """The held-out metrics (`metrics.json`) and what a person reads (`report.json`):
        `report` says what was learned from what data, in plain words and figures."""
        clean = {k: float(v) for k, v in metrics.items()}
        (self.output / "metrics.json").write_text(json.dumps(clean, indent=2) + "\n")
        report = {**report, "metrics": clean, "seconds": round(time.monotonic() - self.started, 1)}
        (self.output / "report.json").write_text(
            json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        )
        print("metrics:", json.dumps(clean))


def start() -> Run:
    """The run `train.py --data DIR --output DIR --params FILE` describes. `--params` holds
    `{"hyperparameters": {...}, "input": {"table": PATH | null, "columns": {...}}}`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--params", type=Path, required=True)
    args = parser.parse_args()
    doc = json.loads(args.params.read_text())
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "metrics.jsonl").write_text("")
    given = doc.get("input") or {}
    run = Run(
        data=args.data,
        output=args.output,
        hp=dict(doc.get("hyperparameters") or {}),
        table=given.get("table"),
        columns=dict(given.get("columns") or {}),
    )
    seed(int(run.hp.get("seed", 0)))
    return run


def predict_args() -> argparse.Namespace:
    """`predict.py --model DIR --input PATH --output PATH`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    return parser.parse_args()


def seed(value: int) -> None:
    """Seed every generator the templates use, so a run is repeatable."""
    random.seed(value)
    os.environ.setdefault("PYTHONHASHSEED", str(value))
    try:
        import numpy

        numpy.random.seed(value)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(value)
    except ImportError:
        pass


def find_table(data: Path, columns: Sequence[str] | Any) -> Path:
    """The largest table file under `data` that has all `columns`."""
    wanted = set(columns)
    candidates = sorted(
        (p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES),
        key=lambda p: -p.stat().st_size,
    )
    for path in candidates:
        if wanted <= set(read_table(path, limit=1)):
            return path
    raise SystemExit(f"no table under {data} has the columns {', '.join(sorted(wanted))}")


def read_table(path: Path, limit: int | None = None) -> dict[str, list[Any]]:
    """A CSV, TSV, Parquet or JSON lines file as {column: values}."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        import pyarrow.json as pj

        table = pj.read_json(path)
    else:
        import pyarrow.csv as pc

        delimiter = "\t" if suffix == ".tsv" else ","
        table = pc.read_csv(path, parse_options=pc.ParseOptions(delimiter=delimiter))
    if limit is not None:
        table = table.slice(0, limit)
    return {name: table.column(name).to_pylist() for name in table.column_names}


def write_table(path: Path, columns: dict[str, Sequence[Any]]) -> None:
    """{column: values} as CSV (or Parquet, by suffix)."""
    import pyarrow as pa

    table = pa.table({k: list(v) for k, v in columns.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    else:
        import pyarrow.csv as pc

        pc.write_csv(table, path)


def split(n: int, test_fraction: float = 0.2, seed: int = 0) -> tuple[list[int], list[int]]:
    """Row indices for training and the held-out test, shuffled with `seed`."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    cut = max(1, round(n * test_fraction))
    return order[cut:], order[:cut]


def device() -> str:
    """`cuda` when the job has a GPU, else `cpu` (the same code scales to GPUs)."""
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"
