"""Fine-tuning strategy and learning rate, per seeds/004 ("Fine-Tuning Strategies", "Learning Rate Guidelines").

- frozen (feature extraction): 100-1K images, similar to ImageNet; train the new head only.
- top (fine-tune top layers): 1K-10K images or somewhat different data; freeze the early half.
- full (all layers): 10K+ images or very different data; small learning rate.
From scratch (no pretrained weights) every layer trains, at the from-scratch range.

The rule itself lives in `advisor.guidance` (so `hoot advise` and `hoot shortlist` give the
same advice); this module maps it onto a model: which parameters freeze, which optimiser, and
the learning rate per parameter group: the new head at seeds/004's head range ("training only
new head 0.001-0.01"), the pretrained layers that train at the strategy's (lower) range. The
per-group ranges are read from guidance.STRATEGIES' `lr` and `head_lr` (the table `hoot advise`
prints); `--lr` sets the backbone's rate and the head keeps its ratio to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from hoot.advisor import guidance
from hoot.advisor.errors import HootError

#: hoot shortlist's --strategy names -> advisor.guidance's strategy names
GUIDANCE_NAMES = {"frozen": "feature_extraction", "top": "top_layers", "full": "full"}
SIMILARITIES = guidance.SIMILARITIES


@dataclass(frozen=True)
class Recipe:
    """Strategy and per-group peak learning rates: `lr` for the pretrained layers that train (the
    only group under frozen/scratch, where it equals `head_lr`), `head_lr` for the new head."""

    strategy: str  # frozen | top | full | scratch
    lr: float
    lr_range: tuple[float, float]
    reason: str
    head_lr: float | None = None
    head_lr_range: tuple[float, float] | None = None

    def group_rates(self) -> dict[str, float]:
        """What config.json / finetune.json record: the peak rate of each parameter group."""
        if self.strategy in ("frozen", "scratch"):
            return {"head" if self.strategy == "frozen" else "all": self.lr}
        return {"backbone": self.lr, "head": self.head_lr if self.head_lr is not None else self.lr}


def group_ranges(strategy: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """(backbone range, head range) for a trainer strategy, from advisor.guidance's table."""
    if strategy == "scratch":
        return guidance.SCRATCH_LR, guidance.SCRATCH_LR
    rates = guidance.group_learning_rates(GUIDANCE_NAMES[strategy])
    head = tuple(rates["head"])
    return tuple(rates["backbone"] or head), head  # type: ignore[return-value]


def resolve_recipe(requested: str, pretrained: bool, n_images: int, optimizer: str, lr: float | None,
                   similarity: str = "similar") -> Recipe:
    """The strategy and learning rate for a run. AdamW starts at the low end of seeds/004's
    range, SGD (momentum 0.9) at the high end; `--lr` overrides both."""
    if not pretrained:
        if requested in ("frozen", "top"):
            raise HootError(f"--strategy {requested} freezes pretrained layers; with --no-pretrained use --strategy full or auto")
        strategy, reason = "scratch", "no pretrained weights: every layer trains (seeds/004 from-scratch range)"
    elif requested == "auto":
        advice = guidance.finetune_strategy(n_images, similarity)
        strategy = {v: k for k, v in GUIDANCE_NAMES.items()}[advice.name]
        reason = advice.reason
    else:
        strategy, reason = requested, f"--strategy {requested}"
    (lo, hi), (head_lo, head_hi) = group_ranges(strategy)
    at_end = 0 if optimizer == "adamw" else 1
    default_lr, default_head = (lo, hi)[at_end], (head_lo, head_hi)[at_end]
    if strategy in ("frozen", "scratch"):  # one group: the head alone, or every layer
        chosen = lr if lr is not None else default_head
        return Recipe(strategy, chosen, (head_lo, head_hi), reason, chosen, (head_lo, head_hi))
    chosen = lr if lr is not None else default_lr
    head = chosen * default_head / default_lr
    return Recipe(strategy, chosen, (lo, hi), reason, head, (head_lo, head_hi))


def apply_strategy(model: nn.Module, strategy: str) -> int:
    """Freeze parameters for `strategy`; returns the number of trainable parameters.

    The head is `model.hoot_head_names` (set by bench.models.build_model). "top" freezes the
    first half of the backbone's parameters in definition order (early layers: generic features).
    """
    head_prefixes = tuple(getattr(model, "hoot_head_names", []) or [])
    for p in model.parameters():
        p.requires_grad_(True)
    if strategy in ("full", "scratch"):
        return sum(p.numel() for p in model.parameters())
    if not head_prefixes:
        raise HootError(f"cannot find the classifier head of {type(model).__name__} to freeze the rest")
    backbone = [(n, p) for n, p in model.named_parameters() if not n.startswith(head_prefixes)]
    if strategy == "frozen":
        for _, p in backbone:
            p.requires_grad_(False)
    elif strategy == "top":
        total = sum(p.numel() for _, p in backbone)
        seen = 0
        for _, p in backbone:
            if seen >= total / 2:
                break
            p.requires_grad_(False)
            seen += p.numel()
    else:
        raise HootError(f"unknown strategy '{strategy}'")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float, head_lr: float | None = None):
    """AdamW or SGD (momentum 0.9, Nesterov) over trainable parameters; no weight decay on
    norms and biases (the usual recipe: decaying BN scales only hurts). With `head_lr`, the
    head's groups start at it and carry `lr_scale = head_lr / lr`, which the training loop's
    schedule multiplies in (hoot.trainer.training.loop.Stepper), so warm-up and decay keep the ratio."""
    import torch

    head_prefixes = tuple(getattr(model, "hoot_head_names", []) or [])
    groups_by_key: dict[tuple[bool, bool], list] = {}
    for n, p in model.named_parameters():
        if p.requires_grad:
            is_head = bool(head_prefixes) and n.startswith(head_prefixes) and head_lr is not None
            groups_by_key.setdefault((is_head, p.ndim <= 1), []).append(p)
    groups = []
    for (is_head, no_decay), params in sorted(groups_by_key.items()):
        scale = (head_lr / lr) if is_head else 1.0
        groups.append({"params": params, "weight_decay": 0.0 if no_decay else weight_decay, "lr": lr * scale,
                       "lr_scale": scale, "group": "head" if is_head else "backbone"})
    fused = {"fused": True} if wants_fused([p for g in groups for p in g["params"]]) else {}
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True, **fused)
    return torch.optim.AdamW(groups, lr=lr, **fused)


def wants_fused(params: list) -> bool:
    """The fused optimiser kernels where every parameter is on a CUDA device. Why: one kernel per
    step instead of a loop of small ones, and with fp16 the GradScaler hands a fused optimiser the
    inf check on the device instead of reading it back (no host synchronisation per step). The CPU
    keeps the default implementation (its numbers stay bit for bit what they were)."""
    return bool(params) and all(p.is_cuda for p in params)
