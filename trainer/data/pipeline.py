"""From the uint8 cache to normalised training batches: sampling, tensor augmentation, normalisation.

Why tensors and not PIL transforms: the cache is already decoded, so a batch is one gather
plus one batched crop-and-resize (`torchvision.ops.roi_align` does every sample's random
resized crop in a single call) and a flip; no worker processes, no per-image Python. Every
random choice comes from a generator seeded by (seed, step), so the same step of any
candidate sees exactly the same pixels — the bake-off is fair by construction — and a
resumed run repeats the batches it would have seen.

Device-agnostic: the random draws are made on a CPU generator whatever the device (so batch
k is the same crops and flips on a CPU and a GPU), then the gather, crop, flip and
normalisation run where the images live (`SplitCache.on(device)`: GPU-resident, pinned host
with prefetch, or the CPU memmap; trainer.data.device_data). Nothing here waits on the GPU.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Protocol

import numpy as np
import torch
from torchvision.ops import roi_align

from hoot.trainer.data.cache import SplitCache
from hoot.trainer.data.device_data import host_gather

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: random-resized-crop area range; narrower than torchvision's (0.08, 1): the cache is
#: already centre-cropped and bake-off runs are short
CROP_SCALE = (0.25, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)


class EpochSampler(Protocol):
    """What the loops need from a sampler: `set_epoch` and iteration over indices
    (torch's DistributedSampler fits, which is how DDP swaps it in)."""

    def set_epoch(self, epoch: int) -> None: ...

    def __iter__(self) -> Iterator[int]: ...

    def __len__(self) -> int: ...


class SeededSampler:
    """A shuffled order per epoch that depends only on (seed, epoch)."""

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from several integers (seed, epoch, step), stable across processes."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x = (x ^ (int(p) + 0x9E3779B97F4A7C15 + (x << 6) + (x >> 2))) & 0x7FFFFFFFFFFFFFFF
    return x


def epoch_batches(sampler: EpochSampler, epoch: int, batch_size: int) -> list[np.ndarray]:
    """The epoch's batches of indices; a final batch of one is dropped (BatchNorm cannot train on it)."""
    sampler.set_epoch(epoch)
    order = np.fromiter(iter(sampler), dtype=np.int64)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < 2:
        batches.pop()
    return batches


def steps_per_epoch(n: int, batch_size: int) -> int:
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= 2 or full == 0 else 0)


class Normalizer:
    """uint8 -> float, scaled by the weights' mean and std (the weights' own transforms)."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, device: torch.device | str = "cpu") -> None:
        m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.scale = (1.0 / (255.0 * s)).to(device)
        self.shift = (m / s).to(device)
        self.mean, self.std = tuple(float(v) for v in mean), tuple(float(v) for v in std)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: float or uint8 in 0..255 -> normalised float32."""
        return x.float().mul_(self.scale).sub_(self.shift)


