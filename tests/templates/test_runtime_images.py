"""The runtime's PNG reading and writing (aicc_template.read_image, write_png), which the
image templates use in place of an imaging package: checked against Pillow's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aicc.templates import aicc_template


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16"])
def test_reads_what_pillow_writes_with_every_filter(mode: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ramp = np.add.outer(np.arange(24), np.arange(19)) * 5 % 256
    rgb = np.stack([ramp, ramp[::-1], rng.integers(0, 256, ramp.shape)], axis=2).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    image = image.convert(mode) if mode != "I;16" else Image.fromarray(ramp.astype(np.uint16) * 257)
    path = tmp_path / "x.png"
    image.save(path, optimize=True)  # Pillow picks the filters row by row (sub, up, Paeth ...)
    if mode == "I;16":  # 16 bits a sample: the high byte
        expected = np.repeat(ramp.astype(np.uint8)[:, :, None], 3, axis=2)
    else:
        expected = np.asarray(image.convert("RGB"))
    assert (aicc_template.read_image(path, channels=3) == expected).all()
    gray = aicc_template.read_image(path)
    assert gray.shape == (24, 19, 1)


def test_writes_pngs_pillow_reads_back(tmp_path: Path) -> None:
    gray = (np.arange(12 * 7).reshape(12, 7) * 3 % 256).astype(np.uint8)
    colour = np.stack([gray, 255 - gray, gray // 2], axis=2)
    aicc_template.write_png(tmp_path / "gray.png", gray)
    aicc_template.write_png(tmp_path / "colour.png", colour)
    assert (np.asarray(Image.open(tmp_path / "gray.png")) == gray).all()
    assert (np.asarray(Image.open(tmp_path / "colour.png")) == colour).all()
    assert (aicc_template.read_image(tmp_path / "gray.png")[:, :, 0] == gray).all()
    assert (aicc_template.read_image(tmp_path / "colour.png", channels=3) == colour).all()
    assert aicc_template.images(tmp_path) == [tmp_path / "colour.png", tmp_path / "gray.png"]
