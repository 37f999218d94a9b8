"""Load and validate `catalog.yaml`: the documents' knowledge as data.

Each entry is one variant. Facts (params, GMACs, sizes, metrics, weights) must equal
its source's metadata (torchvision's weights metadata, timm's pretrained configs and
published table, smp's encoders; see `advisor.truth`); judgements (memory tier, speed
class, targets, dataset fit) come from the seed documents and cite them. Validation
names the entry and the field, so a user's edited catalog fails with a useful line.
No torch import here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from hoot.advisor.errors import HootError

SCHEMA_VERSION = 1

TASKS = ("classification", "multilabel", "detection", "segmentation")
#: what a torchvision builder natively is
KINDS = ("classification", "detection", "segmentation")
MEMORY_TIERS = ("low", "medium", "high", "very_high")  # seeds/000 "Memory Usage Guidelines"
SPEED_CLASSES = ("high_speed", "balanced", "high_accuracy")  # seeds/000 "Speed vs Accuracy Trade-offs"
TARGETS = ("mobile", "edge", "cpu-server", "gpu-server", "research", "production")
DATASET_SIZES = ("small", "medium", "large")  # seeds/000 "By Dataset Size"
#: the packages an entry can be built from (hoot.bench.sources implements each)
SOURCES = ("torchvision", "timm", "smp")


@dataclass(frozen=True)
class SeedFigure:
    """A figure a seed document states, kept beside torchvision's (e.g. B2: 260 px in seeds/004)."""

    source: str  # seed file name, e.g. "004_1ef0001e8855db62.txt"
    params_m: float | None = None
    input_size: int | None = None
    top1: float | None = None
    gflops: float | None = None  # as the document says it (the paper's FLOPs are multiply-adds)
    note: str | None = None


@dataclass(frozen=True)
class Basis:
    """Where one judgement comes from: the documents (seed file + a quote the tests find in it)
    or hoot's own rule (its text). Keys: memory_tier, speed_class, targets.<target>,
    dataset_sizes.<size>."""

    seed: str | None = None  # seed file name, e.g. "000_46be6743a230da89.txt"
    quote: str | None = None  # words of that file (whitespace-normalised match)
    section: str | None = None  # where in the file, for a reader
    rule: str | None = None  # hoot's rule, when no document makes the judgement

    @property
    def by(self) -> str:
        return "documents" if self.seed else "hoot_rule"

    def text(self) -> str:
        if self.seed:
            where = f" {self.section}" if self.section else ""
            return f"seeds/{self.seed[:3]}{where}: \"{self.quote}\""
        return f"{self.rule}"


BASIS_FIELDS = {"seed", "quote", "section", "rule"}


