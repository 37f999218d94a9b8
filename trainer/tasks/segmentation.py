"""Semantic segmentation: a class index per pixel.

Layouts (what people already have), found by `--task auto`:
- `images/` + `masks/` with the same file stems; a mask pixel is the class index, 255 = ignore;
  optional `classes.txt` (one name per line, line i = class i);
- the same pair under `train/`, `val/` and `test/` (splits not given are drawn from train);
- Pascal VOC: `JPEGImages/` + `SegmentationClass/` palette PNGs (palette index = class, 255 =
  void), VOC's 21 class names unless a `classes.txt` says otherwise; only images with a mask
  are used (VOC ships detection-only images beside them).

Decisions on bad input (each a one-line error naming the file and the fix, before training): an
image without its mask or a mask without its image (images/ + masks/ layouts), a mask whose size
differs from its image, an RGB mask (class indices must be one channel), a class index beyond
the known classes. Splits are seeded and stratified by the classes present (the rarest one).

Models: through the one builder (hoot.bench.models.build_model) with `num_classes`, from scratch or
pretrained: torchvision's fcn, deeplabv3 and lraspp from their COCO-with-VOC-labels weights with the
head replaced (`out` logits only), segmentation-models-pytorch's U-Net, DeepLabV3+ and UPerNet from
their ImageNet encoder weights with a fresh decoder (sides a multiple of 32: the source says so).
Losses from segmentation-models-pytorch (`--loss` dice, dice_ce, tversky, jaccard, focal), cross-
entropy by default. Metrics from torchmetrics' confusion matrix: mIoU (over classes present in
the ground truth or the prediction), per-class IoU and Dice, pixel accuracy.

Long because: one task's layout reader, validator, model, losses, augmentation, metric, predictions
and pictures belong together behind the Task interface (each piece is a few lines).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from hoot.advisor.dataset_scan import find_splits, is_image_name, probe_header
from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.trainer.data.cache import crop_geometry, decode_mask_resized
from hoot.trainer.data.dataset import DatasetScan, Sample, check_root, check_trainable
from hoot.trainer.data.splits import split_by_classes_present, split_rule
from hoot.trainer.tasks.base import (EvalResult, Evaluator, LayoutMatch, LossOptions, Picture, PredictOptions,
                                     ScanOptions, Task)

if TYPE_CHECKING:  # torch is imported where it is used: `--task auto` reads layouts without it
    import torch
    from torch import nn

    from hoot.advisor.catalog import Catalog

log = logging.getLogger(__name__)

IGNORE_INDEX = 255
CLASSES_TXT = "classes.txt"
PAIR_DIRS = ("images", "masks")
VOC_DIRS = ("JPEGImages", "SegmentationClass")
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")


def _has_pair(folder: Path, dirs: tuple[str, str]) -> bool:
    return all((folder / d).is_dir() for d in dirs)


def _files_by_stem(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and is_image_name(p.name)}


def _read_mask(path: Path) -> np.ndarray:
    """The class indices of a mask file; an RGB mask is refused (a colour is not a class index)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode in ("RGB", "RGBA"):
                raise HootError(f"mask '{path}' is {im.mode}; save class indices as a one-channel PNG (mode L or P: "
                                "pixel value = class index, 255 = ignore)")
            return np.asarray(im if im.mode in ("L", "P") else im.convert("L"))
    except OSError as exc:
        raise HootError(f"mask '{path}' cannot be read ({exc}); replace it with a PNG of class indices") from None


def _pairs(folder: Path, voc: bool) -> list[tuple[Path, Path]]:
    """(image, mask) by stem; unpaired files are errors (VOC: images without a mask are skipped)."""
    img_dir, mask_dir = (folder / d for d in (VOC_DIRS if voc else PAIR_DIRS))
    images, masks = _files_by_stem(img_dir), _files_by_stem(mask_dir)
    lonely_mask = sorted(set(masks) - set(images))
    if lonely_mask:
        raise HootError(f"mask '{masks[lonely_mask[0]]}' has no image in '{img_dir}' ({len(lonely_mask)} such); add the "
                        "image with the same file stem or remove the mask")
    lonely_img = sorted(set(images) - set(masks))
    if lonely_img and not voc:
        raise HootError(f"image '{images[lonely_img[0]]}' has no mask in '{mask_dir}' ({len(lonely_img)} such); add "
                        f"masks/{lonely_img[0]}.png (pixel = class index) or remove the image")
    return [(images[s], masks[s]) for s in sorted(masks)]


