"""The one interface every task implements, and the typed records at its edges.

Why one interface: the bake-off, successive halving, fine-tune, resume, scale-out, report,
predict, export and optimize are the same for every task; only what the data looks like, what
the model outputs, how that is scored and drawn differ. Those differences live in one module
per task under `hoot.trainer.tasks`, behind `Task`; nothing outside that package asks which
task it is (it asks the task).

How a new task plugs in:
1. Write `trainer/tasks/<name>.py` with a subclass of `Task` (set `name`, `metric`, `losses`,
   `export_names`; implement the abstract methods; override the defaults where the task's
   model or targets differ: detection overrides `training_loss` because torchvision's detectors
   return their own losses).
2. Add `"<name>": "hoot.trainer.tasks.<name>:<Class>"` to `TASKS` in `trainer/tasks/__init__.py`;
   `get_task(name)` then serves it and `detect_task(root)` asks its `detect(root)`.
3. Add its layouts' tests under tests/task_tests/ on data that `hoot.testing` draws.

The contract of the cached sample format (what `cache_targets` returns, one row per kept item,
in cache order; the images beside it are `N,3,S,S` uint8, shorter side resized to S and centre
cropped, decoded once per run by `trainer.data.cache`):
- classification: `(N,)` int64 class index;
- multi-label: `(N, C)` uint8 multi-hot;
- segmentation: `(N, S, S)` uint8 class-index masks (255 = ignore), resized with nearest in the
  images' geometry (`trainer.data.cache.crop_geometry`);
- detection: `(N, K, 5)` float32 rows `x1, y1, x2, y2, class` in cache pixels, padded with
  class -1 up to the most boxes of any image (one array, so it memory-maps and moves to the
  GPU like the images).
Any target array is indexed on its first axis by the same indices as the images, which is what
keeps every candidate on the same images, order and augmentation (fairness by construction).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

import numpy as np

from hoot.advisor.metric import Metric

if TYPE_CHECKING:  # torch stays out of this module's import (the registry is imported by the CLI early)
    import torch
    from torch import nn

    from hoot.advisor.catalog import Catalog
    from hoot.trainer.data.dataset import DatasetScan, Sample


@dataclass(frozen=True)
class ScanOptions:
    """What a layout reader needs besides the root: the split rule and task-specific inputs."""

    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    annotations: str | None = None  # detection: an explicit COCO json (--annotations FILE)
    #: paths -> a group id each (hoot doctor's near-duplicate groups): a split hoot draws keeps each group
    #: on one side, so a near copy of a test image never trains
    grouper: "Callable[[list[str]], list[int]] | None" = None


@dataclass(frozen=True)
class LayoutMatch:
    """What `Task.detect` found at a data root: the layout's name and whether it is specific to the
    task (a masks folder, a COCO json) or only the generic fallback (any folder of folders is an
    ImageFolder). `--task auto` takes the one specific match; two specific matches are ambiguous."""

    task: str
    layout: str
    specific: bool = True


@dataclass(frozen=True)
class LossOptions:
    """The loss settings a run's config gives (`--loss`, label smoothing, focal gamma)."""

    name: str = ""  # "" = the task's default (Task.losses[0])
    label_smoothing: float = 0.0
    focal: bool = False
    focal_gamma: float = 2.0

    @classmethod
    def of(cls, config: Any) -> "LossOptions":
        """A run's loss settings from its ShortlistConfig (what the bake-off, the fine-tune and QAT train with)."""
        return cls(config.loss, config.label_smoothing, config.focal, config.focal_gamma)


@dataclass(frozen=True)
class ExportNames:
    """The ONNX input and output names of a task's models (one naming for export and optimize)."""

    inputs: tuple[str, ...] = ("image",)
    outputs: tuple[str, ...] = ("logits",)


class ExportMismatch(ValueError):
    """An exported file's output disagrees with PyTorch's on the same input; the message says how."""


@dataclass(frozen=True)
class PredictOptions:
    """`hoot predict`'s knobs; each task reads the ones that apply to it."""

    top_k: int = 5
    threshold: float = 0.5  # multi-label: tags at or above this sigmoid
    score_threshold: float = 0.5  # detection: boxes at or above this score
    out_dir: Path | None = None  # segmentation: where mask PNGs and overlays go


@dataclass(frozen=True)
class Picture:
    """One picture a report shows: a PNG file in the run folder and what it shows."""

    path: Path
    title: str