@dataclass(frozen=True)
class Variant:
    """One catalog entry. Field names carry units; `None` means unknown or not applicable."""

    name: str  # the source's builder name, e.g. "mobilenet_v3_large"; the variant's id
    family: str  # "MobileNet", "ResNet", "Faster R-CNN", ...
    display_name: str
    kind: str  # what the builder natively is: classification | detection | segmentation
    provided: bool  # False: named by the documents but no well-kept package hoot uses builds it (YOLO, ...)
    year: int | None
    paper: str | None
    source: str = "torchvision"  # the package that builds it: torchvision | timm | smp (hoot.bench.sources)
    weights: str | None = None  # default weights enum, e.g. "MobileNet_V3_Large_Weights.IMAGENET1K_V1"
    weights_dataset: str | None = None  # "ImageNet-1K", "COCO-val2017", "COCO-val2017-VOC-labels"
    params: int | None = None  # exact, from the weights metadata
    gmacs: float | None = None  # giga multiply-adds at the native input size (torchvision's "GFLOPS")
    crop_size: int | None = None  # native input size (the weights' eval crop)
    resize_size: int | None = None
    top1: float | None = None  # ImageNet-1K acc@1 (%) of the default weights
    top5: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # detection/segmentation: box_map, mask_map, miou, pixel_acc, ...
    weights_file_mb: float | None = None
    weights_file: str | None = None  # the file the source's cache holds, e.g. "mobilenet_v3_large-8738ca79.pth"
    weights_license: str | None = None  # the weights' licence as the source states it (timm's pretrained config)
    memory_tier: str | None = None
    speed_class: str | None = None
    task_builders: dict[str, str | None] = field(default_factory=dict)  # task -> builder name (None: unsupported)
    targets: tuple[str, ...] = ()
    dataset_sizes: tuple[str, ...] = ()
    seed_figures: tuple[SeedFigure, ...] = ()
    sources: tuple[str, ...] = ()  # seed files whose judgement this entry encodes
    seed_variant: bool = False  # one of the 28 variants of seeds/000
    notes: str | None = None
    basis: dict[str, Basis] = field(default_factory=dict)  # judgement key -> the documents' quote or hoot's rule

    def basis_for(self, key: str) -> Basis | None:
        """How `key` (memory_tier, speed_class, targets.<t>, dataset_sizes.<s>) was judged, or None."""
        return self.basis.get(key)

    @property
    def flops_g(self) -> float | None:
        """GFLOPs = 2 x GMACs (a multiply-add is two floating-point operations)."""
        return None if self.gmacs is None else 2.0 * self.gmacs

    @property
    def params_m(self) -> float | None:
        return None if self.params is None else self.params / 1e6

    @property
    def native_input_px(self) -> int:
        """The input size the variant was trained and is measured at: its weights' eval crop,
        else its kind's usual size (torchvision's detection and segmentation references)."""
        if self.crop_size:
            return self.crop_size
        return DETECTOR_INPUT_PX.get(self.name) or NATIVE_INPUT_PX_BY_KIND.get(self.kind, 224)

    @property
    def input_basis(self) -> str:
        """Why `native_input_px` is that size, in words a bench row's note carries."""
        if self.crop_size:
            return f"{self.crop_size} px: the weights' eval crop"
        if self.name in DETECTOR_INPUT_PX:
            return f"{DETECTOR_INPUT_PX[self.name]} px: the size the model's transform resizes every image to"
        if self.kind == "detection":
            return "800 px: the model's transform resizes the short side to 800 (torchvision's min_size)"
        if self.kind == "segmentation":
            return "520 px: torchvision's segmentation reference size (the model runs at the size it is given)"
        return f"{self.native_input_px} px: the usual size of its kind"

    def supports(self, task: str) -> bool:
        return bool(self.task_builders.get(task))

    def builder_for(self, task: str) -> str | None:
        return self.task_builders.get(task)


#: input size when the weights name no crop: torchvision's detection (800) and segmentation (520) references
NATIVE_INPUT_PX_BY_KIND = {"classification": 224, "detection": 800, "segmentation": 520}
#: detectors whose transform resizes to another size than 800 (torchvision's builders' min_size /
#: fixed size; tests/task_tests/test_detection_models.py builds each detector and holds this to it)
DETECTOR_INPUT_PX = {"ssdlite320_mobilenet_v3_large": 320, "ssd300_vgg16": 300, "fasterrcnn_mobilenet_v3_large_320_fpn": 320}

_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "family": (str,),
    "display_name": (str,),
    "kind": (str,),
    "provided": (bool,),
    "year": (int, type(None)),
    "paper": (str, type(None)),
    "source": (str,),
    "weights": (str, type(None)),
    "weights_dataset": (str, type(None)),
    "params": (int, type(None)),
    "gmacs": (float, int, type(None)),
    "crop_size": (int, type(None)),
    "resize_size": (int, type(None)),
    "top1": (float, int, type(None)),
    "top5": (float, int, type(None)),
    "metrics": (dict,),
    "weights_file_mb": (float, int, type(None)),
    "weights_file": (str, type(None)),
    "weights_license": (str, type(None)),
    "memory_tier": (str, type(None)),
    "speed_class": (str, type(None)),
    "task_builders": (dict,),
    "targets": (list,),
    "dataset_sizes": (list,),
    "seed_figures": (list,),
    "sources": (list,),
    "seed_variant": (bool,),
    "notes": (str, type(None)),
    "basis": (dict,),
}
_REQUIRED = ("name", "family", "display_name", "kind", "provided", "year", "paper")
_ENUMS: dict[str, tuple[str, ...]] = {
    "kind": KINDS,
    "memory_tier": MEMORY_TIERS,
    "speed_class": SPEED_CLASSES,
    "source": SOURCES,
}
_SEED_FIGURE_FIELDS = {f.name for f in fields(SeedFigure)}


