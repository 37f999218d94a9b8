"""Decode and resize every image ONCE per run into a uint8 array that every candidate shares.

Why: decoding JPEGs costs more than training a small model on them; a bake-off of four
candidates that re-decodes per candidate per epoch spends most of its time in Pillow. The
cache is `N x 3 x S x S` uint8 (shorter side resized to S, centre crop: the same geometry as
the weights' eval transforms), written as `.npy` in the run folder so other processes
(Optuna workers, torchrun ranks) `np.load(..., mmap_mode="r")` it without copying. Files
that fail to decode (truncated, corrupt) are dropped and reported, not fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from hoot.trainer.data.dataset import DatasetScan, Sample, check_trainable
from hoot.trainer.data.pixels import to_rgb8
from hoot.trainer.runfiles import check_free_space, disk_full_error, is_disk_full

if TYPE_CHECKING:
    import torch

    from hoot.trainer.data.device_data import PlacedSplit


@dataclass
class SplitCache:
    """One split's decoded images (N,3,S,S uint8, memory-mapped) and labels."""

    images: np.ndarray
    labels: np.ndarray  # the task's targets, one row per image (hoot.trainer.tasks.base: the cached sample format)
    _placed: dict = field(default_factory=dict, repr=False, compare=False)

    def on(self, device: "torch.device | str") -> "PlacedSplit":
        """This split as a batch source on `device`, placed once per device and reused by every
        candidate and the fine-tune (GPU-resident, pinned host, or the host memmap; trainer.data.device_data)."""
        import torch

        from hoot.trainer.data.device_data import PlacedSplit

        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        key = str(device)
        if key not in self._placed:
            self._placed[key] = PlacedSplit.place(self.images, self.labels, device)
        return self._placed[key]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.images.nbytes)


#: a task's targets for the kept samples at the cache size (hoot.trainer.tasks.base.Task.cache_targets)
TargetsFn = Callable[[Sequence[Sample], int], np.ndarray]


def crop_geometry(width: int, height: int, size: int) -> tuple[float, int, int, int, int]:
    """The cache's geometry for an image of `width` x `height`: (scale, resized width, resized height,
    left, top) of "shorter side to `size`, centre crop". Masks and boxes follow the image with it."""
    scale = size / min(width, height)
    nw, nh = max(size, round(width * scale)), max(size, round(height * scale))
    return scale, nw, nh, (nw - size) // 2, (nh - size) // 2