def _class_names(root: Path, voc: bool, max_index: int) -> tuple[list[str], bool]:
    """(class names, whether they were given): classes.txt, VOC's, else class_0..class_max."""
    txt = root / CLASSES_TXT
    if txt.is_file():
        names = [line.strip() for line in txt.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not names:
            raise HootError(f"'{txt}' is empty; list one class name per line (line 1 = class 0)")
        return names, True
    if voc:
        return list(VOC_CLASSES), True
    return [f"class_{i}" for i in range(max_index + 1)], False


class MaskEvaluator(Evaluator):
    """torchmetrics' multiclass confusion matrix accumulated per batch (255 ignored), the loss beside it."""

    def __init__(self, num_classes: int | None, loss_fn: nn.Module) -> None:
        self.num_classes, self.loss_fn = num_classes, loss_fn
        self.confmat = None
        self.loss_sum, self.count = 0.0, 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        from torchmetrics.classification import MulticlassConfusionMatrix

        if self.confmat is None:
            self.num_classes = self.num_classes or int(outputs.shape[1])
            self.confmat = MulticlassConfusionMatrix(self.num_classes, ignore_index=IGNORE_INDEX).to(outputs.device)
        outputs = outputs.float()
        self.loss_sum += float(self.loss_fn(outputs, targets)) * len(targets)
        self.count += len(targets)
        self.confmat.update(outputs.argmax(1), targets.long())

    def compute(self) -> EvalResult:
        if self.confmat is None:
            return EvalResult({"val_miou": 0.0, "val_loss": float("nan")})
        cm = self.confmat.compute().double().cpu()
        return EvalResult({**mask_metrics(cm), "val_loss": self.loss_sum / max(1, self.count)},
                          per_class_from_confusion(cm), {"confusion_matrix": cm.long().tolist()})


def mask_metrics(cm: "torch.Tensor") -> dict[str, float]:
    """mIoU and mean Dice over the classes present in the ground truth or the prediction, pixel accuracy."""
    import torch

    tp = cm.diag()
    gt, pred = cm.sum(1), cm.sum(0)
    union = gt + pred - tp
    present = union > 0
    iou = torch.where(present, tp / union.clamp(min=1), torch.zeros_like(tp))
    dice = torch.where(present, 2 * tp / (gt + pred).clamp(min=1), torch.zeros_like(tp))
    total = float(cm.sum())
    return {"val_miou": float(iou[present].mean()) if present.any() else 0.0,
            "val_dice": float(dice[present].mean()) if present.any() else 0.0,
            "val_pixel_accuracy": float(tp.sum()) / total if total else 0.0}


def per_class_from_confusion(cm: torch.Tensor) -> dict[str, list]:
    tp = cm.diag()
    gt, pred = cm.sum(1), cm.sum(0)
    union = gt + pred - tp
    iou = [float(t / u) if u > 0 else None for t, u in zip(tp, union)]
    dice = [float(2 * t / (g + p)) if g + p > 0 else None for t, g, p in zip(tp, gt, pred)]
    return {"iou": iou, "dice": dice, "pixels": [int(g) for g in gt]}


def palette(n: int) -> np.ndarray:
    """(256, 3) uint8 colours: VOC's bit-interleaved map (class 0 black), 255 white."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    pal[IGNORE_INDEX] = 255
    return pal


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8: the image (3,H,W uint8) with class colours blended in (background left as is)."""
    rgb = image.transpose(1, 2, 0).astype(np.float32)
    colours = palette(256)[mask].astype(np.float32)
    fg = ((mask > 0) & (mask != IGNORE_INDEX))[..., None]
    return np.where(fg, (1 - alpha) * rgb + alpha * colours, rgb).clip(0, 255).astype(np.uint8)


def mask_in_image_frame(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A (size, size) mask predicted on the run's resize + centre crop, put back on the image's own
    `width` x `height` (nearest: a class index is never blended); the pixels the crop left out are
    IGNORE_INDEX (255, as in the masks hoot reads: not predicted)."""
    from PIL import Image

    size = mask.shape[0]
    _, nw, nh, left, top = crop_geometry(width, height, size)
    canvas = np.full((nh, nw), IGNORE_INDEX, np.uint8)
    canvas[top:top + size, left:left + size] = mask
    return np.asarray(Image.fromarray(canvas).resize((width, height), Image.NEAREST))


class SegmentationTask(Task):
    name = "segmentation"
    catalog_task = "segmentation"
    metric = Metric("val_miou", "maximize")
    losses = ("ce", "dice", "dice_ce", "tversky", "jaccard", "focal")

    @classmethod
    def detect(cls, root: Path) -> LayoutMatch | None:
        if _has_pair(root, VOC_DIRS):
            return LayoutMatch(cls.name, "Pascal VOC (JPEGImages/ + SegmentationClass/)")
        if _has_pair(root, PAIR_DIRS):
            return LayoutMatch(cls.name, "images/ + masks/")
        splits = find_splits(root)
        if splits and _has_pair(splits["train"], PAIR_DIRS):
            return LayoutMatch(cls.name, "train|val|test/ with images/ + masks/")
        return None

    # -- layout reader and validator ---------------------------------------------------------------

    def scan(self, root: Path, options: ScanOptions) -> DatasetScan:
        check_root(root)
        voc = _has_pair(root, VOC_DIRS)
        splits = {} if voc or _has_pair(root, PAIR_DIRS) else find_splits(root)
        if not voc and not splits and not _has_pair(root, PAIR_DIRS):
            raise HootError(f"data folder '{root}' has no images/ and masks/ folders (nor train/images + train/masks, "
                            "nor VOC's JPEGImages/ + SegmentationClass/); put the images and their class-index masks there")
        if splits:
            given = {name: _pairs(folder, False) for name, folder in splits.items() if _has_pair(folder, PAIR_DIRS)}
            layout = "train-" + "-".join(n for n in ("val", "test") if n in given) if len(given) > 1 else "train"
            layout = f"images/ + masks/ ({layout})"
        else:
            given = {"train": _pairs(root, voc)}
            layout = "Pascal VOC" if voc else "images/ + masks/"
        skipped: list[dict[str, str]] = []
        read = {name: self._read_pairs(pairs, skipped) for name, pairs in given.items()}
        max_index = max((max(labels, default=0) for rows in read.values() for _, _, labels, _, _ in rows), default=0)
        classes, named = _class_names(root, voc, max_index)
        for rows in read.values():
            for img, mask, labels, _, _ in rows:
                beyond = [c for c in labels if c >= len(classes)]
                if beyond:
                    source = f"'{root / CLASSES_TXT}'" if (root / CLASSES_TXT).is_file() else "VOC's 21 classes"
                    raise HootError(f"mask '{mask}' holds class index {beyond[0]}, beyond the {len(classes)} classes of "
                                    f"{source}; add the class name there or fix the mask (255 = ignore)")

        def samples(rows) -> list[Sample]:
            return [Sample(str(img), tuple(labels), w, h, str(mask)) for img, mask, labels, w, h in rows]

        train = samples(read["train"])
        val, test = samples(read.get("val", [])), samples(read.get("test", []))
        draw_val, draw_test = "val" not in read, "test" not in read
        groups = options.grouper([s.path for s in train]) if options.grouper is not None and (draw_val or draw_test) else None
        tr, va, te = split_by_classes_present([s.label for s in train], options.val_fraction if draw_val else 0.0,
                                              options.test_fraction if draw_test else 0.0, options.seed, groups)
        if draw_val:
            val = [train[i] for i in va]
        if draw_test:
            test = [train[i] for i in te]
        train = [train[i] for i in tr]
        rule = split_rule(draw_val, draw_test, options.val_fraction, options.test_fraction, options.seed,
                          share="of the images", method="stratified by each image's rarest class")
        warnings = [] if named else [f"no {CLASSES_TXT}: classes named class_0..class_{max_index} by mask index; "
                                     f"add {root / CLASSES_TXT} (one name per line) to name them"]
        scan = DatasetScan(str(root), self.name, layout, classes, train, val, skipped, warnings, test=test,
                           split_rule=rule, every_class_in_train=False)
        check_trainable(scan)
        return scan

    @staticmethod
    def _read_pairs(pairs: list[tuple[Path, Path]], skipped: list[dict[str, str]]) -> list[tuple]:
        """(image, mask, classes present, width, height) per usable pair; a size mismatch is an error."""
        rows = []
        for img, mask in pairs:
            probed = probe_header(img)
            if isinstance(probed, str):
                skipped.append({"path": str(img), "reason": probed})
                continue
            m = _read_mask(mask)
            if (m.shape[1], m.shape[0]) != tuple(probed):
                raise HootError(f"mask '{mask}' is {m.shape[1]}x{m.shape[0]} but its image '{img}' is "
                                f"{probed[0]}x{probed[1]}; save the mask at the image's size")
            labels = [int(c) for c in np.unique(m) if c != IGNORE_INDEX]
            rows.append((img, mask, labels, probed[0], probed[1]))
        return rows

    # -- cached sample format, model, loss, augmentation -------------------------------------------

    def cache_targets(self, samples: Sequence[Sample], size: int, num_classes: int) -> np.ndarray:
        out = np.zeros((len(samples), size, size), dtype=np.uint8)
        for i, s in enumerate(samples):
            try:
                out[i] = decode_mask_resized(str(s.target), size)
            except OSError as exc:
                raise HootError(f"mask '{s.target}' cannot be decoded ({exc}); replace it") from None
        return out

    def build_model(self, variant: str, num_classes: int, pretrained: bool, catalog: "Catalog | None" = None,
                    image_size: int | None = None) -> nn.Module:
        from hoot.bench.models import build_model
        from hoot.trainer.tasks.segmentation_model import SegmentationModel

        # the source sizes the head for the user's classes and loads what its weights hold: torchvision's
        # COCO-with-VOC-labels weights except the class-count-shaped convs, smp's ImageNet encoder
        return SegmentationModel(build_model(variant, task=self.name, num_classes=num_classes, pretrained=pretrained,
                                             catalog=catalog, image_size=image_size))

    def make_loss(self, options: LossOptions) -> nn.Module:
        from segmentation_models_pytorch import losses as smp_losses
        from torch import nn

        from hoot.trainer.tasks.losses import MaskLoss, SoftmaxDiceCE

        name = options.name or ("focal" if options.focal else "ce")
        if name not in self.losses:
            raise HootError(f"--loss '{name}' is not one of {', '.join(self.losses)} for {self.name}")
        made = {
            "ce": lambda: nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX, label_smoothing=options.label_smoothing),
            "dice": lambda: smp_losses.DiceLoss("multiclass", ignore_index=IGNORE_INDEX),
            "dice_ce": lambda: SoftmaxDiceCE(IGNORE_INDEX),
            "tversky": lambda: smp_losses.TverskyLoss("multiclass", ignore_index=IGNORE_INDEX),
            "jaccard": lambda: smp_losses.JaccardLoss("multiclass", ignore_index=IGNORE_INDEX),
            "focal": lambda: smp_losses.FocalLoss("multiclass", gamma=options.focal_gamma, ignore_index=IGNORE_INDEX),
        }[name]()
        return MaskLoss(made)

    def augment(self, x: torch.Tensor, targets: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The classifier's crop + flip, with the same boxes moving the masks (nearest)."""
        from hoot.trainer.data.pipeline import augment, crop_masks, crop_rois

        boxes = crop_rois(x.shape[0], x.shape[-1], g)
        return augment(x, g, boxes=boxes), crop_masks(targets, boxes)

    def fake_targets(self, batch: int, size: int, num_classes: int, device: torch.device) -> torch.Tensor:
        import torch

        return torch.randint(0, num_classes, (batch, size, size), device=device, dtype=torch.uint8)

    # -- metric, predictions, pictures ---------------------------------------------------------------

    def evaluator(self, num_classes: int | None, loss_fn: nn.Module) -> Evaluator:
        return MaskEvaluator(num_classes, loss_fn)

    def predict(self, model: nn.Module, x: torch.Tensor, images: Sequence[str], classes: Sequence[str],
                options: PredictOptions) -> list[dict[str, Any]]:
        """Writes <stem>_mask.png (a class index per pixel at the image's own size; 255 where the run's
        centre crop, which the model saw, left the image out) and <stem>_overlay.png; one row per image
        with the classes found and the share of the image predicted."""
        from PIL import Image

        from hoot.trainer.data.pixels import to_rgb8
        from hoot.trainer.runfiles import ensure_writable_dir

        import torch

        out_dir = options.out_dir or Path("predictions")
        ensure_writable_dir(out_dir, "--out-dir")
        with torch.inference_mode():
            masks = model(x).argmax(1).to(torch.uint8).numpy()
        rows = []
        for img, crop_mask in zip(images, masks):
            with Image.open(img) as im:
                picture = np.asarray(to_rgb8(im)).transpose(2, 0, 1)
            mask = mask_in_image_frame(crop_mask, picture.shape[2], picture.shape[1])
            stem = Path(img).stem
            mask_path, overlay_path = out_dir / f"{stem}_mask.png", out_dir / f"{stem}_overlay.png"
            Image.fromarray(mask, "L").save(mask_path)
            Image.fromarray(overlay(picture, mask)).save(overlay_path)
            predicted = mask != IGNORE_INDEX
            found = [classes[c] for c in np.unique(mask[predicted]) if c < len(classes)]
            rows.append({"image": img, "mask": str(mask_path), "overlay": str(overlay_path),
                         "classes": ", ".join(found), "foreground_fraction": float((mask[predicted] > 0).mean()),
                         "predicted_fraction": float(predicted.mean())})
        return rows

    def report_pictures(self, model: nn.Module, images: np.ndarray, targets: np.ndarray, x: torch.Tensor,
                        classes: Sequence[str], metrics: dict, out_dir: Path) -> list[Picture]:
        """A grid of test images (ground truth beside prediction) and per-class IoU bars."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import torch

        with torch.inference_mode():
            pred = model(x).argmax(1).to(torch.uint8).cpu().numpy()
        n = len(images)
        fig, axes = plt.subplots(n, 2, figsize=(4.4, 2.2 * n), squeeze=False)
        for i in range(n):
            for j, (mask, title) in enumerate(((targets[i], "ground truth"), (pred[i], "prediction"))):
                axes[i, j].imshow(overlay(images[i], mask)); axes[i, j].axis("off")
                if i == 0:
                    axes[i, j].set_title(title, fontsize=9)
        fig.tight_layout(); fig.savefig(out_dir / "test_masks.png", dpi=100); plt.close(fig)
        pictures = [Picture(out_dir / "test_masks.png", f"{n} test images: ground truth beside prediction")]
        iou = (metrics.get("per_class") or {}).get("iou") or []
        if iou:
            fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(iou) + 2), 3))
            ax.bar(range(len(iou)), [v or 0.0 for v in iou], color="tab:blue")
            ax.set_xticks(range(len(iou)), list(classes)[:len(iou)], rotation=60, fontsize=7)
            ax.set_ylim(0, 1); ax.set_ylabel("IoU"); ax.set_title("per-class IoU (test)")
            fig.tight_layout(); fig.savefig(out_dir / "test_iou.png", dpi=100); plt.close(fig)
            pictures.append(Picture(out_dir / "test_iou.png", "per-class IoU on the test split"))
        return pictures
