"""Writes the example data set: 32x32 grayscale scan slices (a body outline of soft tissue
with noise) holding one to three bright lesions, their binary masks, and `pairs.csv` that pairs
each image with its mask. Generated and seeded, so every run writes the same files.

    python example.py DEST
"""

from __future__ import annotations

import sys
from pathlib import Path

import aicc_template
import numpy as np

SIZE = 32
SCANS = 240


def scan(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A slice (0..255) and its lesion mask (0 or 255)."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    cx, cy = SIZE / 2 + rng.normal(0, 1.5, 2)
    ax, ay = rng.uniform(11, 14), rng.uniform(9, 13)
    body = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1
    image = np.where(body, 0.35, 0.05) + rng.normal(0, 0.05, (SIZE, SIZE))
    # soft-tissue structure: a few broad, faint bright patches that are not lesions
    for _ in range(3):
        px, py = cx + rng.normal(0, 5, 2)
        image += body * 0.08 * np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * 4.0**2))
    mask = np.zeros((SIZE, SIZE), bool)
    for _ in range(rng.integers(1, 4)):
        while True:
            lx, ly = cx + rng.uniform(-0.6, 0.6) * ax, cy + rng.uniform(-0.6, 0.6) * ay
            if ((lx - cx) / ax) ** 2 + ((ly - cy) / ay) ** 2 < 0.5:
                break
        rx, ry, turn = rng.uniform(1.5, 4), rng.uniform(1.5, 4), rng.uniform(0, np.pi)
        u = (x - lx) * np.cos(turn) + (y - ly) * np.sin(turn)
        v = -(x - lx) * np.sin(turn) + (y - ly) * np.cos(turn)
        lesion = (u / rx) ** 2 + (v / ry) ** 2 <= 1
        mask |= lesion
        image += lesion * rng.uniform(0.25, 0.4)
    image += rng.normal(0, 0.04, (SIZE, SIZE))
    return np.clip(image * 255, 0, 255).astype(np.uint8), mask.astype(np.uint8) * 255


def main(dest: Path) -> None:
    rng = np.random.default_rng(19)
    images, masks = [], []
    for i in range(SCANS):
        image, mask = scan(rng)
        images.append(f"images/scan_{i:04d}.png")
        masks.append(f"masks/scan_{i:04d}.png")
        aicc_template.write_png(dest / images[-1], image)
        aicc_template.write_png(dest / masks[-1], mask)
    aicc_template.write_table(dest / "pairs.csv", {"image": images, "mask": masks})
    print(f"wrote {SCANS} scans and masks to {dest}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
