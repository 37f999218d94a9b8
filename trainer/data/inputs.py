"""Image files a user hands to a trained model (`hoot predict`, `hoot explain`), read the way the
run's cache read its training images (resize + centre crop), each bad file a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from hoot.advisor.errors import HootError
from hoot.trainer.data.cache import decode_resized
from hoot.trainer.data.dataset import probe_image


def load_images(images: Sequence[str], size: int) -> np.ndarray:
    """(N, 3, size, size) uint8 for `images`; a missing, unusable or undecodable file raises HootError naming it."""
    arrays = []
    for img in images:
        p = Path(img)
        if not p.is_file():
            raise HootError(f"image '{img}' does not exist or is not a file")
        probed = probe_image(p)
        if isinstance(probed, str):
            raise HootError(f"image '{img}' cannot be used: {probed}")
        try:
            arrays.append(decode_resized(str(p), size))
        except OSError as exc:
            raise HootError(f"image '{img}' cannot be decoded ({exc})") from None
    return np.stack(arrays)
