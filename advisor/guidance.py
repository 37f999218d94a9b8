"""The advice the documents give beside a model: fine-tuning strategy, learning rate,
dataset-size fit and input size against the dataset's images.

The rules are tables cited to the seed documents, read by small lookup functions (no
if-chains per case). The trainer imports `finetune_strategy` so that advice and training
follow the same rule. No torch import.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from hoot.advisor.errors import HootError

# -- fine-tuning strategy --------------------------------------------------------------
#: (lowest image count, strategy, rule); seeds/004 "Quick Decision Guide for Fine-Tuning"
SIZE_RULES: tuple[tuple[int, str, str], ...] = (
    (0, "feature_extraction", 'seeds/004 "Quick Decision Guide for Fine-Tuning": 100-1K images: Strategy 1 (feature extraction)'),
    (1_000, "top_layers", 'seeds/004 "Quick Decision Guide for Fine-Tuning": 1K-10K images: Strategy 2 (fine-tune top layers)'),
    (10_000, "full", 'seeds/004 "Quick Decision Guide for Fine-Tuning": 10K+ images: Strategy 3 (fine-tune all)'),
)
#: the smallest dataset the decision guide covers
MIN_COVERED_IMAGES = 100

#: similarity -> (strategy it calls for, rule); seeds/004 "Dataset Similarity to ImageNet"
SIMILARITY_RULES: dict[str, tuple[str, str]] = {
    "similar": ("feature_extraction", 'seeds/004 "Dataset Similarity to ImageNet": very similar (natural images): Strategy 1 works great'),
    "somewhat-different": ("top_layers", 'seeds/004 "Dataset Similarity to ImageNet": somewhat different (medical/satellite): Strategy 2'),
    "different": ("full", 'seeds/004 "Dataset Similarity to ImageNet": very different (microscopy/X-rays): Strategy 3'),
}
SIMILARITIES = tuple(SIMILARITY_RULES)

#: compute budget -> the most layers worth training; seeds/004 "Compute Budget"
COMPUTE_RULES: dict[str, tuple[str, str]] = {
    "limited": ("feature_extraction", 'seeds/004 "Compute Budget": limited (CPU, hours): Strategy 1'),
    "moderate": ("top_layers", 'seeds/004 "Compute Budget": moderate (single GPU, days): Strategy 2'),
    "generous": ("full", 'seeds/004 "Compute Budget": generous (multi-GPU, weeks): Strategy 3'),
}
COMPUTE_BUDGETS = tuple(COMPUTE_RULES)

#: strategy -> what it trains and at which learning rates; seeds/004 "Fine-Tuning Strategies"
#: and "Learning Rate Guidelines"
STRATEGIES: dict[str, dict[str, Any]] = {
    "feature_extraction": {
        "title": "Strategy 1: feature extraction (frozen backbone, train the new head)",
        "trainable": "head",
        "lr": (1e-3, 1e-2),
        "head_lr": (1e-3, 1e-2),
        "lr_source": 'seeds/004 "Learning Rate Guidelines": training only new head 0.001-0.01',
    },
    "top_layers": {
        "title": "Strategy 2: fine-tune the top layers and the new head (freeze early layers)",
        "trainable": "top",
        "lr": (1e-4, 1e-3),
        "head_lr": (1e-3, 1e-2),
        "lr_source": 'seeds/004 Strategy 2 "train rest with small learning rate"; "Learning Rate Guidelines": '
        "fine-tuning 0.0001-0.001, new head 0.001-0.01",
    },
    "full": {
        "title": "Strategy 3: fine-tune all layers",
        "trainable": "all",
        "lr": (1e-4, 1e-3),
        "head_lr": (1e-4, 1e-3),
        "lr_source": 'seeds/004 "Learning Rate Guidelines": fine-tuning all layers 0.0001-0.001 (~10x smaller than from scratch)',
    },
}
_ORDER = tuple(STRATEGIES)  # fewest trained layers first
SCRATCH_LR = (1e-3, 1e-2)  # seeds/004 "Learning Rate Guidelines": training from scratch
COMBINE_RULE = (
    "dataset size sets the strategy; a domain unlike ImageNet moves it one step toward training more "
    "layers and no further, since few images overfit when every layer trains"
)
PRO_TIP = 'seeds/004 "Pro Tip": always start with Strategy 1, then move to 2 or 3 if underfitting'


@dataclass(frozen=True)
class Strategy:
    """A fine-tuning recipe: which layers train and at which learning rates, and why."""

    name: str  # feature_extraction | top_layers | full
    title: str
    trainable: str  # head | top | all
    lr_min: float  # for the pretrained layers that train (the head when only the head trains)
    lr_max: float
    head_lr_min: float
    head_lr_max: float
    reason: str
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_count(n_images: int, what: str = "dataset size") -> int:
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 0:
        raise HootError(f"{what} is {n_images!r}; give a whole number of images >= 0")
    return n_images


def _by_size(n_images: int) -> tuple[str, str]:
    chosen = SIZE_RULES[0]
    for rule in SIZE_RULES:
        if n_images >= rule[0]:
            chosen = rule
    return chosen[1], chosen[2]


def finetune_strategy(n_images: int, similarity: str = "similar", compute: str | None = None) -> Strategy:
    """The seeds/004 fine-tuning strategy for `n_images` labelled images.

    `similarity` is how close the images are to ImageNet (similar | somewhat-different |
    different); `compute` (limited | moderate | generous) caps how many layers are worth
    training. Raises HootError on an unknown value.
    """
    _check_count(n_images)
    if similarity not in SIMILARITY_RULES:
        raise HootError(f"unknown similarity '{similarity}'; use one of {', '.join(SIMILARITIES)}")
    if compute is not None and compute not in COMPUTE_RULES:
        raise HootError(f"unknown compute budget '{compute}'; use one of {', '.join(COMPUTE_BUDGETS)}")
    size_name, size_rule = _by_size(n_images)
    sim_name, sim_rule = SIMILARITY_RULES[similarity]
    index = max(_ORDER.index(size_name), _ORDER.index(sim_name) - 1)
    sources = [size_rule]
    reason = f"{n_images} images: {size_rule}"
    if index != _ORDER.index(size_name):
        sources.append(sim_rule)
        reason += f"; images {similarity} to ImageNet: {sim_rule} ({COMBINE_RULE})"
    if compute is not None:
        cap_name, cap_rule = COMPUTE_RULES[compute]
        if _ORDER.index(cap_name) < index:
            index = _ORDER.index(cap_name)
            sources.append(cap_rule)
            reason += f"; capped by compute budget: {cap_rule}"
    name = _ORDER[index]
    spec = STRATEGIES[name]
    sources.append(spec["lr_source"])
    notes = [PRO_TIP]
    if n_images < MIN_COVERED_IMAGES:
        notes.insert(0, f"{n_images} images is below the {MIN_COVERED_IMAGES}-image floor of seeds/004's decision guide: "
                     "collect more images, keep the backbone frozen and regularise strongly "
                     '(seeds/000 "By Dataset Size": small datasets)')
    if n_images >= 100_000 and similarity == "different":
        notes.append("training from scratch is justifiable here (seeds/002 \"Step 2\": very different domain and a very "
                     f"large dataset); from-scratch learning rate {SCRATCH_LR[0]:g}-{SCRATCH_LR[1]:g} "
                     '(seeds/004 "Learning Rate Guidelines")')
    return Strategy(
        name=name,
        title=spec["title"],
        trainable=spec["trainable"],
        lr_min=spec["lr"][0],
        lr_max=spec["lr"][1],
        head_lr_min=spec["head_lr"][0],
        head_lr_max=spec["head_lr"][1],
        reason=reason,
        sources=tuple(sources),
        notes=tuple(notes),
    )


def learning_rate_range(strategy_name: str) -> tuple[float, float]:
    """(min, max) learning rate for the layers a strategy trains (seeds/004 "Learning Rate Guidelines")."""
    if strategy_name not in STRATEGIES:
        raise HootError(f"unknown strategy '{strategy_name}'; use one of {', '.join(STRATEGIES)}")
    return STRATEGIES[strategy_name]["lr"]


def group_learning_rates(strategy_name: str) -> dict[str, tuple[float, float] | None]:
    """{"head": (lo, hi), "backbone": (lo, hi) or None when frozen}: the per-group learning rates
    `hoot advise` prints, as data the trainer reads (seeds/004 "Learning Rate Guidelines": new head
    0.001-0.01, fine-tuned pretrained layers 0.0001-0.001). The trainer gives the new head and the
    trained backbone layers their own optimizer parameter groups at these rates."""
    if strategy_name not in STRATEGIES:
        raise HootError(f"unknown strategy '{strategy_name}'; use one of {', '.join(STRATEGIES)}")
    spec = STRATEGIES[strategy_name]
    return {"head": spec["head_lr"], "backbone": None if spec["trainable"] == "head" else spec["lr"]}


GROUP_LEARNING_RATES: dict[str, dict[str, tuple[float, float] | None]] = {
    name: group_learning_rates(name) for name in STRATEGIES}


# -- dataset size fit ----------------------------------------------------------------
#: (lowest image count, band, advice); seeds/000 "Selection Guidelines > By Dataset Size".
#: Band names equal the catalog's `dataset_sizes` values.
DATASET_BANDS: tuple[tuple[int, str, str], ...] = (
    (0, "small", 'seeds/000 "By Dataset Size": small (< 1,000 images): lightweight models with strong '
     "regularization (MobileNet V3 Small/Large, EfficientNet B0-B1), transfer learning with pretrained weights"),
    (1_000, "medium", 'seeds/000 "By Dataset Size": medium (1,000-10,000 images): balanced models with good '
     "generalization (ResNet-34/50, EfficientNet B2-B3, MobileNet V3 Large)"),
    (10_001, "large", 'seeds/000 "By Dataset Size": large (> 10,000 images): any architecture; larger models '
     "(ResNet-101, EfficientNet B4+) become viable; can train from scratch if needed"),
)


@dataclass(frozen=True)
class DatasetBand:
    name: str  # small | medium | large
    rule: str


def dataset_band(n_images: int) -> DatasetBand:
    """The seeds/000 dataset-size band of `n_images`."""
    _check_count(n_images)
    chosen = DATASET_BANDS[0]
    for band in DATASET_BANDS:
        if n_images >= band[0]:
            chosen = band
    return DatasetBand(chosen[1], chosen[2])


# -- input size against the images --------------------------------------------------
#: seeds/000 "Input Size Considerations": standard input sizes
STANDARD_INPUT_SIZES: tuple[tuple[int, str], ...] = (
    (224, "default for most models, good starting point"),
    (256, "better for detailed images, moderate increase in computation"),
    (384, "high detail capture, significant computational increase"),
)
IMAGE_SIZE_RULE = ('seeds/001 "Image size": match the backbone\'s input size roughly to your images; '
                   "mainly small images call for a small-input backbone")
#: a native input this many times larger (or smaller) than the images' median short side
#: is a mismatch worth saying (hoot's threshold; the document says "roughly")
INPUT_MISMATCH_RATIO = 1.5


def input_size_fit(crop_size: int | None, median_short_side_px: float | None) -> tuple[bool | None, str | None]:
    """(fits, note): does a native input size roughly match the images (seeds/001 "Image size")?"""
    if not crop_size or not median_short_side_px:
        return None, None
    ratio = crop_size / median_short_side_px
    if ratio > INPUT_MISMATCH_RATIO:
        return False, (f"native input {crop_size} px upsamples your images {ratio:.1f}x (median short side "
                       f"{median_short_side_px:.0f} px): {IMAGE_SIZE_RULE}")
    if ratio < 1 / INPUT_MISMATCH_RATIO:
        return False, (f"native input {crop_size} px shrinks your images {1 / ratio:.1f}x (median short side "
                       f"{median_short_side_px:.0f} px); fine detail may be lost: {IMAGE_SIZE_RULE}")
    return True, f"native input {crop_size} px matches your images (median short side {median_short_side_px:.0f} px)"


def suggested_input_size(median_short_side_px: float) -> dict[str, Any]:
    """The seeds/000 standard input size nearest to the images' median short side (log scale)."""
    size, why = min(STANDARD_INPUT_SIZES, key=lambda s: abs(math.log(s[0] / median_short_side_px)))
    note = f"{size} px: {why} (seeds/000 \"Input Size Considerations\"); {IMAGE_SIZE_RULE}"
    if median_short_side_px < STANDARD_INPUT_SIZES[0][0] / INPUT_MISMATCH_RATIO:
        note += (f"; your images (median short side {median_short_side_px:.0f} px) are far below 224 px: prefer "
                 "backbones with a 224 px native input and consider training at a reduced input size")
    return {"input_size_px": size, "median_short_side_px": round(median_short_side_px, 1), "rule": note}


