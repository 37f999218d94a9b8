"""Content and perceptual hashes of every image, from one decode each.

Exact duplicates are files with the same SHA-256 of their bytes. Near duplicates are images
whose 64-bit perceptual hash (imagehash.phash: the low frequencies of a 32x32 DCT) differs in
at most NEAR_HAMMING_BITS bits. Measured on 500-2000 images (tests/health_tests, 2025): a
JPEG re-encode at quality 60 after shrinking by 2-6 px moves the hash 0-4 bits on 64 px
digits and 0-2 bits on 160 px textured images, while distinct images sit 10+ bits apart
(16+ for textured ones); 4 bits is the default, `--near-bits` changes it.

The same decode gives what the other checks need (size, mode, a 16x16 thumbnail for the
label check), so `hoot doctor` reads each file once. Which images belong together (exact or
near) are the connected components of the pair graph (scipy), and `HashIndex.groups` hands
them to the split function so hoot's own splits keep a group on one side.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from hoot.trainer.data.pixels import to_rgb8

#: default perceptual-hash distance (bits of 64) at or under which two images are near duplicates
NEAR_HAMMING_BITS = 4
#: side of the RGB thumbnail kept for the label check's linear probe
THUMB_PX = 16
#: JPEGs decode at the smallest DCT scale that keeps at least this many pixels a side (Image.draft,
#: as hoot's cache does): the hash input is 64 px, so full-resolution detail is decoded for nothing
_DRAFT_PX = 256
#: the image is shrunk to this before hashing (phash shrinks to 32x32 anyway; doing it once, fast, keeps big files cheap)
_HASH_INPUT_PX = 64


@dataclass(frozen=True)
class ImageFacts:
    """What one decode of a file tells: hashes, size, mode, a small thumbnail, or why it failed."""

    path: str
    sha256: str = ""
    phash: int = 0
    width: int = 0
    height: int = 0
    mode: str = ""
    error: str = ""
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)  # THUMB_PX x THUMB_PX x 3 uint8

    @property
    def ok(self) -> bool:
        return not self.error


def read_facts(path: str) -> ImageFacts:
    """Hash and decode one file (never raises for a bad file: the reason goes in `error`)."""
    import imagehash
    from PIL import Image

    try:
        data = open(path, "rb").read()
    except OSError as exc:
        return ImageFacts(path, error=f"unreadable: {exc.strerror or exc}")
    digest = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                mode, (width, height) = im.mode, im.size
                im.draft(None, (_DRAFT_PX, _DRAFT_PX))  # JPEG: DCT scaling skips detail the 64 px hash input discards
                im.load()
                rgb = to_rgb8(im)  # the one reader: 16-bit, CMYK, palette+alpha as the cache sees them
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return ImageFacts(path, digest, error=f"unreadable: {exc}")
    small = rgb.resize((_HASH_INPUT_PX, _HASH_INPUT_PX), Image.BILINEAR, reducing_gap=2.0)
    phash = int(str(imagehash.phash(small)), 16)
    pixels = np.asarray(small.resize((THUMB_PX, THUMB_PX), Image.BILINEAR), dtype=np.uint8)
    return ImageFacts(path, digest, phash, width, height, mode, "", pixels)


def default_workers() -> int:
    """Decode threads: Pillow releases the GIL while it decodes, so threads scale to the cores."""
    return max(1, min(8, os.cpu_count() or 1))


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(axis=-1)


def near_pairs(hashes: Sequence[int], max_bits: int, chunk: int = 1024) -> list[tuple[int, int, int]]:
    """(i, j, bits) for every pair i < j whose hashes differ in at most `max_bits` bits
    (all pairs, compared a block of rows at a time: 10,000 images is 50M comparisons, about a second)."""
    h = np.asarray([int(v) for v in hashes], dtype=np.uint64)
    out: list[tuple[int, int, int]] = []
    for start in range(0, len(h), chunk):
        block = h[start:start + chunk]
        bits = _popcount(block[:, None] ^ h[None, :])
        rows, cols = np.nonzero(bits <= max_bits)
        keep = cols > rows + start
        out.extend((int(r + start), int(c), int(bits[r, c])) for r, c in zip(rows[keep], cols[keep]))
    return out


@dataclass(frozen=True)
class Pair:
    """Two images (indices into the paths asked about) that are the same file or near copies."""

    i: int
    j: int
    bits: int  # perceptual-hash distance (0 can still be two different files)
    exact: bool  # the same bytes (SHA-256)


def _stamp(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


class HashIndex:
    """Facts per path, computed once and kept (the grouping for the split and the checks after
    it read the same decode).

    With `cache` (a JSON file under hoot's data directory), hashes of files whose size and
    modification time are unchanged are read from it instead of decoding the file again: every
    process that prepares a shortlist run (workers, DDP ranks, a --resume) checks the data, and
    only the first pays the decode. Cached facts carry no thumbnail (the label check decodes)."""

    def __init__(self, near_bits: int = NEAR_HAMMING_BITS, workers: int | None = None,
                 cache: Path | None = None) -> None:
        self.near_bits = near_bits
        self.workers = workers or default_workers()
        self.cache = cache
        self._facts: dict[str, ImageFacts] = {}

    def _read_cache(self) -> dict[str, list]:
        try:
            return json.loads(self.cache.read_text(encoding="utf-8")) if self.cache and self.cache.is_file() else {}
        except (OSError, ValueError):
            return {}  # a broken cache is only a slower run

    def facts(self, paths: Sequence[str]) -> list[ImageFacts]:
        missing = [p for p in dict.fromkeys(paths) if p not in self._facts]
        if not missing:
            return [self._facts[p] for p in paths]
        cached = self._read_cache()
        decode = []
        for p in missing:
            row = cached.get(p)
            if row and row[0] == _stamp(p):
                self._facts[p] = ImageFacts(p, *row[1:])
            else:
                decode.append(p)
        if decode:
            with ThreadPoolExecutor(self.workers) as pool:
                for facts in pool.map(read_facts, decode, chunksize=16):
                    self._facts[facts.path] = facts
            if self.cache is not None:
                self._write_cache(cached)
        return [self._facts[p] for p in paths]

    def _write_cache(self, cached: dict[str, list]) -> None:
        from hoot.trainer.runfiles import atomic_write_text

        for p, f in self._facts.items():
            stamp = _stamp(p)
            if f.ok and stamp:
                cached[p] = [stamp, f.sha256, f.phash, f.width, f.height, f.mode]
        try:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.cache, json.dumps(cached))
        except OSError:
            pass  # an unwritable data directory only costs the next process a decode


    def pairs(self, paths: Sequence[str]) -> list[Pair]:
        """Exact (same bytes) and near pairs among the readable images of `paths`."""
        facts = self.facts(paths)
        ok = [i for i, f in enumerate(facts) if f.ok]
        by_digest: dict[str, int] = {}
        out: list[Pair] = []
        for i in ok:
            first = by_digest.setdefault(facts[i].sha256, i)
            if first != i:
                out.append(Pair(first, i, 0, True))
        for a, b, bits in near_pairs([facts[i].phash for i in ok], self.near_bits):
            if facts[ok[a]].sha256 != facts[ok[b]].sha256:
                out.append(Pair(ok[a], ok[b], bits, False))
        return out

    def groups(self, paths: Sequence[str]) -> list[int]:
        """A group id per path: images joined by exact or near pairs share one (connected components)."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n = len(paths)
        pairs = self.pairs(paths)
        if not pairs:
            return list(range(n))
        rows = np.array([p.i for p in pairs])
        cols = np.array([p.j for p in pairs])
        graph = coo_matrix((np.ones(len(pairs)), (rows, cols)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        return [int(v) for v in labels]


def cache_path_for(data_root: str | os.PathLike[str]) -> Path:
    """The hash cache of one dataset folder, under hoot's data directory (never in the data folder)."""
    from hoot.advisor.paths import data_dir

    key = hashlib.sha1(str(Path(data_root).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return data_dir() / "doctor" / f"hashes-{key}.json"
