"""What every template's `train.py` and `predict.py` share, shipped next to them in the job's
working directory (`import aicc_template`): the call convention of `aicc/core/templates.py`,
reading the input table and its cells, the held-out split, and writing metrics, curves, the
report and the predictions.

Standard library and pyarrow only; it imports nothing of AICC, so a template runs wherever a
job runs, and a downloaded model's `predict.py` runs without AICC.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
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


def load_scripted(model: Path) -> Any:
    """The TorchScript network a template's train.py saved in `model` (`model.pt`), on the CPU
    and ready to predict, on one thread: a small network gains nothing from more on shared
    cores. Torch is imported when this is called, so templates without it never load it."""
    import torch

    torch.set_num_threads(1)
    scripted = torch.jit.load(str(model / "model.pt"), map_location="cpu")  # type: ignore[no-untyped-call]
    scripted.eval()
    return scripted


def seed(value: int) -> None:
    """Seed every generator the templates use, so a run is repeatable."""
    random.seed(value)
    os.environ.setdefault("PYTHONHASHSEED", str(value))
    try:
        import numpy

        numpy.random.seed(value)
    except ImportError:
        pass
    torch = sys.modules.get("torch")  # seeded where the template uses it: importing it
    if torch is not None:  # costs a second or more, which a scikit-learn template never needs
        torch.manual_seed(value)


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
    """A table file as {column: values}: CSV or TSV (UTF-8, UTF-8 with a BOM, UTF-16 with a
    BOM, or GBK/GB18030; `,` `;` tab or `|` between cells), a JSON array of objects, JSON lines,
    or Parquet. It reads what the data set's preview reads, so a table that passes the fit
    check is a table the run can read."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path, use_threads=False)
    else:
        text = _decoded(path.read_bytes())
        if suffix in (".jsonl", ".ndjson", ".json"):
            return _json_table(text, path, limit)
        table = _csv_table(text, "\t" if suffix == ".tsv" else delimiter(text))
    if limit is not None:
        table = table.slice(0, limit)
    return {name: table.column(name).to_pylist() for name in table.column_names}


ENCODINGS = ("utf-8", "gb18030")  # tried in turn; a BOM decides before them


def _decoded(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def delimiter(text: str) -> str:
    """The delimiter of a CSV: of `,` `;` tab `|`, the one found most often, outside quotes,
    on the same count in the first lines."""
    lines = [line for line in text[:65536].splitlines()[:20] if line.strip()]
    best, score = ",", 0
    for candidate in (",", ";", "\t", "|"):
        counts = [len(_unquoted(line).split(candidate)) - 1 for line in lines]
        steady = counts and min(counts) > 0 and counts.count(counts[0]) >= len(counts) * 0.8
        if steady and counts[0] > score:
            best, score = candidate, counts[0]
    return best


def _unquoted(line: str) -> str:
    parts = line.split('"')
    return "".join(parts[0::2])


def _csv_table(text: str, delimiter: str) -> Any:
    import io

    import pyarrow as pa
    import pyarrow.csv as pc

    data = text.encode("utf-8")
    parse = pc.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    # One thread: Arrow's pool, left running when a script ends in SystemExit, sometimes
    # aborts the interpreter at exit ("terminate called without an active exception").
    read = pc.ReadOptions(use_threads=False)
    try:
        return pc.read_csv(io.BytesIO(data), parse_options=parse, read_options=read)
    except pa.ArrowInvalid:
        # a column whose first block looked like numbers and later held text: infer the
        # types from the whole file at once
        whole = pc.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 20))
        return pc.read_csv(io.BytesIO(data), parse_options=parse, read_options=whole)


