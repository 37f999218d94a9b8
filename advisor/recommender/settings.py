"""Which stored setting a ranking reads: the user's options over the target's defaults.

A ranking reads the rows of ONE setting (device, precision, batch, input size, threads,
runtime, a full budget). The user names it with `hoot advise --device --dtype --batch-size
--runtime --threads --cuda-graphs`; what they leave out comes from the target's `measure`
defaults in targets.yaml (hoot's rule: CPU targets batch 1 fp32, gpu-server the measured
throughput batch in half precision). The advisor never imports the measurement layer: the
stored settings arrive as objects with the fields of `hoot.bench.records.Setting`, and the
answer is a plain mapping of those fields the CLI turns into a `Setting`. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable

from hoot.advisor.recommender.targets import MeasureDefaults

HALF = ("bf16", "fp16")  # "half" in targets.yaml: whichever was measured, bf16 first


@dataclass(frozen=True)
class SettingWish:
    """What the user asked for on the command line; None: take the target's default."""

    device: str | None = None  # cpu | cuda | cuda:N
    dtype: str | None = None  # fp32 | fp16 | bf16
    batch_size: int | None = None
    runtime: str | None = None  # eager | cuda_graph | compile | onnxruntime | int8 | executorch | litert | openvino
    threads: int | None = None
    input_size: int | None = None


def _device_matches(wanted: str | None, stored: str) -> bool:
    if wanted is None:
        return True
    return stored == wanted or (wanted == "cuda" and stored.startswith("cuda"))


def _pick(wish: SettingWish, device: str | None, dtypes: tuple[str, ...], batch: int | str | None,
          stored: list[Any]) -> Any | None:
    runtime = wish.runtime or "eager"
    fits = [s for s in stored if _device_matches(device, s.device) and (not dtypes or s.dtype in dtypes)
            and s.runtime == runtime and (wish.threads is None or s.threads == wish.threads)
            and (wish.input_size is None or s.input_size == wish.input_size)]
    if isinstance(batch, int):
        fits = [s for s in fits if s.batch_size == batch]
    elif batch == "throughput":
        fits = [s for s in fits if s.batch_size > 1] or fits
    if not fits:
        return None
    order = dtypes or ("fp32", "bf16", "fp16")

    def preference(s: Any) -> tuple:
        size = -s.batch_size if batch == "throughput" else s.batch_size
        return (bool(getattr(s, "quick", False)), not str(s.device).startswith("cuda"),
                order.index(s.dtype) if s.dtype in order else len(order), size,
                bool(getattr(s, "channels_last", False)), -(s.threads or 0))

    return min(fits, key=preference)


FIELDS = ("device", "dtype", "batch_size", "input_size", "threads", "channels_last", "runtime", "quick")


def choose_setting(wish: SettingWish, defaults: MeasureDefaults, available: Iterable[Any]) -> tuple[dict[str, Any], bool]:
    """(fields of the Setting to rank on, relaxed?): the stored setting that fits the user's options and the
    target's defaults; else one that fits the user's options with the defaults relaxed (relaxed=True; the
    output says so); else the wish and defaults themselves (nothing measured in it: estimates)."""
    stored = [s for s in available if getattr(s, "mode", "inference") == "inference"]
    device = wish.device or defaults.device
    dtypes = (wish.dtype,) if wish.dtype else (HALF if defaults.dtype == "half" else (defaults.dtype,))
    batch = wish.batch_size if wish.batch_size is not None else defaults.batch_size
    best = None
    for runtime in ((wish.runtime,) if wish.runtime else defaults.runtimes):  # the target's runtimes, first stored
        wish = replace(wish, runtime=runtime)
        best = _pick(wish, device, dtypes, batch, stored)
        if best is not None:
            break
    relaxed = False
    if best is None:  # the target's defaults are not stored: keep only what the user asked for
        best = _pick(wish, wish.device, (wish.dtype,) if wish.dtype else (),
                     wish.batch_size if wish.batch_size is not None else 1, stored)
        if best is None and wish.batch_size is None:
            best = _pick(wish, wish.device, (wish.dtype,) if wish.dtype else (), None, stored)
        relaxed = best is not None
    if best is not None:
        return {name: getattr(best, name) for name in FIELDS} | {"mode": "inference"}, relaxed
    return {"device": device or "cpu", "dtype": dtypes[0], "batch_size": batch if isinstance(batch, int) else 1,
            "input_size": wish.input_size, "threads": wish.threads, "channels_last": False,
            "runtime": wish.runtime or "eager", "quick": False, "mode": "inference"}, False


def train_setting(ranking: dict[str, Any], available: Iterable[Any]) -> Any | None:
    """The stored training setting (mode train) for memory: same device kind, full budget first."""
    gpu = str(ranking.get("device", "")).startswith("cuda")
    trains = [s for s in available if getattr(s, "mode", "inference") == "train"
              and str(s.device).startswith("cuda") == gpu]
    if not trains:
        return None
    return min(trains, key=lambda s: (bool(getattr(s, "quick", False)), s.dtype != ranking.get("dtype"),
                                      s.batch_size != ranking.get("batch_size")))