@dataclass
class EvalResult:
    """What one evaluation gives: the metrics (field names, `val_` prefixed: `val_top1`, `val_miou`),
    and per-class rows for the report (`per_class`: name -> list aligned with the classes)."""

    metrics: dict[str, float]
    per_class: dict[str, list] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the confusion matrix

    def as_dict(self) -> dict:
        """The flat form rungs and finetune.json store (metrics, then per_class and extras)."""
        return {**self.metrics, **({"per_class": self.per_class} if self.per_class else {}), **self.extra}


class Evaluator(ABC):
    """Accumulates one split's outputs batch by batch (so a segmentation split never holds every
    logit at once) and computes the task's metrics at the end."""

    @abstractmethod
    def update(self, outputs: "torch.Tensor | Any", targets: "torch.Tensor") -> None:
        """One batch: the model's eval-mode outputs and the cached targets of the same images."""

    @abstractmethod
    def compute(self) -> EvalResult:
        """The metrics over everything `update` saw (includes `val_loss`)."""


class Task(ABC):
    """One task hoot trains. Stateless apart from its class attributes: `get_task(name)` returns a
    shared instance."""

    #: the name `--task` takes and run files record
    name: ClassVar[str]
    #: what the bake-off ranks on, early stopping watches and the fine-tune selects on (validation)
    metric: ClassVar[Metric]
    #: `--loss` choices, the default first
    losses: ClassVar[tuple[str, ...]] = ("default",)
    export_names: ClassVar[ExportNames] = ExportNames()
    #: the catalog task whose builders and advice this task uses (multi-label uses classification's)
    catalog_task: ClassVar[str] = ""
    #: multi-label: a tagging threshold is selected on validation after the fine-tune (for predict)
    selects_threshold: ClassVar[bool] = False
    #: hoot doctor's label check scores each image's label(s) with an out-of-fold pixel probe: "single"
    #: (one class per image), "multi" (tags), "" where what the user annotated is masks or boxes
    label_check: ClassVar[str] = ""
    #: the exported model answers one image per call (a detector's rows are its first image's), so
    #: optimize times its throughput and scores it one image at a time
    export_one_image: ClassVar[bool] = False
    #: its exported graph's outputs are what `training_loss` takes (`training_loss(graph, x, targets, loss)` runs),
    #: so optimize can fine-tune that graph quantised (QAT); a detector's exported graph gives boxes, not losses
    trains_exported_graph: ClassVar[bool] = True
    #: optimize variants known to refuse this task's models, and why in the user's words: a build that
    #: fails for one of these is a skipped row with this reason (a build that succeeds is measured)
    unsupported_variants: ClassVar[dict[str, str]] = {}
    #: what `--annotations FILE` means to this task ("" = the task reads none; detection: a COCO json)
    annotations_file: ClassVar[str] = ""

    # -- layout reader and validator ----------------------------------------------------------------

    @classmethod
    @abstractmethod
    def detect(cls, root: Path) -> LayoutMatch | None:
        """This task's layout at `root`, or None. Cheap: names and a few files, no decoding."""

    @abstractmethod
    def scan(self, root: Path, options: ScanOptions) -> "DatasetScan":
        """Read and check the layout at `root`, probe headers, split train/val/test (seeded, stratified
        by the classes present). A bad input is a HootError naming the file and the fix, raised here,
        before anything trains."""

    # -- cached sample format -----------------------------------------------------------------------

    @abstractmethod
    def cache_targets(self, samples: Sequence["Sample"], size: int, num_classes: int) -> np.ndarray:
        """The targets of `samples` (already decode-checked, in cache order) in the format of the module
        doc, for images cached at `size` px."""

    def target_fingerprint(self, sample: "Sample") -> str:
        """What of a sample's target invalidates its cache entry when it changes (label, mask file)."""
        return f"{sample.label}|{sample.target}"

    # -- model, loss, augmentation ------------------------------------------------------------------

    @abstractmethod
    def build_model(self, variant: str, num_classes: int, pretrained: bool,
                    catalog: "Catalog | None" = None, image_size: int | None = None) -> "nn.Module":
        """Catalog `variant` with the head for `num_classes` (through hoot.bench.models), returning in
        eval mode what `Evaluator.update`, `predict` and export take (a tensor, or the task's outputs).
        `image_size`: the size it runs at, for the models whose layers depend on it (ViT)."""

    @abstractmethod
    def make_loss(self, options: LossOptions) -> "nn.Module":
        """The loss on the model's outputs, `loss(outputs, targets)`, that `training_loss` applies and
        evaluation reports (a HootError names the choices for an unknown `--loss`)."""

    def criterion(self, options: LossOptions) -> "nn.Module":
        """What a training step calls: (model, x, targets) -> scalar loss (trainer.tasks.criterion)."""
        from hoot.trainer.tasks.criterion import TaskLoss

        return TaskLoss(self, self.make_loss(options))

    def training_loss(self, model: "nn.Module", x: "torch.Tensor", targets: "torch.Tensor",
                      loss_fn: "nn.Module") -> "torch.Tensor":
        """One training step's scalar loss on a normalised, augmented batch."""
        return loss_fn(model(x), targets)

    def augment(self, x: "torch.Tensor", targets: "torch.Tensor",
                g: "torch.Generator") -> tuple["torch.Tensor", "torch.Tensor"]:
        """Device-side augmentation of a float batch (N,3,S,S) and its targets, with every random draw
        from `g` (a CPU generator seeded by seed and step): the same crop and flip move masks and boxes
        with the image. The default crops and flips the image only (labels do not move)."""
        from hoot.trainer.data.pipeline import augment_images

        return augment_images(x, targets, g)

    def fake_targets(self, batch: int, size: int, num_classes: int, device: "torch.device") -> "torch.Tensor":
        """Targets of the right shape and type for probe steps (precision probe, compile warm-up)."""
        import torch

        return torch.randint(0, num_classes, (batch,), device=device)

    # -- metric, evaluation, predictions --------------------------------------------------------------

    @abstractmethod
    def evaluator(self, num_classes: int | None, loss_fn: "nn.Module") -> Evaluator:
        """A fresh accumulator for one split's evaluation (`num_classes` None: from the outputs)."""

    def test_metrics(self, result: EvalResult) -> dict[str, float]:
        """The held-out test figures a run reports (`test_` instead of `val_`)."""
        return {"test_" + k[len("val_"):] if k.startswith("val_") else k: v for k, v in result.metrics.items()}

    @abstractmethod
    def predict(self, model: "nn.Module", x: "torch.Tensor", images: Sequence[str], classes: Sequence[str],
                options: PredictOptions) -> list[dict[str, Any]]:
        """`hoot predict`'s rows (one table row each) for normalised images `x` of the files `images`;
        tasks that write files (mask PNGs, overlays) write them under `options.out_dir` and name them."""

    def report_pictures(self, model: "nn.Module", images: np.ndarray, targets: np.ndarray, x: "torch.Tensor",
                        classes: Sequence[str], metrics: dict, out_dir: Path) -> list[Picture]:
        """Pictures for the run's report from a few test images (uint8 `images`, their cached `targets`,
        the same images normalised as `x`) and the test `metrics` (with `per_class`): e.g. ground truth
        beside prediction, per-class bars, written under `out_dir`. Default: none."""
        return []

    def export_outputs(self, model: "nn.Module", x: "torch.Tensor") -> "torch.Tensor":
        """The tensor export checks the exported file against (the model's real output)."""
        return model(x)

    def outputs_from_export(self, arr: np.ndarray, n: int) -> Any:
        """What the task's evaluator takes, from an exported model's (or any variant's) numpy output
        for a batch whose first `n` images are real (the rest padding): the first n score maps."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(arr[:n]))

    def check_export(self, model: "nn.Module", got: np.ndarray, expected: np.ndarray, atol: float) -> dict[str, Any]:
        """Compare an exported `model`'s output (`got`) with PyTorch's (`expected`) on the same input:
        the check's figures, or ExportMismatch saying how they differ. Default: score maps (logits),
        the same shape, the max abs diff within `atol` relative to their scale (float32 kernels sum in
        different orders), and the same best class everywhere (axis 1)."""
        if got.shape != expected.shape:
            raise ExportMismatch(f"gives output {got.shape} where PyTorch gives {expected.shape}")
        diff = float(np.abs(got - expected).max()) if got.size else 0.0
        limit = atol * max(1.0, float(np.abs(expected).max())) if expected.size else atol
        flipped = int((got.argmax(1) != expected.argmax(1)).sum()) if got.ndim > 1 and got.size else 0
        if diff > limit or flipped:
            raise ExportMismatch(f"disagrees with PyTorch (max abs diff {diff:.2e}, tolerance {limit:.2e}; "
                                 f"{flipped} predicted class(es) differ)")
        return {"max_abs_diff": diff, "tolerance": limit}
