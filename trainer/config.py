"""Every setting of a shortlist run in one JSON-serialisable dataclass.

Why one object: a run must be rebuildable elsewhere (a worker on another machine, a
`--resume` next week) from `config.json` alone, and the bake-off is fair only if every
candidate sees exactly the same settings. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoot.advisor.errors import HootError

STRATEGIES = ("auto", "frozen", "top", "full")
OPTIMIZERS = ("adamw", "sgd")
TASKS = ("auto", "classification", "multilabel")


@dataclass
class ShortlistConfig:
    """A shortlist run: data, candidates, bake-off budget and the winner's fine-tune recipe."""

    data_dir: str
    candidates: list[str] = field(default_factory=list)
    task: str = "auto"  # auto | classification | multilabel (auto: sidecars/labels.csv switch to multilabel)
    val_fraction: float = 0.2
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
    # gpu helper (issue 10): step precision/layout (auto: measured on CUDA, fp32 on CPU) and torch.compile
    precision: str = "auto"  # auto | probe | fp32 | bf16 | fp16 [+channels_last]
    compile: str = "off"  # off | auto | default | reduce-overhead (CUDA graphs)

    def __post_init__(self) -> None:
        if not self.run_id:
            self.run_id = time.strftime("%Y%m%d-%H%M%S")
        self.validate()

    def validate(self) -> None:
        """Bad settings are one-line errors that name the option."""
        if self.task not in TASKS:
            raise HootError(f"--task '{self.task}' is not one of {', '.join(TASKS)}")
        if self.strategy not in STRATEGIES:
            raise HootError(f"--strategy '{self.strategy}' is not one of {', '.join(STRATEGIES)}")
        if self.optimizer not in OPTIMIZERS:
            raise HootError(f"--optimizer '{self.optimizer}' is not one of {', '.join(OPTIMIZERS)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise HootError(f"--val-fraction {self.val_fraction} must be between 0 and 1 (e.g. 0.2)")
        if self.image_size is not None and not 16 <= self.image_size <= 2048:
            raise HootError(f"--image-size {self.image_size} must be between 16 and 2048 pixels")
        if self.batch_size < 1:
            raise HootError(f"--batch-size {self.batch_size} must be at least 1")
        if self.epochs <= 0:
            raise HootError(f"--epochs {self.epochs} must be positive")
        if self.steps is not None and self.steps < 1:
            raise HootError(f"--steps {self.steps} must be at least 1")
        if self.budget_seconds is not None and self.budget_seconds <= 0:
            raise HootError(f"--budget-seconds {self.budget_seconds} must be positive")
        if self.eta < 2:
            raise HootError(f"--eta {self.eta} must be at least 2 (keep 1/eta of the candidates per rung)")
        if self.rungs is not None and self.rungs < 1:
            raise HootError(f"--rungs {self.rungs} must be at least 1")
        if self.full_epochs is not None and self.full_epochs < 0:
            raise HootError(f"--full-epochs {self.full_epochs} must be 0 (skip the fine-tune) or more")
        if self.lr is not None and not 0 < self.lr < 10:
            raise HootError(f"--lr {self.lr} must be a positive learning rate such as 1e-3")
        if not 0 <= self.label_smoothing < 1:
            raise HootError(f"--label-smoothing {self.label_smoothing} must be in [0, 1)")
        if len(set(self.candidates)) != len(self.candidates):
            raise HootError("--candidates lists a model twice; name each candidate once")
        if self.compile not in ("off", "auto", "default", "reduce-overhead"):  # gpu helper (issue 10)
            raise HootError(f"--compile '{self.compile}' is not one of off, auto, default, reduce-overhead")
        if self.precision.split("+")[0] not in ("auto", "probe", "fp32", "bf16", "fp16"):
            raise HootError(f"--precision '{self.precision}' is not auto, probe, fp32, bf16 or fp16 (+channels_last)")
        if "/" in self.run_id or self.run_id in (".", ".."):
            raise HootError(f"--run-id '{self.run_id}' must be a plain folder name")

    @property
    def run_dir(self) -> Path:
        return Path(self.output) / self.run_id

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ShortlistConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise HootError(f"run settings have unknown field '{unknown[0]}'; the run was made by another hoot version")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ShortlistConfig":
        return cls.from_dict(json.loads(text))

    def save(self, path: Path | None = None) -> Path:
        path = path or self.run_dir / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> "ShortlistConfig":
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HootError(f"cannot read run settings '{path}' ({exc}); is it a hoot run folder?") from None
