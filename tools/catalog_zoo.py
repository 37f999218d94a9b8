"""The catalog's entries from timm and segmentation-models-pytorch: which ones, and who they are.

Two lists, both hoot's choice:

- NAMED: the models the seed documents name that torchvision lacks and timm or smp provides.
  Their old not-provided entries are promoted in place (renamed to the source's builder name);
  what the documents say about them stays in `sources` and `notes`.
- Today's efficient classifier families (FAMILIES), chosen by SELECTION_RULE below: within each
  family, the Pareto front of ImageNet top-1 (timm's published table) against GMACs (hoot's FLOP
  counter at the native size) among the variants that fit the mobile budget of
  advisor/recommender/targets.yaml; a family with no variant inside that budget contributes its
  cheapest one. Only variants whose default pretrained weights are ImageNet-1K-only (no
  ImageNet-21K/12K pretraining) and that timm's table lists at their native size take part.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from hoot.bench.sources import source_named
from hoot.bench.sources.timm import pretrained_cfg, published_row

SELECTION_RULE = " ".join(__doc__.split("chosen by SELECTION_RULE below: ")[1].split())

#: old catalog name -> (builder name in its source, source)
NAMED: dict[str, tuple[str, str]] = {
    "efficientnet_lite0": ("efficientnet_lite0", "timm"),
    "mobilenet_v1": ("mobilenetv1_100", "timm"),
    "resnet50_v2": ("resnetv2_50", "timm"),
    "inception_v4": ("inception_v4", "timm"),
    "inception_resnet_v2": ("inception_resnet_v2", "timm"),
    "unet": ("unet_resnet34", "smp"),
    "resnet50_unet": ("unet_resnet50", "smp"),
    "deeplabv3_plus": ("deeplabv3plus_resnet50", "smp"),
    "upernet": ("upernet_resnet50", "smp"),
}

#: display names of the promoted entries (what the source builds, encoder included)
NAMED_DISPLAY = {
    "mobilenetv1_100": "MobileNet V1 1.0", "resnetv2_50": "ResNet-50 V2 (pre-activation)",
    "unet_resnet34": "U-Net (ResNet-34 encoder)", "unet_resnet50": "U-Net (ResNet-50 encoder)",
    "deeplabv3plus_resnet50": "DeepLabV3+ (ResNet-50 encoder)", "upernet_resnet50": "UPerNet (ResNet-50 encoder)",
}

#: the documents' own judgement of a promoted entry, quoted (held to the seed text by tests)
NAMED_BASIS: dict[str, dict[str, dict[str, str]]] = {
    "efficientnet_lite0": {"targets.mobile": {
        "seed": "002_590eac7caad12a4a.txt", "quote": "Use MobileNetV3, ShuffleNetV2, or EfficientNet-Lite.",
        "section": '"Step 1: Define Your Constraints"'}},
}

#: (regex on timm's architecture name, family, year, paper). First match wins.
FAMILIES: list[tuple[str, str, int, str]] = [
    (r"^mobilenetv4_(conv|hybrid)_(small|medium|large)$", "MobileNetV4", 2024,
     "MobileNetV4: Universal Models for the Mobile Ecosystem (arXiv:2404.10518)"),
    (r"^fastvit_(t8|t12|s12|sa12|sa24|sa36|ma36)$", "FastViT", 2023,
     "FastViT: A Fast Hybrid Vision Transformer using Structural Reparameterization (arXiv:2303.14189)"),
    (r"^efficientvit_m\d$", "EfficientViT", 2023,
     "EfficientViT: Memory Efficient Vision Transformer with Cascaded Group Attention (arXiv:2305.07027)"),
    (r"^efficientvit_b\d$", "EfficientViT", 2022,
     "EfficientViT: Multi-Scale Linear Attention for High-Resolution Dense Prediction (arXiv:2205.14756)"),
    (r"^repvit_m\d(_\d)?$", "RepViT", 2023, "RepViT: Revisiting Mobile CNN From ViT Perspective (arXiv:2307.09283)"),
    (r"^mobilevitv2_\d+$", "MobileViTv2", 2022, "Separable Self-attention for Mobile Vision Transformers (arXiv:2206.02680)"),
    (r"^efficientformerv2_\w+$", "EfficientFormerV2", 2022,
     "Rethinking Vision Transformers for MobileNet Size and Speed (arXiv:2212.08059)"),
    (r"^ghostnetv2_\d+$", "GhostNetV2", 2022, "GhostNetV2: Enhance Cheap Operation with Long-Range Attention (arXiv:2211.12905)"),
    (r"^levit_\d+s?$", "LeViT", 2021, "LeViT: a Vision Transformer in ConvNet's Clothing for Faster Inference (arXiv:2104.01136)"),
    (r"^convnextv2_(atto|femto|pico|nano|tiny)$", "ConvNeXt-V2", 2023,
     "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked Autoencoders (arXiv:2301.00808)"),
    (r"^edgenext_\w+$", "EdgeNeXt", 2022,
     "EdgeNeXt: Efficiently Amalgamated CNN-Transformer Architecture for Mobile Vision Applications (arXiv:2206.10589)"),
    (r"^mobileone_s\d$", "MobileOne", 2022, "MobileOne: An Improved One millisecond Mobile Backbone (arXiv:2206.04040)"),
    (r"^starnet_\w+$", "StarNet", 2024, "Rewrite the Stars (arXiv:2403.19967)"),
    (r"^lcnet_\d+$", "LCNet", 2021, "PP-LCNet: A Lightweight CPU Convolutional Neural Network (arXiv:2109.15099)"),
    (r"^tinynet_[a-e]$", "TinyNet", 2020, "Model Rubik's Cube: Twisting Resolution, Depth and Width for TinyNets (arXiv:2010.14819)"),
]

_NOT_IN1K_ONLY = re.compile(r"in(21|22|12)k|ig1b|yfcc|laion|openai|dist_in22k")


def timm_identity(name: str) -> dict[str, Any]:
    for pattern, family, year, paper in FAMILIES:
        if re.match(pattern, name):
            suffix = name.split("_", 1)[1] if "_" in name else name
            return {"family": family, "display_name": f"{family} {suffix}", "year": year, "paper": paper}
    raise SystemExit(f"regen_catalog: no family rule for timm model '{name}'; add one to FAMILIES in tools/catalog_zoo.py")


def _eligible(name: str) -> bool:
    """Default weights ImageNet-1K only, and timm's table lists them at the native size."""
    try:
        cfg = pretrained_cfg(name)
    except Exception:  # noqa: BLE001 - no pretrained config: not eligible
        return False
    tag = cfg.get("tag") or ""
    if not cfg.get("hf_hub_id") or cfg.get("num_classes") != 1000 or not tag.endswith("in1k") or _NOT_IN1K_ONLY.search(tag):
        return False
    return published_row(cfg["hf_hub_id"].split("/", 1)[-1], int(cfg["input_size"][-1])) is not None