@dataclass(frozen=True)
class Catalog:
    """The loaded catalog: variants in file order, looked up by name."""

    variants: tuple[Variant, ...]
    path: str

    def __iter__(self):
        return iter(self.variants)

    def __len__(self) -> int:
        return len(self.variants)

    def names(self) -> list[str]:
        return [v.name for v in self.variants]

    def get(self, name: str) -> Variant:
        """The variant called `name`, or a HootError naming near matches."""
        for v in self.variants:
            if v.name == name:
                return v
        import difflib

        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `hoot catalog` lists them"
        raise HootError(f"unknown model '{name}'{hint}")

    def provided(self) -> list[Variant]:
        return [v for v in self.variants if v.provided]

    def seed_variants(self) -> list[Variant]:
        """The 28 variants of seeds/000 (the catalog's floor)."""
        return [v for v in self.variants if v.seed_variant]

    def families(self) -> list[str]:
        seen: dict[str, None] = {}
        for v in self.variants:
            seen.setdefault(v.family, None)
        return list(seen)

    def select(self, names: Iterable[str] | None = None, family: str | None = None) -> list[Variant]:
        """Variants by explicit names (validated) and/or family (case-insensitive)."""
        chosen = [self.get(n) for n in names] if names else list(self.variants)
        if family:
            fam = family.lower()
            known = {f.lower() for f in self.families()}
            if fam not in known:
                raise HootError(f"unknown family '{family}'; known: {', '.join(self.families())}")
            chosen = [v for v in chosen if v.family.lower() == fam]
        return chosen


def default_catalog_path() -> str:
    """HOOT_CATALOG if set, else the catalog shipped inside the `advisor` package."""
    env = os.environ.get("HOOT_CATALOG")
    if env:
        return env
    return str(resources.files("hoot.advisor").joinpath("catalog.yaml"))


