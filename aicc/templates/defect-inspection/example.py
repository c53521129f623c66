"""Writes the example data set: 32x32 grayscale photos of a brushed steel surface, one folder
per class: `ok`, `scratch` (a thin straight bright line), `spot` (a dark round pit) and
`crack` (a dark jagged line). Generated and seeded, so every run writes the same images.

    python example.py DEST
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import aicc_template
import numpy as np

SIZE = 32
PER_CLASS = 120
CLASSES = ("ok", "scratch", "spot", "crack")


def surface(rng: np.random.Generator) -> np.ndarray:
    """Brushed steel: a lit gradient, horizontal grain and sensor noise (values 0..1)."""
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    light = rng.uniform(0.45, 0.6) + rng.uniform(-0.08, 0.08) * (x - 0.5 + y - 0.5)
    grain = np.repeat(rng.normal(0, 0.035, (SIZE, 1)), SIZE, axis=1)
    grain += rng.normal(0, 0.02, (SIZE, SIZE))
    return light + grain


def line(img: np.ndarray, points: np.ndarray, value: float, width: float) -> None:
    """Draws a polyline through `points` (x, y) by darkening/lightening pixels near it."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    near = np.full(img.shape, np.inf)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        near = np.minimum(near, np.hypot(x - (x0 + t * dx), y - (y0 + t * dy)))
    img += value * np.clip(1.0 - near / width, 0, 1)


def draw(kind: str, rng: np.random.Generator) -> np.ndarray:
    img = surface(rng)
    if kind == "scratch":
        angle, length = rng.uniform(0, np.pi), rng.uniform(14, 26)
        centre = rng.uniform(10, 22, 2)
        d = np.array([np.cos(angle), np.sin(angle)]) * length / 2
        line(img, np.array([centre - d, centre + d]), rng.uniform(0.22, 0.35), 1.0)
    elif kind == "spot":
        cx, cy = rng.uniform(6, 26, 2)
        r = rng.uniform(1.8, 3.5)
        y, x = np.mgrid[0:SIZE, 0:SIZE]
        img -= rng.uniform(0.2, 0.32) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
    elif kind == "crack":
        steps = rng.integers(5, 9)
        heading = rng.uniform(0, 2 * np.pi)
        points = [rng.uniform(8, 24, 2)]
        for _ in range(steps):
            heading += rng.normal(0, 0.9)
            points.append(points[-1] + 3.2 * np.array([np.cos(heading), np.sin(heading)]))
        line(img, np.clip(np.array(points), 0, SIZE - 1), -rng.uniform(0.22, 0.32), 1.1)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def main(dest: Path) -> None:
    rng = np.random.default_rng(19)
    aicc_template.write_labelled_images(dest, CLASSES, PER_CLASS, lambda kind: draw(kind, rng))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
