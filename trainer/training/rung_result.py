"""One candidate's result at one bake-off rung, as a typed record.

`train_rung` returns it; promotion, ranking, the scale-out's work queue and the reports read its
attributes. On disk (bakeoff.json, the Optuna trials' user attributes) it stays the flat JSON
object hoot has always written: `to_dict()` flattens the validation metrics beside the fixed
fields, and `from_dict()` reads that object back, also as older runs wrote it (fields they did
not have are defaulted; keys this version does not know are kept in `extra` and written back,
so resuming a run never drops what it recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from numbers import Real
from typing import Any, Literal

Status = Literal["ok", "error"]
STATUSES = ("ok", "error")
#: validation metrics are the keys with this prefix (val_top1, val_loss, val_f1, val_map, ...)
METRIC_PREFIX = "val_"


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"metric {name} must be a number, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class RungResult:
    """What one rung of one candidate gave: its training, its latency setting and its validation metrics.

    `status` "error" means the rung failed (out of memory, a model that cannot take the input
    size); `error` then says how, and everything but candidate and rung is empty.
    """

    candidate: str
    rung: int
    status: Status = "ok"
    error: str | None = None
    steps: int | None = None
    epochs_seen: float | None = None
    images_seen: int | None = None
    train_seconds: float | None = None
    train_images_per_s: float | None = None
    train_loss_last: float | None = None
    latency_ms: float | None = None
    latency_source: str | None = None
    params: int | None = None
    trainable_params: int | None = None
    strategy: str | None = None
    lr: float | None = None
    head_lr: float | None = None
    bn_recalibration_images: int | None = None
    resumed_from_step: int | None = None
    # the step's precision and layout (trainer.training.precision.PrecisionChoice.as_dict)
    precision: str | None = None
    channels_last: bool | None = None
    grad_scaler: bool | None = None
    precision_source: str | None = None
    probe_images_per_s: dict[str, float] = field(default_factory=dict)
    # torch.compile's decision (trainer.training.compiled's record, as_dict)
    compile: str | None = None
    compile_source: str | None = None
    compile_seconds: float | None = None
    eager_step_s: float | None = None
    compiled_step_s: float | None = None
    compile_run_steps: int | None = None
    #: the task's validation metrics: val_top1, val_top5, val_macro_f1, val_loss, val_logit_spread
    #: (classification) or val_f1, val_map, ... (multi-label)
    metrics: dict[str, float] = field(default_factory=dict)
    #: keys a file held that this version has no field for (written back by to_dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.candidate, str) or not self.candidate:
            raise ValueError(f"a rung result needs a candidate name, not {self.candidate!r}")
        if isinstance(self.rung, bool) or not isinstance(self.rung, int) or self.rung < 0:
            raise ValueError(f"rung of {self.candidate} must be an integer >= 0, not {self.rung!r}")
        if self.status not in STATUSES:
            raise ValueError(f"status of {self.candidate} rung {self.rung} must be one of {STATUSES}, not {self.status!r}")
        if self.status == "error" and not self.error:
            raise ValueError(f"failed result of {self.candidate} rung {self.rung} needs its error message")
        metrics = {}
        for name, value in dict(self.metrics).items():
            if not str(name).startswith(METRIC_PREFIX):
                raise ValueError(f"metric '{name}' of {self.candidate} is not a validation metric ({METRIC_PREFIX}...)")
            metrics[str(name)] = _number(name, value)
        object.__setattr__(self, "metrics", metrics)  # a copy: the record never shares the caller's dict
        object.__setattr__(self, "probe_images_per_s", dict(self.probe_images_per_s or {}))
        clash = set(self.extra) & (FIELD_NAMES | set(metrics))
        if clash:
            raise ValueError(f"extra keys {sorted(clash)} of {self.candidate} name fields of the record")
        object.__setattr__(self, "extra", dict(self.extra))

    @classmethod
    def failed(cls, candidate: str, rung: int, error: str) -> RungResult:
        """The result of a rung that raised: it costs the candidate its row, not the run."""
        return cls(candidate=candidate, rung=rung, status="error", error=str(error) or "failed")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def metric(self, name: str) -> float | None:
        """The validation metric `name` (e.g. ctx.metric: val_top1 or val_f1); None when the rung has
        none. A number another engine recorded under a name of its own is found in `extra`."""
        if name in self.metrics:
            return self.metrics[name]
        value = self.extra.get(name)
        return float(value) if isinstance(value, Real) and not isinstance(value, bool) else None

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON object of bakeoff.json and the study's user attributes (metrics beside the fields)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in FLAT_FIELDS}
        out["probe_images_per_s"] = dict(self.probe_images_per_s)
        out.update(self.metrics)
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, candidate: str | None = None, rung: int | None = None) -> RungResult:
        """Read the flat object back, also one an older run wrote.

        `candidate` and `rung` are used when the object lacks them (older toy and Optuna
        records); a missing status is "ok" (as the ranking always read one). Numeric
        `val_*` keys become metrics; a metric stored as null (NaN through JSON) is left out, as
        a missing one. Keys without a field are kept in `extra`. A ValueError when the object
        cannot be a rung result.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a rung result must be a JSON object, not {type(data).__name__}")
        known: dict[str, Any] = {}
        metrics: dict[str, float] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            key = str(key)
            if key in FLAT_FIELDS:
                known[key] = value
            elif key == "metrics" and isinstance(value, Mapping):  # nested, as a hand-written record may have it
                metrics.update({str(k): v for k, v in value.items() if v is not None})
            elif key.startswith(METRIC_PREFIX) and isinstance(value, Real) and not isinstance(value, bool):
                metrics[key] = float(value)
            elif key.startswith(METRIC_PREFIX) and value is None:
                continue
            else:
                extra[key] = value
        if known.get("candidate") is None:
            known["candidate"] = candidate
        if known.get("rung") is None:
            known["rung"] = rung
        if known.get("status") is None:
            known["status"] = "ok"
        if known["status"] == "error" and not known.get("error"):
            known["error"] = "failed (no message recorded)"
        if isinstance(known.get("rung"), float) and float(known["rung"]).is_integer():
            known["rung"] = int(known["rung"])
        known["probe_images_per_s"] = known.get("probe_images_per_s") or {}
        return cls(**known, metrics=metrics, extra=extra)

    @classmethod
    def split_known(cls, flat: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(keys with a field of their own, the rest): for building a record from a component's
        as_dict() (precision, compile) that may carry a key this version does not know yet."""
        known = {k: v for k, v in flat.items() if k in FLAT_FIELDS}
        return known, {k: v for k, v in flat.items() if k not in known}


FIELD_NAMES = frozenset(f.name for f in fields(RungResult))
#: the fields that are keys of the flat JSON object as they are, in declaration order (metrics and
#: extra are spread into it instead)
FLAT_FIELDS = tuple(f.name for f in fields(RungResult) if f.name not in ("metrics", "extra"))
