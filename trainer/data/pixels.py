"""Any picture Pillow opens, as the same 8-bit RGB picture: the one pixel reader hoot uses.

Why: `Image.convert("RGB")` clips high-bit-depth modes instead of scaling them (a 16-bit PNG
of a mid-grey picture becomes white), drops alpha without compositing (transparent areas show
whatever colour they happen to store) and warns on palette transparency. A dataset that mixes
8-bit and 16-bit files would then train on two different pictures of the same scene.
Rules: integer modes scale by the range of their type (16-bit: /257, so an 8-bit picture
saved as 16 bits reads back identical); float pictures in [0, 1] scale by 255, others by their
own min..max; transparency is composited onto white.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

_BACKGROUND = (255, 255, 255)  # what transparent pixels become (icons and scans are drawn on white)


def _scaled_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """One channel of a high-bit-depth mode scaled into 0..255 (not clipped)."""
    v = values.astype(np.float64)
    if mode.startswith("I;16"):
        v = v / 257.0  # 65535 -> 255 exactly
    elif mode == "I":
        lo, hi = float(v.min(initial=0)), float(v.max(initial=0))
        if lo >= 0 and hi <= 255:  # an 8-bit picture stored as 32-bit ints
            pass
        elif lo >= 0 and hi <= 65535:  # a 16-bit PNG or TIFF opened as I
            v = v / 257.0
        else:
            v = (v - lo) / max(hi - lo, 1e-12) * 255.0
    else:  # "F"
        finite = v[np.isfinite(v)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if lo >= 0 and hi <= 1:
            v = v * 255.0
        elif not (lo >= 0 and hi <= 255):
            v = (v - lo) / max(hi - lo, 1e-12) * 255.0
        v = np.nan_to_num(v, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def to_rgb8(im: "Image.Image") -> "Image.Image":
    """`im` in any Pillow mode as an 8-bit RGB picture (see the module docstring for the rules)."""
    from PIL import Image

    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I") or mode == "F":
        grey = _scaled_to_uint8(np.asarray(im), mode)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, HSV: Pillow's own conversion is right for these
