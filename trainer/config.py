"""Every setting of a shortlist run in one JSON-serialisable dataclass.

Why one object: a run must be rebuildable elsewhere (a worker on another machine, a
`--resume` next week) from `config.json` alone, and the bake-off is fair only if every
candidate sees exactly the same settings. Nothing here imports torch.

Frozen and validated once, in `__post_init__`: every numeric field goes through
`hoot.advisor.units.check_number` (NaN, infinities, zero and negatives are one-line errors
naming the option). Code that needs another setting makes a copy with `dataclasses.replace`;
values resolved later (the image size when it is None) travel in the RunContext instead.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError
from hoot.advisor.units import check_number
from hoot.trainer.tasks import AUTO, TASKS as TASK_NAMES

STRATEGIES = ("auto", "frozen", "top", "full")
#: field -> check_number rules; the CLI's option types (hoot.cli.options) apply the same bounds
_NUMBER_RULES: dict[str, dict] = {
    "val_fraction": {"minimum": 0, "exclusive_minimum": True, "maximum": 0.8, "example": "0.2"},
    "test_fraction": {"minimum": 0, "exclusive_minimum": True, "maximum": 0.8, "example": "0.2"},
    "image_size": {"integer": True, "minimum": 16, "maximum": 2048, "example": "224"},
    "batch_size": {"integer": True, "minimum": 1, "maximum": 65536, "example": "32"},
    "seed": {"integer": True, "minimum": 0, "example": "0"},
    "epochs": {"minimum": 0, "exclusive_minimum": True, "maximum": 10_000, "example": "1"},
    "steps": {"integer": True, "minimum": 1, "example": "100"},
    "budget_seconds": {"minimum": 0, "exclusive_minimum": True, "example": "60"},
    "rungs": {"integer": True, "minimum": 1, "maximum": 64, "example": "2"},
    "eta": {"integer": True, "minimum": 2, "maximum": 64, "example": "2"},
    "full_epochs": {"integer": True, "minimum": 0, "maximum": 10_000, "example": "10"},
    "lr": {"minimum": 0, "exclusive_minimum": True, "maximum": 10, "example": "1e-3"},
    "weight_decay": {"minimum": 0, "maximum": 10, "example": "0.05"},
    "label_smoothing": {"minimum": 0, "maximum": 0.99, "example": "0.1"},
    "focal_gamma": {"minimum": 0, "maximum": 100, "example": "2"},
    "warmup_epochs": {"minimum": 0, "maximum": 10_000, "example": "1"},
    "patience": {"integer": True, "minimum": 0, "maximum": 10_000, "example": "5"},
    "bn_recalibration_images": {"integer": True, "minimum": 0, "example": "2000"},
    "num_threads": {"integer": True, "minimum": 1, "maximum": 4096, "example": "4"},
}
#: config.json's key for values derived from the settings (not settings themselves)
RESOLVED_KEY = "resolved"
#: field -> option name where they differ
_OPTION_NAMES = {"num_threads": "threads"}
OPTIMIZERS = ("adamw", "sgd")
#: --task values: auto (read the layout) and every task hoot.trainer.tasks registers
TASKS = (AUTO, *TASK_NAMES)


#: --precision values (a `+channels_last` suffix picks the memory layout too) and --compile modes
PRECISIONS = ("auto", "probe", "fp32", "bf16", "fp16")
COMPILE_MODES = ("off", "auto", "default", "reduce-overhead")


@dataclass(frozen=True)
class ShortlistConfig:
    """A shortlist run: data, candidates, bake-off budget and the winner's fine-tune recipe."""

    data_dir: str
    candidates: list[str] = field(default_factory=list)
    task: str = "auto"  # auto (the layout decides: hoot.trainer.tasks.detect_task) or a task name
    loss: str = ""  # --loss: "" = the task's default (hoot.trainer.tasks.base.Task.losses)
    val_fraction: float = 0.2
    test_fraction: float = 0.2  # held-out test share when DATA_DIR has no test/ (stratified, seeded)
    image_size: int | None = None  # None: min(candidates' native size, dataset median size)
    batch_size: int = 32
    seed: int = 0
    # bake-off budget per candidate (rung 0); rung r gets eta**r times this, cumulatively
    epochs: float = 1.0
    steps: int | None = None  # overrides epochs
    budget_seconds: float | None = None  # overrides steps/epochs (wall-clock: fair in time, not bit-exact)
    rungs: int | None = None  # None: enough halving rungs to reach one survivor
    eta: int = 2
    pretrained: bool = True
    strategy: str = "auto"
    full_epochs: int | None = None  # None: from the dataset size
    optimizer: str = "adamw"
    lr: float | None = None  # None: seeds/004's range for the strategy
    weight_decay: float = 0.05
    label_smoothing: float = 0.0
    focal: bool = False
    focal_gamma: float = 2.0
    warmup_epochs: float = 1.0
    patience: int = 5
    bn_recalibration_images: int = 2000  # training images used to re-estimate BatchNorm statistics
    output: str = "reports"
    run_id: str = ""
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    num_threads: int | None = None
    auto_batch: bool = True  # on a GPU: pick the fine-tune batch size with hoot bench's search
    similarity: str = "similar"  # similar | somewhat-different | different (to ImageNet; seeds/004)
    # step precision/layout (auto: measured on CUDA, fp32 on CPU) and torch.compile (issue 10)
    precision: str = "auto"  # auto | probe | fp32 | bf16 | fp16 [+channels_last]
    compile: str = "off"  # off | auto | default | reduce-overhead (CUDA graphs)
    allow_leakage: bool = False  # train even when DATA/test/ shares images with training (issue 20)
    annotations: str | None = None  # --annotations FILE: detection's COCO json when not DATA_DIR/annotations.json

    def __post_init__(self) -> None:
        if not self.run_id:
            object.__setattr__(self, "run_id", time.strftime("%Y%m%d-%H%M%S"))
        self.validate()

    def validate(self) -> None:
        """Bad settings are one-line errors that name the option (the one place they are checked)."""
        for name, allowed in (("task", TASKS), ("strategy", STRATEGIES), ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                raise HootError(f"--{name} '{getattr(self, name)}' is not one of {', '.join(allowed)}")
        for name, rules in _NUMBER_RULES.items():
            value = getattr(self, name)
            if value is not None:
                check_number(value, "--" + _OPTION_NAMES.get(name, name).replace("_", "-"), **rules)
        if self.val_fraction + self.test_fraction >= 0.9:
            raise HootError(f"--val-fraction {self.val_fraction} and --test-fraction {self.test_fraction} leave "
                            "under 10% for training; keep their sum under 0.9 (e.g. 0.2 and 0.2)")
        if len(set(self.candidates)) != len(self.candidates):
            raise HootError("--candidates lists a model twice; name each candidate once")
        if self.compile not in COMPILE_MODES:
            raise HootError(f"--compile '{self.compile}' is not one of {', '.join(COMPILE_MODES)}")
        if self.precision.split("+")[0] not in PRECISIONS or self.precision.count("+") > 1 or (
                "+" in self.precision and self.precision.split("+")[1] != "channels_last"):
            raise HootError(f"--precision '{self.precision}' is not auto, probe, fp32, bf16 or fp16 "
                            "(optionally +channels_last)")
        if "/" in self.run_id or "\\" in self.run_id or self.run_id in (".", ".."):
            raise HootError(f"--run-id '{self.run_id}' must be a plain folder name")

    @property
    def run_dir(self) -> Path:
        return Path(self.output) / self.run_id

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ShortlistConfig":
        data = {k: v for k, v in data.items() if k != RESOLVED_KEY}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise HootError(f"run settings have unknown field '{unknown[0]}'; the run was made by another hoot version")
        return cls(**data)

    def fingerprint(self) -> str:
        """A short hash of the settings that make this run this run (not where its folder lives):
        best.pt records it, so a checkpoint copied in from another run is refused on load."""
        return settings_fingerprint(self.to_dict())

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ShortlistConfig":
        return cls.from_dict(json.loads(text))

    def save(self, path: Path | None = None, resolved: dict[str, Any] | None = None) -> Path:
        """config.json; `resolved` (what the run derived from the settings: image size, strategy,
        learning rate per parameter group) is recorded beside them under "resolved" for people
        and tools, and ignored when the config is loaded (it is derived again)."""
        from hoot.trainer.runfiles import atomic_write_text

        path = path or self.run_dir / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = self.to_dict() | ({RESOLVED_KEY: resolved} if resolved else {})
        atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True))
        return path

    @classmethod
    def load(cls, path: Path) -> "ShortlistConfig":
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HootError(f"cannot read run settings '{path}' ({exc}); is it a hoot run folder?") from None


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """The fingerprint of a config.json document (its location and derived values left out)."""
    import hashlib

    kept = {k: v for k, v in settings.items() if k not in ("output", RESOLVED_KEY)}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]
