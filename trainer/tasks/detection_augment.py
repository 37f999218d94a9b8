"""Detection samples on the device: resize once for the cache, batch as a list of targets,
and augment so the boxes move with the image (horizontal flip, scale jitter).

Boxes are float32 [N, 4] xyxy in pixels of the image they belong to. Everything here works
on tensors where they already are (CPU or GPU), with a seeded generator, so the bake-off's
candidates see the same augmented batches and no step waits on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: a box whose side shrinks below this many pixels after augmentation is dropped
MIN_BOX_PX = 1.0


@dataclass
class BoxTarget:
    """One image's boxes (float32 [N,4] xyxy px) and hoot class indices (int64 [N])."""

    boxes: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device | str) -> "BoxTarget":
        return BoxTarget(self.boxes.to(device, non_blocking=True), self.labels.to(device, non_blocking=True))


def scale_boxes(boxes: torch.Tensor, from_wh: tuple[int, int], to_wh: tuple[int, int]) -> torch.Tensor:
    """Boxes of an image of size `from_wh` on the same image resized to `to_wh`."""
    sx, sy = to_wh[0] / from_wh[0], to_wh[1] / from_wh[1]
    return boxes * boxes.new_tensor([sx, sy, sx, sy])


def flip_horizontal(images: torch.Tensor, targets: list[BoxTarget], flip: torch.Tensor) -> tuple[torch.Tensor, list[BoxTarget]]:
    """Mirror the images where `flip` [B] is True; x1' = W - x2, x2' = W - x1."""
    width = images.shape[-1]
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
    out = []
    for t, f in zip(targets, flip.tolist()):
        if f and len(t.boxes):
            b = t.boxes
            t = BoxTarget(torch.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], dim=1), t.labels)
        out.append(t)
    return images, out


def scale_jitter(images: torch.Tensor, targets: list[BoxTarget], scale: float,
                 offset_frac: tuple[float, float]) -> tuple[torch.Tensor, list[BoxTarget]]:
    """Zoom the batch by `scale` inside its own canvas: below 1 the image shrinks onto a black canvas
    at the offset, above 1 a window at the offset is cropped; boxes are scaled, shifted, clipped,
    and those left thinner than MIN_BOX_PX dropped."""
    h, w = images.shape[-2:]
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = F.interpolate(images.float(), size=(nh, nw), mode="bilinear", align_corners=False).to(images.dtype)
    if scale <= 1:
        ox, oy = round((w - nw) * offset_frac[0]), round((h - nh) * offset_frac[1])
        canvas = images.new_zeros(images.shape)
        canvas[..., oy:oy + nh, ox:ox + nw] = resized
        shift = (-ox, -oy)
    else:
        ox, oy = round((nw - w) * offset_frac[0]), round((nh - h) * offset_frac[1])
        canvas = resized[..., oy:oy + h, ox:ox + w]
        shift = (ox, oy)
    out = []
    for t in targets:
        b = t.boxes * scale - t.boxes.new_tensor([shift[0], shift[1], shift[0], shift[1]])
        b[:, 0::2] = b[:, 0::2].clamp(0, w)
        b[:, 1::2] = b[:, 1::2].clamp(0, h)
        keep = ((b[:, 2] - b[:, 0]) >= MIN_BOX_PX) & ((b[:, 3] - b[:, 1]) >= MIN_BOX_PX)
        out.append(BoxTarget(b[keep], t.labels[keep]))
    return canvas.contiguous(), out


def augment(images: torch.Tensor, targets: list[BoxTarget], generator: torch.Generator,
            scale_range: tuple[float, float] = (0.75, 1.25)) -> tuple[torch.Tensor, list[BoxTarget]]:
    """A random flip per image and one scale per batch (the batch stays one tensor), drawn from
    `generator` (a CPU generator: the draws are the same on every device)."""
    flip = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)
    images, targets = flip_horizontal(images, targets, flip)
    lo, hi = scale_range
    draws = torch.rand(3, generator=generator).tolist()
    scale = lo + (hi - lo) * draws[0]
    return scale_jitter(images, targets, scale, (draws[1], draws[2]))