def _json_table(text: str, path: Path, limit: int | None) -> dict[str, list[Any]]:
    """A JSON array of objects, or JSON lines (an object per line), as columns; a key a row
    lacks is None in that row."""
    body = text.strip()
    try:
        if body.startswith("["):
            rows = json.loads(body)
        else:
            rows = [json.loads(line) for line in body.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise SystemExit(f"{path.name} is not JSON lines or a JSON array: {e}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SystemExit(f"{path.name} holds no objects (a row per object)")
    if limit is not None:
        rows = rows[:limit]
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return {name: [row.get(name) for row in rows] for name in names}


# The formats of a date column, most specific first; a column's values share one.
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%Y%m%d",
    "%Y%m%d%H%M%S",
    "%Y-%m",
    "%Y/%m",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%Y年%m月",
    "%d %b %Y",
    "%b %d %Y",
    "%b %d, %Y",
    "%Y",
)


def parse_times(values: Sequence[Any]) -> list[datetime | None]:
    """A column's cells as times, None where a cell is empty or not a time. Text takes the
    one format (ISO 8601, or one of `TIME_FORMATS`) that reads most of its values, so
    `01/02/2010` is read the same way on every row; whole numbers read as `20100102` or as a
    year; dates are midnight; times with a zone are in UTC, without it."""
    texts = sorted({v.strip() for v in values if isinstance(v, str) and v.strip()})
    chosen = time_format(texts[:: max(1, len(texts) // 200)]) if texts else None
    parsed: dict[str, datetime | None] = {}
    out: list[datetime | None] = []
    for value in values:
        if isinstance(value, str):
            key = value.strip()
            if key not in parsed:
                parsed[key] = read_time(key, chosen)
            out.append(parsed[key])
        else:
            out.append(_time(value))
    return out


def time_format(sample: Sequence[str]) -> str | None:
    """The format that reads most of `sample` ("iso" for ISO 8601), None when none does."""
    best, score = None, 0
    for fmt in ("iso", *TIME_FORMATS):
        hits = sum(read_time(text, fmt) is not None for text in sample)
        if hits > score:
            best, score = fmt, hits
    return best


def read_time(text: str, fmt: str | None) -> datetime | None:
    if not text or fmt is None:
        return None
    try:
        if fmt == "iso":
            if len(text) < 10 or text[4] != "-":
                return None
            return _naive(datetime.fromisoformat(text))
        return datetime.strptime(text, fmt)
    except ValueError:
        return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _naive(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    whole = int(value)
    try:
        if 10_000_101 <= whole <= 29_991_231:
            return datetime.strptime(str(whole), "%Y%m%d")
        if 1000 <= whole <= 2999:
            return datetime(whole, 1, 1)
    except ValueError:
        return None
    return None


def _naive(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


# A series' frequency by the usual gap between its times: (code, smallest, largest gap in days).
FREQUENCIES = (
    ("H", 1 / 24 * 0.99, 1 / 24 * 1.01),
    ("D", 0.99, 1.01),
    ("W", 6.99, 7.01),
    ("M", 27.9, 31.1),
    ("Q", 88.9, 92.1),
    ("Y", 364.9, 366.1),
)


def frequency(times: Sequence[datetime | None]) -> str | None:
    """The series' frequency: `H`, `D`, `W`, `M`, `Q` or `Y` when at least 80% of the gaps
    between its distinct, sorted times are of one of them (a few missing steps allowed); None
    when the times are irregular or too few."""
    moments = sorted({t for t in times if t is not None})
    if len(moments) < 3:
        return None
    gaps = [(b - a).total_seconds() / 86400 for a, b in itertools.pairwise(moments)]
    for code, low, high in FREQUENCIES:
        if sum(low <= gap <= high for gap in gaps) >= 0.8 * len(gaps):
            return code
    return None


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


def write_labelled_images(
    dest: Path, classes: Sequence[str], per_class: int, draw: Callable[[str], Any]
) -> None:
    """`per_class` images of each class drawn by `draw(kind)`, as `DEST/KIND/KIND_000.png`: one
    folder per class, the layout the image templates read their labels from."""
    for kind in classes:
        for i in range(per_class):
            write_png(dest / kind / f"{kind}_{i:03d}.png", draw(kind))
    print(f"wrote {per_class * len(classes)} images to {dest}")


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
