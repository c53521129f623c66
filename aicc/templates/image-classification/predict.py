"""Classifies new images with a trained model. `--input` is an image, a folder of images
(searched recursively), or a table (CSV, JSON, JSON lines, Parquet) with an `image` column
whose values are paths (inside the table's folder, relative to it) or the image itself as
base64 PNG or JPEG (a `data:image/...;base64,` prefix allowed), which is what a deployment's
`POST /predict` receives as JSON. `--output` gets one row per image: `path` (for a folder) or
the table's other columns, then `class_predicted`, its `probability`, and `probability_<class>`
for each class, up to 50 classes (CSV, or JSON lines when the output ends in .jsonl)."""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
from pathlib import Path
from typing import Any

import aicc_template
import torch
from train import load

TABLES = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet")
COLUMN = "image"
SIGNATURES = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"GIF8": ".gif", b"BM": ".bmp"}


def decoded(value: str) -> tuple[bytes, str] | None:
    """The image a base64 text holds, and its file suffix; None when it holds none."""
    text = value.strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    suffix = next((s for sig, s in SIGNATURES.items() if data.startswith(sig)), None)
    return (data, suffix) if suffix else None


def from_table(source: Path, tmp: Path) -> tuple[dict[str, list[Any]], list[Path]]:
    """The table's other columns and the image file of each row (written to `tmp` when sent
    as base64)."""
    table = aicc_template.read_table(source)
    column = COLUMN if COLUMN in table else (next(iter(table)) if len(table) == 1 else None)
    if column is None:
        have = ", ".join(list(table)[:12])
        raise SystemExit(
            f"{source.name} has no column {COLUMN} (a path or base64 image); it has: {have}"
        )
    paths, inline = [], False
    for i, value in enumerate(table[column]):
        if not isinstance(value, str) or not value.strip():
            raise SystemExit(f"row {i + 1}: {column} is empty; give a path or a base64 PNG/JPEG")
        if len(value) < 4096 and not value.startswith("data:"):
            # A path inside the table's folder only: rows sent to a deployment cannot make it
            # read the server's own files.
            folder = source.parent.resolve()
            candidate = (folder / value).resolve()
            if candidate.is_relative_to(folder) and candidate.is_file():
                paths.append(candidate)
                continue
        found = decoded(value)
        if found is None:
            raise SystemExit(
                f"row {i + 1}: {column} is neither an image file beside the table nor a "
                "base64 PNG or JPEG"
            )
        path = tmp / f"{i:06d}{found[1]}"
        path.write_bytes(found[0])
        paths.append(path)
        inline = True
    rest = {k: v for k, v in table.items() if k != column or not inline}
    return rest, paths


def main() -> None:
    args = aicc_template.predict_args()
    config = json.loads((args.model / "config.json").read_text("utf-8"))
    classes = config["classes"]
    model = aicc_template.load_scripted(args.model)
    with tempfile.TemporaryDirectory(prefix="aicc-images-") as tmp:
        if args.input.is_file() and args.input.suffix.lower() in TABLES:
            out, paths = from_table(args.input, Path(tmp))
        else:
            paths = aicc_template.images(args.input)
            if not paths:
                raise SystemExit(f"no images (PNG, JPEG, ...) in {args.input}")
            base = args.input if args.input.is_dir() else args.input.parent
            out = {"path": [p.relative_to(base).as_posix() for p in paths]}
        chances = []
        with torch.no_grad():
            for i in range(0, len(paths), 256):
                try:
                    batch = load(paths[i : i + 256], config["image_size"], config["channels"])
                except (OSError, ValueError) as err:
                    raise SystemExit(f"an image could not be read: {err}") from None
                chances += model(batch).tolist()
    out["class_predicted"] = [classes[max(range(len(p)), key=p.__getitem__)] for p in chances]
    out["probability"] = [round(max(p), 5) for p in chances]
    for k, name in enumerate(classes if len(classes) <= 50 else []):  # as schema.json says
        out[f"probability_{name}"] = [round(p[k], 5) for p in chances]
    aicc_template.write_output(args.output, out)
    print(f"{len(paths)} images classified -> {args.output}")


if __name__ == "__main__":
    main()
