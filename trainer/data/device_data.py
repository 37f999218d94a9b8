"""Where a split's uint8 images live while a model trains on them, and how a batch gets to the device.

Why: on a GPU the data path must not be the bottleneck. A small model at 64 px steps in a
few milliseconds; gathering a batch from a memory-mapped file and copying it over PCIe with
a host synchronisation each step left an H100 idle most of the time (issue 10). So:

- ``device``: on CUDA, when the split's uint8 bytes fit under ``DEVICE_CACHE_FRACTION`` of the
  memory the GPU can still give (free plus what torch's allocator holds unused), the whole
  split is copied to the GPU once and a batch is one ``index_select`` there;
- ``pinned``: otherwise the batch is gathered on the host into page-locked memory and copied
  with ``non_blocking=True``; ``prefetch(idx)`` gathers the next batch in a background thread
  while the current one trains;
- ``host``: on the CPU, the memory-mapped gather the CPU path always used (sorted reads), so
  CPU batches are bitwise what they were.

Which images a batch holds is decided by the caller's indices (a pure function of seed and
step); placement only changes where the same bytes are read from.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

log = logging.getLogger(__name__)

#: the share of the GPU memory still available that the uint8 cache may take; the rest is
#: left for weights, activations, optimiser state and the evaluation split
DEVICE_CACHE_FRACTION = 0.4
#: host-to-device copies of a resident cache go in chunks of this many bytes (bounded staging)
_COPY_CHUNK_BYTES = 256 << 20


def available_bytes(device: torch.device) -> int:
    """Bytes a new allocation on `device` can take: the driver's free memory plus the blocks torch's
    caching allocator has reserved but not handed out (those are reused before asking the driver)."""
    free, _total = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


def choose_placement(device: torch.device, nbytes: int, available: int | None = None,
                     fraction: float = DEVICE_CACHE_FRACTION) -> str:
    """'host' on CPU; on CUDA 'device' when `nbytes` fit under `fraction` of the available memory, else 'pinned'."""
    if device.type != "cuda":
        return "host"
    if available is None:
        available = available_bytes(device)
    return "device" if nbytes <= fraction * available else "pinned"


def host_gather(images: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch from the (memory-mapped) cache on the CPU: sorted reads are sequential on the memmap,
    then put back in the caller's order."""
    order = np.argsort(idx, kind="stable")
    imgs = images[idx[order]]
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    x = torch.from_numpy(np.ascontiguousarray(imgs[inv]))
    y = torch.from_numpy(np.asarray(labels[idx]))
    return x, y


def _to_device_in_chunks(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """Copy a (memory-mapped) uint8 array to `device` without holding a second full copy on the host."""
    out = torch.empty(images.shape, dtype=torch.uint8, device=device)
    per_row = max(1, int(np.prod(images.shape[1:])))
    rows = max(1, _COPY_CHUNK_BYTES // per_row)
    for i in range(0, images.shape[0], rows):
        chunk = torch.from_numpy(np.ascontiguousarray(images[i:i + rows]))
        out[i:i + rows].copy_(chunk.pin_memory() if device.type == "cuda" else chunk, non_blocking=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out


@dataclass
class PlacedSplit:
    """One split's images as a batch source on one device (see the module doc for the three placements)."""

    images: np.ndarray
    labels: np.ndarray
    device: torch.device
    placement: str
    _images_dev: torch.Tensor | None = field(default=None, repr=False)
    _labels_dev: torch.Tensor | None = field(default=None, repr=False)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _pending: tuple[np.ndarray, Future] | None = field(default=None, repr=False)

    @classmethod
    def place(cls, images: np.ndarray, labels: np.ndarray, device: torch.device, placement: str | None = None,
              fraction: float = DEVICE_CACHE_FRACTION) -> "PlacedSplit":
        device = torch.device(device)
        placement = placement or choose_placement(device, int(images.nbytes), fraction=fraction)
        placed = cls(images, labels, device, placement)
        if placement == "device":
            placed._images_dev = _to_device_in_chunks(images, device)
            placed._labels_dev = torch.from_numpy(np.asarray(labels)).to(device)
        elif placement == "pinned":
            placed._labels_dev = torch.from_numpy(np.asarray(labels)).to(device)
            placed._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hoot-prefetch")
        # said where it matters (GPU memory or pinned host memory); the plain host memmap is the default, not news
        (log.debug if placement == "host" else log.info)("image cache on %s: %s (%.1f MB)", device, placement,
                                                         images.nbytes / 1e6)
        return placed

    def _host_batch(self, idx: np.ndarray) -> torch.Tensor:
        x, _ = host_gather(self.images, self.labels, idx)
        return x.pin_memory() if self.device.type == "cuda" else x

    def prefetch(self, idx: np.ndarray) -> None:
        """Start gathering `idx` into pinned memory in the background (the pinned placement only)."""
        if self.placement != "pinned" or self._pool is None:
            return
        idx = np.asarray(idx, dtype=np.int64)
        self._pending = (idx, self._pool.submit(self._host_batch, idx))

    def gather(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images (N,3,S,S) and labels for `idx`, both on this split's device; never waits on the GPU."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.placement == "host":
            x, y = host_gather(self.images, self.labels, idx)
            return x, y
        idx_t = torch.from_numpy(idx)
        idx_dev = (idx_t.pin_memory() if self.device.type == "cuda" else idx_t).to(self.device, non_blocking=True)
        y = self._labels_dev.index_select(0, idx_dev)
        if self.placement == "device":
            return self._images_dev.index_select(0, idx_dev), y
        pending, self._pending = self._pending, None
        if pending is not None and np.array_equal(pending[0], idx):
            host = pending[1].result()
        else:
            host = self._host_batch(idx)
        return host.to(self.device, non_blocking=True), y

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