def mobile_budget() -> tuple[float, int]:
    """(max GMACs, max params) of the mobile target in advisor/recommender/targets.yaml."""
    from hoot.advisor.recommender.targets import load_targets

    budgets = {b.kind: b.value for b in load_targets().targets["mobile"].budgets}
    return float(budgets["max_gmacs"]), int(budgets["max_params"])


def pareto_front(points: list[tuple[str, float, float]]) -> list[str]:
    """Names of (name, gmacs, top1) points no other point beats on both (cheaper-or-equal and more accurate)."""
    front, best = [], -1.0
    for name, _, top1 in sorted(points, key=lambda p: (p[1], -p[2])):
        if top1 > best:
            front.append(name)
            best = top1
    return front


def selected_timm() -> dict[str, list[str]]:
    """family -> the timm architectures SELECTION_RULE picks (cheapest first)."""
    import timm

    source = source_named("timm")
    max_gmacs, max_params = mobile_budget()
    by_family: dict[str, list[tuple[str, float, float, int]]] = {}
    for name in timm.list_models():
        family = next((f for p, f, _, _ in FAMILIES if re.match(p, name)), None)
        if family is None or not _eligible(name):
            continue
        facts = source.facts(name)
        by_family.setdefault(family, []).append((name, facts["gmacs"], facts["top1"], facts["params"]))
    out: dict[str, list[str]] = {}
    for family, rows in by_family.items():
        inside = [(n, g, t) for n, g, t, p in rows if g <= max_gmacs and p <= max_params]
        if inside:
            out[family] = pareto_front(inside)
        else:
            out[family] = [min(rows, key=lambda r: r[1])[0]]
        print(f"regen_catalog: {family}: {', '.join(out[family])} (of {len(rows)} eligible)", file=sys.stderr)
    return out


def family_note(name: str) -> str:
    return ("Chosen by hoot's selection rule (tools/catalog_zoo.py): " + SELECTION_RULE.replace("\n", " ")
            + " Facts: timm's pretrained config and published ImageNet table (tools/data/README.md); GMACs: hoot's FLOP counter.")
