"""Every image mode Pillow opens reads as the same 8-bit RGB picture (issue 21: 16-bit PNGs were saturated)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hoot.trainer.data.cache import build_split, decode_resized


def _labels(samples, size):
    import numpy as np

    return np.array([s.label for s in samples], dtype=np.int64)
from hoot.trainer.data.dataset import Sample


def _grey(size: int = 48) -> np.ndarray:
    """A dark-ish gradient (mean about 73, like the issue's pictures)."""
    y, x = np.mgrid[0:size, 0:size]
    return ((x + y) * 146 // (2 * size - 2)).astype(np.uint8)


def _save(path: Path, im: Image.Image) -> str:
    im.save(path)
    return str(path)


def _versions(tmp: Path) -> dict[str, str]:
    """The same picture in many modes, saved as files hoot will meet."""
    g = _grey()
    rgb = np.stack([g, g, g], axis=-1)
    pal = Image.fromarray(g, "L").convert("P")
    pal.info["transparency"] = 255  # an unused index: nothing is transparent, but Pillow warns on it
    return {
        "L": _save(tmp / "l.png", Image.fromarray(g, "L")),
        "I;16": _save(tmp / "i16.png", Image.fromarray(g.astype(np.uint16) * 257)),
        "I": _save(tmp / "i32.tif", Image.fromarray(g.astype(np.int32) * 257)),
        "F": _save(tmp / "f.tif", Image.fromarray(g.astype(np.float32) / 255.0)),
        "LA": _save(tmp / "la.png", Image.fromarray(np.stack([g, np.full_like(g, 255)], -1), "LA")),
        "RGBA": _save(tmp / "rgba.png", Image.fromarray(np.dstack([rgb, np.full_like(g, 255)]), "RGBA")),
        "CMYK": _save(tmp / "cmyk.jpg", Image.fromarray(rgb, "RGB").convert("CMYK")),
        "P+transparency": _save(tmp / "p.png", pal),
    }


@pytest.mark.parametrize("mode", ["I;16", "I", "F", "LA", "RGBA", "CMYK", "P+transparency"])
def test_every_mode_reads_as_the_8_bit_picture(tmp_path: Path, mode: str) -> None:
    files = _versions(tmp_path)
    with Image.open(files[mode]) as im:
        assert im.mode.split(";")[0] in ("I", "F", "L", "LA", "RGBA", "CMYK", "P"), im.mode
    reference = decode_resized(files["L"], 32).astype(int)
    got = decode_resized(files[mode], 32).astype(int)
    tolerance = 3 if mode == "CMYK" else 1  # JPEG is lossy
    assert np.abs(got - reference).mean() <= tolerance, (mode, got.mean(), reference.mean())


def test_transparent_pixels_become_white_not_their_stored_colour(tmp_path: Path) -> None:
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)  # black, fully transparent
    path = _save(tmp_path / "clear.png", Image.fromarray(rgba, "RGBA"))
    assert decode_resized(path, 32).min() == 255


def test_cache_means_agree_for_8_and_16_bit_versions(tmp_path: Path) -> None:
    files = _versions(tmp_path)
    eight = build_split([Sample(files["L"], 0)], 32, tmp_path / "c8", "train", _labels, "classification:2", progress=False)[0]
    sixteen = build_split([Sample(files["I;16"], 0)], 32, tmp_path / "c16", "train", _labels, "classification:2",
                          progress=False)[0]
    assert abs(float(np.asarray(eight.images).mean()) - float(np.asarray(sixteen.images).mean())) < 0.5
    assert 60 < float(np.asarray(sixteen.images).mean()) < 90  # not saturated towards 255
