"""What every template's `train.py` and `predict.py` share, shipped next to them in the job's
working directory (`import aicc_template`): the call convention of `aicc/core/templates.py`,
reading the input table and its cells, the held-out split, and writing metrics, curves, the
report and the predictions.

Standard library and pyarrow only; it imports nothing of AICC, so a template runs wherever a
job runs, and a downloaded model's `predict.py` runs without AICC.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import struct
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson", ".json")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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

    def log_losses(self, fit: Iterable[float], validation: Iterable[float]) -> None:
        """A boosted model's loss after each iteration on its fit and validation parts, as the
        curves `loss` and `val_loss`; the first entries (before any tree) are left out."""
        for step, (fit_loss, val_loss) in enumerate(zip(fit, validation, strict=True)):
            if step:
                self.log(step, loss=float(fit_loss), val_loss=float(val_loss))

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
    `{"hyperparameters": {...}, "input": {"table": PATH | null, "columns": {...}}}`, and for a
    search `"trials": [{...}, ...]`, the hyperparameters of each replica (`$AICC_REPLICA`)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--params", type=Path, required=True)
    args = parser.parse_args()
    doc = json.loads(args.params.read_text())
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "metrics.jsonl").write_text("")
    given = doc.get("input") or {}
    # A search (core/template_search.py): one job, one replica per trial, each trains with
    # the trial its replica index picks.
    trials = doc.get("trials")
    hp = trials[int(os.environ["AICC_REPLICA"])] if trials else doc.get("hyperparameters")
    run = Run(
        data=args.data,
        output=args.output,
        hp=dict(hp or {}),
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


def write_table(path: Path, columns: Mapping[str, Sequence[Any]]) -> None:
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


def write_output(
    path: Path, columns: Mapping[str, Sequence[Any]], *, ensure_ascii: bool = False
) -> None:
    """What `predict.py` found, {column: values}: JSON lines when `path` ends in .jsonl or
    .ndjson (an object per row; a value JSON lacks, such as a date, as its text), else as
    `write_table` writes it."""
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        write_table(path, columns)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for values in zip(*columns.values(), strict=True):
            row = dict(zip(columns, values, strict=True))
            out.write(json.dumps(row, ensure_ascii=ensure_ascii, default=str) + "\n")


def number(value: Any) -> float:
    """A cell as a float: NaN when it is empty, not a number, or not finite."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


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


def images(root: Path) -> list[Path]:
    """The image files under `root` (or `root` itself when it is one), in a stable order."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def write_png(path: Path, pixels: Any) -> None:
    """An 8-bit image (H x W grayscale, or H x W x 1..4 channels) as a PNG file. Written with
    the standard library, so the templates need no imaging package."""
    import numpy

    array = numpy.ascontiguousarray(numpy.asarray(pixels, dtype=numpy.uint8))
    if array.ndim == 2:
        array = array[:, :, None]
    height, width, channels = array.shape
    color = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\0" + array[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def read_image(path: Path, channels: int = 1) -> Any:
    """An image as a uint8 numpy array H x W x `channels` (1: gray, 3: RGB). PNG is read
    with the standard library; other formats need Pillow where the job runs."""
    import numpy

    data = path.read_bytes()
    if data.startswith(PNG_SIGNATURE):
        array = _decode_png(data)
    else:
        try:
            from PIL import Image
        except ImportError:
            message = f"{path.name}: only PNG images can be read here (install pillow)"
            raise SystemExit(message) from None
        with Image.open(path) as image:
            array = numpy.asarray(image.convert("RGB"))
    if array.shape[2] in (2, 4):  # drop alpha
        array = array[:, :, :-1]
    if channels == 1 and array.shape[2] == 3:
        gray = array.astype(numpy.float32) @ numpy.array([0.299, 0.587, 0.114], numpy.float32)
        return numpy.clip(gray.round(), 0, 255).astype(numpy.uint8)[:, :, None]
    if channels == 3 and array.shape[2] == 1:
        return numpy.repeat(array, 3, axis=2)
    return array


def _decode_png(data: bytes) -> Any:
    """8- or 16-bit, non-interlaced PNG (gray, RGB, palette, with or without alpha) as a uint8
    array H x W x C."""
    import numpy

    pos, idat, palette = 8, [], None
    width = height = depth = color = interlace = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = numpy.frombuffer(body, numpy.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color)
    if samples is None or depth not in (8, 16) or interlace:
        raise SystemExit("unsupported PNG (interlaced, or under 8 bits per sample)")
    bpp = samples * depth // 8
    stride = width * bpp
    raw = numpy.frombuffer(zlib.decompress(b"".join(idat)), numpy.uint8)
    rows = raw[: height * (stride + 1)].reshape(height, stride + 1)
    out = rows[:, 1:].astype(numpy.int32)
    previous = numpy.zeros(stride, numpy.int32)
    for y in range(height if rows[:, 0].any() else 0):  # rows with filters to undo
        kind, line = rows[y, 0], rows[y, 1:].astype(numpy.int32)
        if kind == 1:  # sub: a running sum per byte of the pixel
            line = numpy.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:
            line = (line + previous) % 256
        elif kind in (3, 4):
            done = _unfilter(int(kind), line.tolist(), previous.tolist(), bpp)
            line = numpy.array(done, numpy.int32)
        out[y], previous = line, line
    pixels = out.astype(numpy.uint8)
    if depth == 16:
        pixels = pixels.reshape(height, width * samples, 2)[:, :, 0]
    pixels = pixels.reshape(height, width, samples)
    if color == 3 and palette is not None:
        pixels = palette[pixels[:, :, 0]]
    return pixels


def _unfilter(kind: int, line: list[int], up: list[int], bpp: int) -> list[int]:
    """PNG's average (3) and Paeth (4) filters, which depend on the pixel just decoded."""
    for i, value in enumerate(line):
        left = line[i - bpp] if i >= bpp else 0
        corner = up[i - bpp] if i >= bpp else 0
        if kind == 3:
            guess = (left + up[i]) // 2
        else:
            p = left + up[i] - corner
            pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - corner)
            guess = left if pa <= pb and pa <= pc else up[i] if pb <= pc else corner
        line[i] = (value + guess) % 256
    return line
