"""Fine-tuning strategy and learning rate, per seeds/004 ("Fine-Tuning Strategies", "Learning Rate Guidelines").

- frozen (feature extraction): 100-1K images, similar to ImageNet; train the new head only.
- top (fine-tune top layers): 1K-10K images or somewhat different data; freeze the early half.
- full (all layers): 10K+ images or very different data; small learning rate.
From scratch (no pretrained weights) every layer trains, at the from-scratch range.

The rule itself lives in `advisor.guidance` (so `hoot advise` and `hoot shortlist` give the
same advice); this module maps it onto a model: which parameters freeze, which optimiser.
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
    strategy: str  # frozen | top | full | scratch
    lr: float
    lr_range: tuple[float, float]
    reason: str


def resolve_recipe(requested: str, pretrained: bool, n_images: int, optimizer: str, lr: float | None,
                   similarity: str = "similar") -> Recipe:
    """The strategy and learning rate for a run. AdamW starts at the low end of seeds/004's
    range, SGD (momentum 0.9) at the high end; `--lr` overrides both."""
    if not pretrained:
        if requested in ("frozen", "top"):
            raise HootError(f"--strategy {requested} freezes pretrained layers; with --no-pretrained use --strategy full or auto")
        strategy, reason, (lo, hi) = "scratch", "no pretrained weights: every layer trains (seeds/004 from-scratch range)", guidance.SCRATCH_LR
    elif requested == "auto":
        advice = guidance.finetune_strategy(n_images, similarity)
        strategy = {v: k for k, v in GUIDANCE_NAMES.items()}[advice.name]
        reason, (lo, hi) = advice.reason, (advice.lr_min, advice.lr_max)
    else:
        strategy, reason = requested, f"--strategy {requested}"
        lo, hi = guidance.learning_rate_range(GUIDANCE_NAMES[requested])
    chosen = lr if lr is not None else (lo if optimizer == "adamw" else hi)
    return Recipe(strategy, chosen, (lo, hi), reason)


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


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float):
    """AdamW or SGD (momentum 0.9, Nesterov) over trainable parameters; no weight decay on
    norms and biases (the usual recipe: decaying BN scales only hurts)."""
    import torch

    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr)