def random_crop_boxes(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """(n, 4) boxes x1,y1,x2,y2 of torchvision's RandomResizedCrop rule (area, log-ratio), vectorised."""
    area = size * size * (CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * torch.rand(n, generator=g))
    logr = math.log(CROP_RATIO[0]) + (math.log(CROP_RATIO[1]) - math.log(CROP_RATIO[0])) * torch.rand(n, generator=g)
    ratio = torch.exp(logr)
    w = torch.sqrt(area * ratio).clamp(max=size)
    h = torch.sqrt(area / ratio).clamp(max=size)
    x1 = (size - w) * torch.rand(n, generator=g)
    y1 = (size - h) * torch.rand(n, generator=g)
    return torch.stack([x1, y1, x1 + w, y1 + h], dim=1)


def crop_rois(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """(n, 4) crop boxes with the flip folded in (x1 > x2: mirrored), drawn from `g` in a fixed order:
    the one draw that moves an image and its masks or boxes together."""
    boxes = random_crop_boxes(n, size, g)
    flip = torch.rand(n, generator=g) < 0.5
    boxes[flip] = boxes[flip][:, [2, 1, 0, 3]]
    return boxes


def augment(x: torch.Tensor, g: torch.Generator, out_size: int | None = None,
            boxes: torch.Tensor | None = None) -> torch.Tensor:
    """Random resized crop + horizontal flip on a float batch (N,3,S,S) in ONE roi_align call.

    The flip is free: with aligned=True roi_align accepts a box whose x1 > x2 and samples it
    right to left, which is the mirrored crop (exactly; a test holds it). One bilinear sample
    per output pixel (sampling_ratio=1) is exact here because a crop is never larger than the
    image, so the output only ever upsamples. `boxes`: crops already drawn (`crop_rois`).
    """
    n, _, s, _ = x.shape
    out_size = out_size or s
    boxes = crop_rois(n, s, g) if boxes is None else boxes
    rois = to_device(torch.cat([torch.arange(n, dtype=torch.float32).unsqueeze(1), boxes], dim=1), x.device)
    return roi_align(x, rois, output_size=(out_size, out_size), spatial_scale=1.0, sampling_ratio=1, aligned=True)


def crop_masks(masks: torch.Tensor, boxes: torch.Tensor, out_size: int | None = None) -> torch.Tensor:
    """The crops `boxes` (from `crop_rois`) of class-index masks (N,H,W) uint8, nearest-sampled at
    the pixel centres roi_align(aligned=True) samples the image at, so a mask pixel stays on its
    image pixel; on the masks' device."""
    n, h, w = masks.shape
    out = out_size or w
    b = to_device(boxes, masks.device)
    steps = (torch.arange(out, dtype=torch.float32, device=masks.device) + 0.5) / out  # bin centres, 0..1
    px = b[:, 0:1] - 0.5 + steps[None, :] * (b[:, 2:3] - b[:, 0:1])  # (N, out) pixel coordinates
    py = b[:, 1:2] - 0.5 + steps[None, :] * (b[:, 3:4] - b[:, 1:2])
    gx, gy = (2 * px + 1) / w - 1, (2 * py + 1) / h - 1  # align_corners=False normalised
    grid = torch.stack([gx[:, None, :].expand(n, out, out), gy[:, :, None].expand(n, out, out)], dim=-1)
    sampled = torch.nn.functional.grid_sample(masks[:, None].float(), grid, mode="nearest", padding_mode="border",
                                              align_corners=False)
    return sampled[:, 0].round().to(torch.uint8)


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A small host tensor on `device` without a host wait (pinned, non-blocking on CUDA)."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def to_tensor_batch(split: SplitCache, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather a batch from the (memory-mapped) cache: uint8 images and labels, on the CPU."""
    return host_gather(split.images, split.labels, idx)


#: a task's device-side augmentation: (float images, targets, generator) -> both moved together
AugmentFn = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def augment_images(x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop and flip the images only (labels do not move): the classifier's augmentation."""
    return augment(x, g), y


def train_batch(split: SplitCache, idx: np.ndarray, step_seed: int, norm: Normalizer,
                device: torch.device, augment_on: bool = True,
                augment_fn: AugmentFn = augment_images) -> tuple[torch.Tensor, torch.Tensor]:
    """One augmented, normalised training batch on `device`; randomness from `step_seed` only
    (drawn on the CPU, so the same on every device); the pixel work runs on `device`, and
    `augment_fn` (the task's) moves masks or boxes with the images."""
    x, y = split.on(device).gather(idx)
    x = x.float()
    if augment_on:
        g = torch.Generator().manual_seed(step_seed)
        x, y = augment_fn(x, y, g)
    return norm(x), y


def prefetch(split: SplitCache, idx: np.ndarray, device: torch.device) -> None:
    """Hint the next batch's indices (gathered into pinned memory meanwhile when the cache is not on the GPU)."""
    split.on(device).prefetch(idx)


def eval_batches(split: SplitCache, batch_size: int, norm: Normalizer, device: torch.device,
                 limit: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Un-augmented batches in order (evaluation, BatchNorm re-estimation)."""
    n = len(split) if limit is None else min(limit, len(split))
    placed = split.on(device)
    starts = list(range(0, n, batch_size))
    for j, i in enumerate(starts):
        idx = np.arange(i, min(i + batch_size, n))
        if j + 1 < len(starts):
            placed.prefetch(np.arange(starts[j + 1], min(starts[j + 1] + batch_size, n)))
        x, y = placed.gather(idx)
        yield norm(x), y
