"""Writes the example data set: 32x32 colour pictures of three shapes, one folder per class
(`circle`, `square`, `triangle`), each drawn at a random size, place, turn and colour on a
noisy light background, so neither colour nor position gives the class away.
Generated and seeded, so every run writes the same images.

    python example.py DEST  ->  DEST/circle/circle_000.png, ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import aicc_template
import numpy as np

SIZE = 32
PER_CLASS = 200
CLASSES = ("circle", "square", "triangle")


def mask(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Where the shape is: a boolean SIZE x SIZE array."""
    y, x = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    cx, cy = rng.uniform(11, 21, 2)
    r = rng.uniform(6, 10)
    if kind == "circle":
        return bool_(np.hypot(x - cx, y - cy) <= r)
    turn = rng.uniform(0, 2 * np.pi)
    u = (x - cx) * np.cos(turn) + (y - cy) * np.sin(turn)
    v = -(x - cx) * np.sin(turn) + (y - cy) * np.cos(turn)
    if kind == "square":
        side = r * 0.85
        return bool_((np.abs(u) <= side) & (np.abs(v) <= side))
    # an equilateral triangle: inside its three half-planes
    inside = np.ones_like(u, dtype=bool)
    for k in range(3):
        a = 2 * np.pi * k / 3
        inside &= u * np.cos(a) + v * np.sin(a) <= r * 0.55
    return inside


def bool_(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=bool)


def draw(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A dark shape of any colour on a light background of any colour (as drawn on paper)."""
    background = rng.uniform(150, 255, 3)
    colour = rng.uniform(0, 110, 3)
    image = np.empty((SIZE, SIZE, 3))
    image[:] = background
    image[mask(kind, rng)] = colour
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def main(dest: Path) -> None:
    rng = np.random.default_rng(37)
    aicc_template.write_labelled_images(dest, CLASSES, PER_CLASS, lambda kind: draw(kind, rng))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
