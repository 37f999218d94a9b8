"""`prepare`: a shortlist run's data scanned, split, sized and decoded once, and the RunContext
every rung and the fine-tune work from (in any process: a worker or a torchrun rank calls
`prepare` on the same config and gets the same split and cache).

The config is not changed here: the image size it leaves open (None) is resolved into
`RunContext.image_size` and recorded in dataset.json. A run folder that prepare creates and
cannot finish is removed again, so a failed start leaves nothing that looks like a run.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from hoot.advisor.catalog import Catalog, load_catalog
from hoot.advisor.devices import check_threads, torch_device
from hoot.advisor.errors import HootError
from hoot.advisor.metric import Metric
from hoot.bench.sources import input_multiple, source_of
from hoot.trainer.data.cache import SplitCache, build_cache, build_split
from hoot.trainer.config import ShortlistConfig
from hoot.trainer.data.dataset import DatasetScan, Splits, read_splits_file, splits_document, SPLITS_FILE
from hoot.trainer.tasks import get_task
from hoot.trainer.tasks.base import LossOptions, Task
from hoot.trainer.tasks.scanning import scan_for
from hoot.trainer.data.pipeline import Normalizer
from hoot.trainer.runfiles import (atomic_write_json, check_free_space, ensure_writable_dir, remember_run,
                                  remove_stale_temporaries)
from hoot.trainer.training.strategy import Recipe, resolve_recipe

log = logging.getLogger(__name__)

MIN_IMAGE_SIZE = 32  # five stride-2 stages need at least 32 px


@dataclass
class RunContext:
    """Everything a rung or a fine-tune needs, rebuilt by `prepare` in any process."""

    config: ShortlistConfig
    scan: DatasetScan
    train: SplitCache
    val: SplitCache
    device: torch.device
    recipe: Recipe
    catalog: Catalog
    progress: bool = True
    test: SplitCache | None = None
    resolved_image_size: int = 0

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir

    @property
    def classes(self) -> list[str]:
        return self.scan.classes

    @property
    def task(self) -> str:
        """The task's name (what run files record)."""
        return self.scan.task

    @property
    def task_impl(self) -> Task:
        """The task behind the interface: data format, model head, loss, metric, pictures."""
        return get_task(self.scan.task)

    def make_loss(self) -> torch.nn.Module:
        """The run's training loss (--loss, label smoothing, focal), as the task defines it."""
        cfg = self.config
        return self.task_impl.criterion(LossOptions.of(cfg))

    @property
    def num_classes(self) -> int:
        return self.scan.num_classes

    @property
    def image_size(self) -> int:
        return int(self.resolved_image_size or self.config.image_size or 0)

    @property
    def metric(self) -> str:
        """The validation metric's name (the task's: `val_top1`, `val_f1`, `val_miou`, `val_map50_95`)."""
        return self.task_impl.metric.name

    @property
    def objective(self) -> Metric:
        """The validation metric with its direction: what "better" means for ranking and selection."""
        return self.task_impl.metric

    def normalizer(self, candidate: str) -> Normalizer:
        """Mean/std of the candidate's pretrained weights' transforms (ImageNet's when it has none)."""
        mean, std = weights_mean_std(self.catalog, candidate)
        return Normalizer(mean, std, self.device)

    def log(self, msg: str) -> None:
        log.info("%s", msg[len("hoot: "):] if msg.startswith("hoot: ") else msg)


