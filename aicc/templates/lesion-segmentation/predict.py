"""Marks lesions on new scans with a trained model. `--input` is an image, a folder of images,
or a table with an `image` column (paths relative to the table's folder). `--output` is a CSV
`image,mask,lesion_pixels` (or a folder, which gets `predictions.csv`); the predicted masks are
written as PNGs (white: lesion) into `masks/` beside that CSV."""

from __future__ import annotations

import json
from pathlib import Path

import aicc_template
import numpy as np
import torch
from torch import nn
from train import load


def inputs(path: Path) -> tuple[list[Path], list[str]]:
    """The scans to read and the names they are listed under."""
    if path.is_file() and path.suffix.lower() in aicc_template.TABLE_SUFFIXES:
        table = aicc_template.read_table(path)
        if "image" not in table:
            raise SystemExit(f"{path.name} has no column image")
        return [path.parent / p for p in table["image"]], [str(p) for p in table["image"]]
    files = aicc_template.images(path)
    base = path if path.is_dir() else path.parent
    return files, [p.relative_to(base).as_posix() for p in files]


def main() -> None:
    args = aicc_template.predict_args()
    config = json.loads((args.model / "config.json").read_text())
    model = aicc_template.load_scripted(args.model)
    files, names = inputs(args.input)
    if not files:
        raise SystemExit(f"no images (PNG, JPEG, ...) in {args.input}")
    table = args.output if args.output.suffix.lower() == ".csv" else args.output / "predictions.csv"
    masks, pixels = [], []
    with torch.no_grad():
        for path, name in zip(files, names, strict=True):
            height, width = aicc_template.read_image(path).shape[:2]
            probability = model(load(path, config["image_size"]))
            probability = nn.functional.interpolate(probability, (height, width), mode="bilinear")
            mask = (probability[0, 0] > config["threshold"]).numpy()
            relative = Path("masks") / (
                Path(name).with_suffix("").as_posix().replace("/", "__") + ".png"
            )
            aicc_template.write_png(table.parent / relative, mask.astype(np.uint8) * 255)
            masks.append(relative.as_posix())
            pixels.append(int(mask.sum()))
    aicc_template.write_table(table, {"image": names, "mask": masks, "lesion_pixels": pixels})
    print(f"wrote {len(files)} masks and {table}")


if __name__ == "__main__":
    main()