def _check_entry(raw: Any, index: int, where: str) -> Variant:
    if not isinstance(raw, dict):
        raise HootError(f"{where}: entry #{index + 1} is a {type(raw).__name__}, expected a mapping of fields")
    label = f"{where}: entry '{raw.get('name', f'#{index + 1}')}'"
    unknown = sorted(set(raw) - set(_FIELD_TYPES))
    if unknown:
        raise HootError(f"{label}: unknown field '{unknown[0]}' (known fields: see advisor/catalog.py Variant)")
    for name in _REQUIRED:
        if name not in raw:
            raise HootError(f"{label}: missing field '{name}'")
    for name, value in raw.items():
        allowed = _FIELD_TYPES[name]
        # bool is an int subclass: keep `params: true` from passing as a number
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            want = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise HootError(f"{label}: field '{name}' is {value!r} ({type(value).__name__}), expected {want}")
    for name, allowed in _ENUMS.items():
        value = raw.get(name)
        if value is not None and value not in allowed:
            raise HootError(f"{label}: field '{name}' is '{value}', expected one of {', '.join(allowed)}")
    for name in ("params", "gmacs", "crop_size", "resize_size", "weights_file_mb"):
        value = raw.get(name)
        if value is not None and value <= 0:
            raise HootError(f"{label}: field '{name}' is {value}, expected a positive number")
    for name in ("top1", "top5"):
        value = raw.get(name)
        if value is not None and not 0 <= value <= 100:
            raise HootError(f"{label}: field '{name}' is {value}, expected a percentage in 0..100")
    tb = raw.get("task_builders", {})
    for task, builder in tb.items():
        if task not in TASKS:
            raise HootError(f"{label}: field 'task_builders' has unknown task '{task}', expected one of {', '.join(TASKS)}")
        if builder is not None and not isinstance(builder, str):
            raise HootError(f"{label}: field 'task_builders.{task}' must be a builder name or null")
    for name, allowed in (("targets", TARGETS), ("dataset_sizes", DATASET_SIZES)):
        for value in raw.get(name, []):
            if value not in allowed:
                raise HootError(f"{label}: field '{name}' has '{value}', expected one of {', '.join(allowed)}")
    for key, value in raw.get("metrics", {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise HootError(f"{label}: field 'metrics.{key}' is {value!r}, expected a number")
    figures = []
    for fig in raw.get("seed_figures", []):
        if not isinstance(fig, dict) or "source" not in fig:
            raise HootError(f"{label}: field 'seed_figures' entries need a 'source' (the seed file name)")
        bad = sorted(set(fig) - _SEED_FIGURE_FIELDS)
        if bad:
            raise HootError(f"{label}: field 'seed_figures' has unknown key '{bad[0]}'")
        figures.append(SeedFigure(**fig))
    basis = {}
    judged = {k for k in ("memory_tier", "speed_class") if raw.get(k)} | {f"targets.{t}" for t in raw.get("targets", [])} | {
        f"dataset_sizes.{d}" for d in raw.get("dataset_sizes", [])}
    for key, rec in raw.get("basis", {}).items():
        if key not in judged:
            raise HootError(f"{label}: field 'basis' has '{key}', which is not a judgement of this entry "
                            f"(one of {', '.join(sorted(judged))})")
        if not isinstance(rec, dict) or set(rec) - BASIS_FIELDS:
            raise HootError(f"{label}: field 'basis.{key}' must be a mapping of {', '.join(sorted(BASIS_FIELDS))}")
        if bool(rec.get("seed")) == bool(rec.get("rule")) or (rec.get("seed") and not rec.get("quote")):
            raise HootError(f"{label}: field 'basis.{key}' needs either seed and quote (the documents') "
                            "or rule (hoot's own), not both")
        basis[key] = Basis(**rec)
    if raw["provided"] and raw.get("kind") == "classification" and not raw.get("weights"):
        raise HootError(f"{label}: field 'weights' is missing; a provided variant names its default weights")
    values = dict(raw)
    values["seed_figures"] = tuple(figures)
    for name in ("targets", "dataset_sizes", "sources"):
        values[name] = tuple(values.get(name, ()))
    for name in ("gmacs", "top1", "top5", "weights_file_mb"):
        if values.get(name) is not None:
            values[name] = float(values[name])
    values["metrics"] = {k: float(v) for k, v in values.get("metrics", {}).items()}
    values["basis"] = basis
    return Variant(**values)


def parse_catalog(text: str, where: str = "catalog.yaml") -> Catalog:
    """Parse and validate catalog YAML text; every problem is a HootError naming entry and field."""
    try:
        # libyaml's C loader when present: ~10x faster, keeps `hoot advise` well under a second
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise HootError(f"{where}: malformed YAML{at}: {problem}; fix the file or restore the shipped catalog") from None
    if not isinstance(doc, dict) or "variants" not in doc:
        raise HootError(f"{where}: expected a mapping with 'schema_version' and a 'variants' list")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise HootError(f"{where}: schema_version is {version!r}, this hoot reads {SCHEMA_VERSION}")
    raw_variants = doc["variants"]
    if not isinstance(raw_variants, list) or not raw_variants:
        raise HootError(f"{where}: 'variants' must be a non-empty list")
    variants = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_variants):
        v = _check_entry(raw, i, where)
        if v.name in seen:
            raise HootError(f"{where}: entry '{v.name}': duplicate name (entry #{i + 1}); each variant appears once")
        seen.add(v.name)
        variants.append(v)
    return Catalog(tuple(variants), where)


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Load a catalog file (default: the shipped one). Cached per path and modification time."""
    p = Path(path) if path is not None else Path(default_catalog_path())
    if not p.exists():
        raise HootError(f"catalog file '{p}' does not exist; pass an existing YAML file")
    if p.is_dir():
        raise HootError(f"catalog file '{p}' is a directory; pass a YAML file")
    return _load_cached(str(p.resolve()), p.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime_ns: int) -> Catalog:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HootError(f"catalog file '{path}' cannot be read ({exc}); check its permissions and encoding") from None
    return parse_catalog(text, where=Path(path).name)