def weights_mean_std(catalog: Catalog, candidate: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from hoot.trainer.data.pipeline import IMAGENET_MEAN, IMAGENET_STD

    variant = catalog.get(candidate)
    if variant.weights:
        try:
            import torchvision

            t = torchvision.models.get_weight(variant.weights).transforms()
            return tuple(t.mean), tuple(t.std)
        except (ValueError, AttributeError):
            pass
    return IMAGENET_MEAN, IMAGENET_STD


def check_candidates(catalog: Catalog, candidates: list[str], task: Task) -> None:
    if not candidates:
        raise HootError("no candidates: pass --candidates a,b,c or advisor options (--target, --top K)")
    for name in candidates:
        v = catalog.get(name)
        if not v.provided:
            raise HootError(f"candidate '{name}' is named in the catalog but no package hoot builds from provides it "
                            f"(`hoot catalog show {name}` says why); pick one from `hoot catalog --provided-only`")
        if not v.supports(task.catalog_task):
            raise HootError(f"candidate '{name}' does not support task '{task.name}'; pick a {task.catalog_task} model "
                            f"(`hoot catalog --task {task.catalog_task}`)")


def check_batch_fits_batchnorm(candidates: list[str], task: str, num_classes: int, batch_size: int) -> None:
    """A batch of one image has no batch statistics: BatchNorm refuses to train on it (and its
    re-estimation would keep reset statistics). Only models without BatchNorm train at --batch-size 1."""
    if batch_size >= 2:
        return
    from hoot.bench.models import build_model
    from hoot.trainer.training.loop import has_batchnorm

    for name in candidates:
        if has_batchnorm(build_model(name, task=task, num_classes=num_classes, pretrained=False)):
            raise HootError(f"--batch-size {batch_size} cannot train {name}: its BatchNorm layers need at least 2 "
                            "images per batch; use --batch-size 2 or more")


def input_multiples(candidates: list[str], kind: str, catalog: Catalog) -> dict[str, int]:
    """Each candidate's input-side multiple for the catalog task `kind` (smp's encoders: 32; most: 1)."""
    return {c: input_multiple(catalog.get(c), kind) for c in candidates}


def resolve_image_size(config: ShortlistConfig, catalog: Catalog, scan: DatasetScan) -> int:
    """--image-size, else min(the candidates' native size, the dataset's median short side), at least 32 px;
    a multiple of what every candidate's layers need (smp's encoders: 32), rounded down when hoot chooses."""
    needs = input_multiples(config.candidates, get_task(scan.task).catalog_task, catalog)
    step = math.lcm(1, *needs.values())
    if config.image_size is not None:
        if config.image_size % step:
            who = ", ".join(c for c, m in needs.items() if config.image_size % m)
            lower, upper = max(step, config.image_size // step * step), -(-config.image_size // step) * step
            raise HootError(f"--image-size {config.image_size}: {who} take(s) only sides that are a multiple of {step} "
                            f"px; pass --image-size {lower} or {upper}")
        return int(config.image_size)
    native = min(catalog.get(c).native_input_px for c in config.candidates)
    median = scan.median_size()
    size = max(MIN_IMAGE_SIZE, min(native, median or native))
    return max(step, size // step * step)


#: sizes tried, in order, when a candidate cannot run at the one asked for (a few layouts' usual sizes)
SIZES_TO_TRY = (64, 96, 128, 160, 192, 224, 256, 299, 320, 384, 512)


def _size_refusal(name: str, task: Task, num_classes: int, catalog: Catalog, size: int) -> str | None:
    """Why `name` cannot run at `size` px, from one forward on the meta device (shapes only, no memory,
    no weights); None when it can, or when the meta device cannot tell (a failure that is not about
    the input's size is left to the bake-off, which records it)."""
    try:
        with torch.device("meta"):
            model = task.build_model(name, num_classes, pretrained=False, catalog=catalog, image_size=size).eval()
            with torch.no_grad():
                model(torch.zeros(2, 3, size, size))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if any(word in first.lower() for word in ("input size", "kernel size", "output size", "too small")):
            return first[:200]
    except Exception:  # noqa: BLE001 - builders and ops the meta device does not cover: the bake-off will say
        return None
    return None


def size_every_candidate_takes(config: ShortlistConfig, catalog: Catalog, task: Task, num_classes: int, size: int) -> int:
    """`size`, or a one-line error before any image is decoded when a candidate's layers shrink the image
    below their kernels there (timm's inception_v4 at 32 px). When hoot chose the size, it grows to
    the smallest one every candidate takes, and says so."""
    refused = {n: why for n in config.candidates if (why := _size_refusal(n, task, num_classes, catalog, size))}
    if not refused:
        return size
    name, why = next(iter(refused.items()))
    step = math.lcm(1, *input_multiples(config.candidates, task.catalog_task, catalog).values())
    larger = next((s for s in SIZES_TO_TRY if s > size and s % step == 0
                   and not any(_size_refusal(n, task, num_classes, catalog, s) for n in refused)), None)
    if config.image_size is not None or larger is None:
        hint = f"pass --image-size {larger}" if larger else "pass a larger --image-size"
        raise HootError(f"--image-size {size}: {name} cannot run at {size} px ({why}); {hint} or drop {name}")
    log.warning("%s cannot run at %d px (%s): training every candidate at %d px", ", ".join(refused), size, why, larger)
    return larger


def build_caches(scan: DatasetScan, size: int, folder: Path,
                 progress: bool = True) -> tuple[SplitCache, SplitCache, SplitCache]:
    """Decode train, val and test once with the task's targets; files that fail are dropped from
    `scan` (and listed), which is checked again. The cache's size is known before the first image is
    decoded: a disk that cannot hold it is said now."""
    task = get_task(scan.task)
    images = len(scan.train) + len(scan.val) + len(scan.test)
    check_free_space(folder, images * 3 * size * size, f"the image cache ({images} images at {size} px)")

    def targets(samples, px):
        return task.cache_targets(samples, px, scan.num_classes)

    return build_cache(scan, size, folder, targets, f"{task.name}:{scan.num_classes}", progress=progress)


def run_splits(run_dir: str | Path) -> Splits:
    """The train/val/test splits of a run folder, the one way to rebuild them: from its splits.json,
    else rescanned with its config.json (the scan and split are deterministic given data and config)."""
    run_dir = Path(run_dir)
    if (run_dir / SPLITS_FILE).is_file():
        return read_splits_file(run_dir / SPLITS_FILE)
    if not (run_dir / "config.json").is_file():
        raise HootError(f"'{run_dir}' is not a hoot run folder (no config.json); pass a folder made by hoot shortlist")
    cfg = ShortlistConfig.load(run_dir / "config.json")
    scan = scan_for(cfg)
    return Splits(tuple(scan.train), tuple(scan.val), tuple(scan.test), tuple(scan.classes), scan.task)


def split_caches(splits: Splits, size: int, folder: Path,
                 progress: bool = False) -> tuple[SplitCache, SplitCache, SplitCache]:
    """A finished run's caches of its stored splits (reused when the files are unchanged: no decode)."""
    task = get_task(splits.task)

    def targets(samples, px):
        return task.cache_targets(samples, px, len(splits.classes))

    kind = f"{task.name}:{len(splits.classes)}"
    train, val, test = (build_split(list(samples), size, folder, name, targets, kind, progress=progress)[0]
                        for name, samples in (("train", splits.train), ("val", splits.val), ("test", splits.test)))
    return train, val, test


def prepare(config: ShortlistConfig, progress: bool = True,
            preflight: Callable[[ShortlistConfig], DatasetScan] | None = None) -> RunContext:
    """Scan, validate, size, decode once; write config.json, dataset.json and splits.json.
    `preflight` scans in place of the plain scan: the engine passes the health wing's cheap checks
    (hoot.trainer.health.doctor.preflight: near duplicates kept on one side, leaks refused)."""
    catalog = load_catalog()
    scan = preflight(config) if preflight else scan_for(config)
    task = get_task(scan.task)
    check_candidates(catalog, config.candidates, task)
    task.make_loss(LossOptions.of(config))  # a bad --loss: now
    check_batch_fits_batchnorm(config.candidates, task.catalog_task, scan.num_classes, config.batch_size)
    image_size = size_every_candidate_takes(config, catalog, task, scan.num_classes,
                                            resolve_image_size(config, catalog, scan))
    if config.num_threads:  # a resumed config may come from a machine with more cores: the one rule again
        torch.set_num_threads(check_threads(config.num_threads))
    device = torch_device(config.device)
    # settings that cannot work fail here, before any image is decoded or any folder made
    recipe = resolve_recipe(config.strategy, config.pretrained, len(scan.train), config.optimizer, config.lr,
                            config.similarity)
    run_dir = config.run_dir
    ensure_writable_dir(run_dir.parent, "--output folder")
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run_dir)
        for w in scan.warnings:
            log.warning("%s", w)
        train, val, test = build_caches(scan, image_size, run_dir / "cache", progress=progress)
        config.save(resolved={"image_size": image_size, "strategy": recipe.strategy, "lr_groups": recipe.group_rates(),
                              "lr_range": list(recipe.lr_range), "head_lr_range": list(recipe.head_lr_range or recipe.lr_range),
                              # the package (and version) that builds each candidate
                              "model_sources": {c: source_of(catalog.get(c)).label() for c in config.candidates}})
        summary = scan.summary()
        summary.update({"image_size": image_size, "cache_bytes": train.nbytes + val.nbytes + test.nbytes,
                        "skipped_files": scan.skipped, "warnings": scan.warnings})
        atomic_write_json(run_dir / "dataset.json", summary)
        atomic_write_json(run_dir / SPLITS_FILE, splits_document(scan))
    except BaseException:
        if created:  # nothing half-written that looks like a run
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if scan.skipped:
        log.info("%d file(s) skipped (listed in %s)", len(scan.skipped), run_dir / "dataset.json")
    remember_run(config.run_id, run_dir)
    return RunContext(config, scan, train, val, device, recipe, catalog, progress, test, image_size)