# -- the whole block -----------------------------------------------------------------
@dataclass
class Guidance:
    """What `hoot advise` prints beside the picks when the dataset is known."""

    n_images: int
    similarity: str
    strategy: Strategy
    band: DatasetBand
    input_size: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_images": self.n_images,
            "similarity": self.similarity,
            "dataset_band": self.band.name,
            "dataset_band_rule": self.band.rule,
            "strategy": self.strategy.as_dict(),
            "input_size": self.input_size,
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        """Human-readable lines for the table/markdown output."""
        s = self.strategy
        out = [
            f"Fine-tuning: {s.title} (trains: {s.trainable}); learning rate {s.lr_min:g}-{s.lr_max:g}"
            + (f", new head {s.head_lr_min:g}-{s.head_lr_max:g}" if (s.head_lr_min, s.head_lr_max) != (s.lr_min, s.lr_max) else ""),
            f"  why: {s.reason}",
            f"Dataset size: {self.band.rule}",
        ]
        if self.input_size:
            out.append(f"Input size: {self.input_size['rule']}")
        out.extend(f"Note: {n}" for n in list(s.notes) + self.notes)
        return out


def build_guidance(n_images: int, similarity: str = "similar", median_short_side_px: float | None = None) -> Guidance:
    """Strategy, learning rate, dataset band and input-size advice for a dataset."""
    return Guidance(
        n_images=n_images,
        similarity=similarity,
        strategy=finetune_strategy(n_images, similarity),
        band=dataset_band(n_images),
        input_size=suggested_input_size(median_short_side_px) if median_short_side_px else None,
    )
