"""`hoot explain RUN IMAGE...`: where a trained classifier looks, as class-activation heatmaps.

pytorch-grad-cam (the `grad-cam` package) does the work: Grad-CAM, Grad-CAM++ and EigenCAM on
the model's last convolution layer, found generically (the last nn.Conv2d the model registers
is the last spatial feature map in every CNN family of the catalog; a model without one, such
as a vision transformer, is refused with that reason). The image goes through the run's own
preprocessing (the cache's resize and centre crop, the weights' normalisation), and the
overlay is drawn on that crop, so the heatmap lines up with what the model saw.

The caller loads the run (hoot.trainer.deploy.trained, the one run loader): this wing sits
beside deploy, not above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from hoot.advisor.errors import HootError
from hoot.trainer.data.inputs import load_images
from hoot.trainer.data.pipeline import Normalizer

#: --method name -> pytorch_grad_cam class name
METHODS = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "eigencam": "EigenCAM"}


@dataclass(frozen=True)
class Heatmap:
    """One image's explanation: which class it explains, what the model predicted, and the PNG."""

    image: str
    method: str
    explained_class: str
    predicted_class: str
    probability: float  # the model's probability for the predicted class
    overlay_png: str


def last_conv_layer(model: nn.Module) -> nn.Module:
    """The last nn.Conv2d the model registers (its last spatial feature map)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise HootError(f"{type(model).__name__} has no convolution layer, so class-activation maps have no feature "
                        "map to weight; explain works on CNN runs")
    return convs[-1]


def _cam(method: str, model: nn.Module):
    import pytorch_grad_cam

    if method not in METHODS:
        raise HootError(f"--method '{method}' is not one of {', '.join(METHODS)}")
    return getattr(pytorch_grad_cam, METHODS[method])(model=model, target_layers=[last_conv_layer(model)])


def explain_images(model: nn.Module, meta: dict, images: Sequence[str], out_dir: Path, method: str = "gradcam",
                   class_name: str | None = None) -> list[Heatmap]:
    """A heatmap overlay PNG per image in `out_dir`, for `class_name` or each image's predicted class."""
    from PIL import Image
    from pytorch_grad_cam.utils.image import show_cam_on_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if not images:
        raise HootError("no images given; pass one or more image files: hoot explain RUN a.jpg b.png")
    classes = list(meta["classes"])
    if class_name is not None and class_name not in classes:
        raise HootError(f"--class '{class_name}' is not a class of this run; use one of {', '.join(classes[:20])}")
    cam = _cam(method, model)
    pixels = load_images(images, int(meta["image_size"]))
    x = Normalizer(meta["mean"], meta["std"])(torch.from_numpy(pixels))
    model.eval()
    with torch.no_grad():
        logits = model(x)
    multilabel = meta.get("task") == "multilabel"
    probs = (torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1)).numpy()
    predicted = probs.argmax(axis=1)
    targets = [classes.index(class_name) if class_name else int(p) for p in predicted]
    with torch.enable_grad():
        maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in targets])
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for k, (img, grey) in enumerate(zip(images, maps)):
        rgb = pixels[k].transpose(1, 2, 0).astype(np.float32) / 255.0
        overlay = show_cam_on_image(rgb, grey, use_rgb=True)
        path = out_dir / f"{k:03d}-{Path(img).stem}-{method}-{classes[targets[k]]}.png"
        Image.fromarray(overlay).save(path)
        out.append(Heatmap(str(img), method, classes[targets[k]], classes[int(predicted[k])],
                           float(probs[k, predicted[k]]), str(path)))
    return out


def right_and_wrong(model: nn.Module, meta: dict, images: Sequence[str], labels: Sequence[int], out_dir: Path,
                    per_side: int = 3, method: str = "gradcam", look_at: int = 64) -> list[tuple[Heatmap, bool]]:
    """Heatmaps for up to `per_side` correctly and `per_side` wrongly classified images among the
    first `look_at` of `images` (the run report's held-out test images): (heatmap, correct)."""
    if meta.get("task") == "multilabel":
        raise HootError("heatmaps in the report cover single-label classification runs (multi-label has no one "
                        "right class to show); use `hoot explain RUN IMAGE --class TAG`")
    images, labels = list(images)[:look_at], list(labels)[:look_at]
    if not images:
        return []
    x = Normalizer(meta["mean"], meta["std"])(torch.from_numpy(load_images(images, int(meta["image_size"]))))
    model.eval()
    with torch.no_grad():
        predicted = model(x).argmax(dim=1).tolist()
    right = [i for i, (p, y) in enumerate(zip(predicted, labels)) if p == y][:per_side]
    wrong = [i for i, (p, y) in enumerate(zip(predicted, labels)) if p != y][:per_side]
    chosen = right + wrong
    maps = explain_images(model, meta, [images[i] for i in chosen], out_dir, method)
    return [(m, i in right) for m, i in zip(maps, chosen)]
