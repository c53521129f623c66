"""Sorts new surface photos with a trained model: `--input` is an image or a folder of images
(searched recursively); `--output` a CSV with `path,label,score` (the path relative to the
input folder, the predicted class and its probability)."""

from __future__ import annotations

import json

import aicc_template
import torch
from train import load


def main() -> None:
    args = aicc_template.predict_args()
    config = json.loads((args.model / "classes.json").read_text())
    model = aicc_template.load_scripted(args.model)
    paths = aicc_template.images(args.input)
    if not paths:
        raise SystemExit(f"no images (PNG, JPEG, ...) in {args.input}")
    labels, scores = [], []
    with torch.no_grad():
        for i in range(0, len(paths), 256):
            probabilities = model(load(paths[i : i + 256], config["image_size"]))
            score, index = probabilities.max(1)
            labels += [config["classes"][k] for k in index.tolist()]
            scores += [round(v, 4) for v in score.tolist()]
    base = args.input if args.input.is_dir() else args.input.parent
    names = [p.relative_to(base).as_posix() for p in paths]
    aicc_template.write_table(args.output, {"path": names, "label": labels, "score": scores})
    print(f"wrote {len(paths)} predictions to {args.output}")


if __name__ == "__main__":
    main()
