"""What a shortlist hands back (`ShortlistResult`) and what a scale-out worker reports
(`WorkerSummary`): typed records, with `to_dict()` giving the JSON the commands print and the
study stores (the same keys as the dicts they replace; a field that does not apply is left out)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hoot.trainer.training.finetune_result import FinetuneResult, RecordView


def _present(record: Any) -> dict[str, Any]:
    """The record's fields in order, without those that do not apply (None)."""
    out = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if value is not None:
            out[f.name] = value.to_dict() if isinstance(value, FinetuneResult) else value
    return out


@dataclass(frozen=True, eq=False, kw_only=True)
class ShortlistResult(RecordView):
    """A shortlist's answer: the bake-off ranking, its winner and the fine-tune's final figures.

    In one process (run_local) the study fields are None; a coordinator adds its study and
    storage timings; a finished study found again carries only what the study recorded."""

    study: str | None = None
    run_id: str | None = None
    run_dir: str | None = None
    winner: str
    table: list[dict[str, Any]]
    final: dict[str, Any] | None = None
    finetune: FinetuneResult | dict[str, Any] | None = None  # a study found finished keeps a summary dict
    storage_s: float | None = None
    storage_calls: int | None = None
    bakeoff_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return _present(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShortlistResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, eq=False)
class WorkerSummary(RecordView):
    """What a --worker did: rungs trained, time, storage calls; with --nnodes > 1 its fine-tune."""

    study: str
    worker: str
    rungs_trained: int
    wall_s: float
    storage_s: float
    storage_calls: int
    finetune: FinetuneResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return _present(self)
