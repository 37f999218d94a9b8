"""FLOPs and multiply-adds of one forward pass: torch's own counter, fvcore as a cross-check.

torch.utils.flop_counter.FlopCounterMode counts 2 FLOPs per multiply-add for
convolutions and matrix products, so GMACs = FLOPs / 2 (torchvision's published
"GFLOPS" are in fact these GMACs). It runs on the meta device when the model can be
built there, so counting costs no arithmetic. fvcore (optional) counts one "flop" per
multiply-add by tracing the model and skips ops it has no handler for; those are
recorded so a difference can be read correctly.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops(model: nn.Module, example: Any) -> int:
    """FLOPs of `model(example)` (whatever device the tensors live on, meta included)."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(example)
    return int(counter.get_total_flops())


def gmacs_on_meta(build: Callable[[], nn.Module], make_input: Callable[[str], Any]) -> float | None:
    """GMACs per forward, counted on the meta device (no arithmetic); None if the model can't live there."""
    try:
        with torch.device("meta"):
            model = build()
        model.eval()
        return count_flops(model, make_input("meta")) / 2e9
    except Exception:  # noqa: BLE001 - some builders create real tensors; the caller counts on the real model
        return None


def gmacs_moved_to_meta(model: nn.Module, make_input: Callable[[str], Any]) -> float | None:
    """GMACs per forward of `model`, counted after moving it to the meta device; None if it can't run there.

    Cheaper than `gmacs_on_meta` (no second build) once the model's timing is done: the model
    is left on the meta device, so the caller must not use it for anything else afterwards.
    """
    try:
        model.to("meta")
        model.eval()
        return count_flops(model, make_input("meta")) / 2e9
    except Exception:  # noqa: BLE001 - some models need real tensors; the caller counts on a real one
        return None


def fvcore_gmacs(model: nn.Module, example: Any) -> tuple[float | None, str | None]:
    """(GMACs by fvcore, its unsupported ops) or (None, why) when fvcore is absent or fails.

    fvcore ignores ops it has no handler for (e.g. elementwise activations, adaptive
    pooling); they are listed, most frequent first, so the caveat travels with the figure.
    """
    import logging
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return None, "fvcore not installed"

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fvcore traces with torch.jit, which warns about its deprecation
            analysis = FlopCountAnalysis(model, (example,))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            total = analysis.total()
            unsupported = analysis.unsupported_ops()
    except Exception as exc:  # noqa: BLE001 - tracing fails on some models (dynamic control flow)
        return None, f"fvcore failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    ops = ", ".join(f"{op}x{n}" for op, n in sorted(unsupported.items(), key=lambda kv: -kv[1])[:8])
    return total / 1e9, ops or None
