"""The fine-tune's result as a typed record (`FinetuneResult`), and the read-only mapping view
the run's typed results share (`RecordView`).

finetune.json is `FinetuneResult.to_dict()`: the same keys, in the same order, as the dict the
fine-tune returned before it was typed, so files written by either load (`from_dict`) and a
file is byte-for-byte what it was. Keys the record does not name (precision and compile
settings, the DDP ranks' agreement, the launcher's seconds) ride along in `extra`.
`RecordView` lets a script written against the old dict results keep reading `result["winner"]`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class RecordView(Mapping):
    """Read-only `record["key"]` over `to_dict()`; equal to a mapping with the same items."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


@dataclass(frozen=True, eq=False)
class FinetuneResult(RecordView):
    """What a fine-tune reports: the recipe it ran, its epochs, and the kept model on validation
    (`final`) and on the held-out test split (`test`)."""

    winner: str
    strategy: str | None = None
    strategy_reason: str | None = None
    lr: float | None = None
    lr_range: list[float] | None = None
    lr_groups: dict[str, float] | None = None
    head_lr_range: list[float] | None = None
    optimizer: str | None = None
    batch_size: int | None = None
    autobatch: dict[str, Any] | None = None
    epochs_planned: int | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    kept: str | None = None
    start_value: float | None = None
    stopped_early: bool | None = None
    started_from: str | None = None
    seconds: float | None = None
    autocast: str | None = None
    world_size: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    test: dict[str, Any] = field(default_factory=dict)
    test_images: int | None = None
    selected_on: str = "validation"
    reported_on: str = "test"
    extra: dict[str, Any] = field(default_factory=dict)  # every other key of finetune.json, in its order

    def to_dict(self) -> dict[str, Any]:
        """finetune.json: the named fields in order, then `extra`'s keys."""
        named = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**named, **self.extra}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FinetuneResult:
        """A finetune.json (any hoot version: missing keys take their defaults, unknown ones go to `extra`)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in names},
                   extra={k: v for k, v in data.items() if k not in names})

    def with_extra(self, **more: Any) -> FinetuneResult:
        """A copy with more keys; a key the record names replaces that field."""
        merged = {**self.to_dict(), **more}
        return FinetuneResult.from_dict(merged)

    def final_numbers(self, kinds: tuple[type, ...] = (float,)) -> dict[str, Any]:
        """The final validation figures of these types (no confusion matrix, no lists)."""
        return {k: v for k, v in (self.final or {}).items() if isinstance(v, kinds)}