def decode_mask_resized(path: str, size: int) -> np.ndarray:
    """A class-index mask as (size, size) uint8 in the images' geometry, resized with nearest (a class
    index is never blended into another)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("L", "P", "I;16", "I"):
            im = im.convert("L")
        arr = np.asarray(im)
        im = Image.fromarray(arr.astype(np.uint8)) if arr.dtype != np.uint8 else Image.fromarray(arr)
        _, nw, nh, left, top = crop_geometry(im.size[0], im.size[1], size)
        im = im.resize((nw, nh), Image.NEAREST).crop((left, top, left + size, top + size))
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def decode_resized(path: str, size: int) -> np.ndarray:
    """One image as a (3, size, size) uint8 array: shorter side to `size` (antialiased), centre crop.

    `Image.draft` lets the JPEG decoder skip detail it would throw away (DCT scaling), which is
    most of the decode cost for large photos.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            im.draft("RGB", (size, size))
            im = to_rgb8(im)
            _, nw, nh, left, top = crop_geometry(im.size[0], im.size[1], size)
            im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=3.0)
            im = im.crop((left, top, left + size, top + size))
            arr = np.asarray(im, dtype=np.uint8)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def _fingerprint(samples: list[Sample], size: int, kind: str) -> str:
    h = hashlib.sha256(f"{size}:{kind}".encode())
    for s in samples:
        st = os.stat(s.path)
        extra = ""
        if isinstance(s.target, str) and s.target:  # a mask file: its edits invalidate the cache too
            mt = os.stat(s.target)
            extra = f"|{mt.st_size}|{mt.st_mtime_ns}"
        h.update(f"{s.path}|{st.st_size}|{st.st_mtime_ns}|{s.label}|{s.target}{extra}".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


def build_split(samples: list[Sample], size: int, folder: Path, name: str, targets: TargetsFn, kind: str,
                workers: int | None = None, progress: bool = True) -> tuple[SplitCache, list[Sample], list[dict]]:
    """Decode `samples` into `folder/<name>_images.npy` (reused when the files and size are unchanged),
    and their targets (`targets(kept, size)`, the task's cached format; `kind` names the format
    and the class count, so a change of either rebuilds).

    Returns the cache, the samples kept (in cache order) and the files that failed to decode.
    """
    folder.mkdir(parents=True, exist_ok=True)
    img_path, lab_path, meta_path = (folder / f"{name}_images.npy", folder / f"{name}_labels.npy", folder / f"{name}_meta.json")
    fp = _fingerprint(samples, size, kind)
    if meta_path.is_file() and img_path.is_file() and lab_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") == fp:
            keep = set(meta["kept"])
            kept = [s for i, s in enumerate(samples) if i in keep]
            return load_split(folder, name), kept, meta["failed"]

    tmp_path = folder / f"{name}_images.tmp.npy"
    try:
        return _write_split(samples, size, folder, name, targets, workers, progress, tmp_path, fp)
    except BaseException as exc:  # nothing half-written stays: a temporary the size of the cache filled the disk
        tmp_path.unlink(missing_ok=True)
        img_path.unlink(missing_ok=True)  # a half-compacted cache (its meta, if any, names an older fingerprint)
        if is_disk_full(exc):
            raise disk_full_error(img_path, f"the {name} image cache") from None
        raise


def _reserved_memmap(path: Path, shape: tuple[int, ...], what: str) -> np.memmap:
    """A uint8 .npy memmap whose blocks are allocated now: checked against the free space first, then
    reserved with posix_fallocate, so a full disk is an OSError here, never a bus error mid-decode."""
    check_free_space(path.parent, int(np.prod(shape)), what)
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    if hasattr(os, "posix_fallocate"):
        with open(path, "r+b") as fh:
            try:
                os.posix_fallocate(fh.fileno(), 0, os.fstat(fh.fileno()).st_size)
            except OSError as exc:
                if is_disk_full(exc):
                    del arr
                    raise
                # a file system without fallocate: the free-space check above stands
    return arr


def _write_split(samples: list[Sample], size: int, folder: Path, name: str, targets: TargetsFn,
                 workers: int | None, progress: bool, tmp_path: Path, fp: str) -> tuple[SplitCache, list[Sample], list[dict]]:
    img_path, lab_path, meta_path = (folder / f"{name}_images.npy", folder / f"{name}_labels.npy", folder / f"{name}_meta.json")
    arr = _reserved_memmap(tmp_path, (len(samples), 3, size, size), f"the {name} image cache")
    failed: list[dict] = []
    ok = np.ones(len(samples), dtype=bool)

    def work(i: int) -> None:
        try:
            arr[i] = decode_resized(samples[i].path, size)
        except Exception as exc:  # noqa: BLE001 - any decode failure skips the file, reported
            ok[i] = False
            failed.append({"path": samples[i].path, "reason": f"truncated or corrupt: {exc}"})

    from tqdm import tqdm

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for _ in tqdm(pool.map(work, range(len(samples))), total=len(samples), desc=f"decode {name}",
                      unit="img", disable=not progress, leave=False):
            pass
    arr.flush()
    kept_idx = np.flatnonzero(ok)
    if len(kept_idx) < len(samples):  # compact: the cache holds only usable images
        good = _reserved_memmap(img_path, (len(kept_idx), 3, size, size), f"the {name} image cache")
        for j, i in enumerate(kept_idx):
            good[j] = arr[i]
        good.flush()
        del good, arr
        tmp_path.unlink()
    else:
        del arr
        tmp_path.replace(img_path)
    kept = [samples[i] for i in kept_idx]
    np.save(lab_path, targets(kept, size))
    failed.sort(key=lambda r: r["path"])
    meta_path.write_text(json.dumps({"fingerprint": fp, "size": size, "kept": kept_idx.tolist(), "failed": failed}))
    return load_split(folder, name), kept, failed


def load_split(folder: Path, name: str) -> SplitCache:
    """Memory-map a split written by `build_split` (cheap in any process)."""
    return SplitCache(np.load(folder / f"{name}_images.npy", mmap_mode="r"), np.load(folder / f"{name}_labels.npy"))


def build_cache(scan: DatasetScan, size: int, folder: Path, targets: TargetsFn, kind: str,
                progress: bool = True) -> tuple[SplitCache, SplitCache, SplitCache]:
    """Decode train, val and test once; files that fail are dropped from `scan` (recorded in
    `scan.skipped`), then the scan is checked again (a decode failure can empty a class)."""
    caches = []
    for name, samples in scan.split_items():
        cache, kept, failed = build_split(samples, size, folder, name, targets, kind, progress=progress)
        setattr(scan, name, kept)
        known = {s["path"] for s in scan.skipped}
        scan.skipped.extend(f for f in failed if f["path"] not in known)
        caches.append(cache)
    check_trainable(scan)
    return caches[0], caches[1], caches[2]
