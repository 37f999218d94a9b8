"""hoot's size/cost rules that propose a judgement for an entry no seed document rates.

Used by tools/regen_catalog.py for every source (torchvision's rest, timm's families, smp's
models), so one rule weighs them all; each judgement carries the rule's text as its basis.
"""

from __future__ import annotations

from typing import Any

from hoot.advisor.truth import SEED_VARIANT_NAMES

# ---------------------------------------------------------------------------------------------
# Proposed judgement for builders new to the catalog. Thresholds are calibrated on seeds/000's
# own tiers (its "Model Size Comparison", "Memory Usage Guidelines", "Speed vs Accuracy
# Trade-offs", "Selection Guidelines") and seeds/002's deployment environments; see
# docs/catalog.md. Each row: (value, max GMACs, max params); first row that fits wins.
# ---------------------------------------------------------------------------------------------

_INF = float("inf")
#: kind -> [(memory tier, max GMACs, max params)]. Classification: seeds/000's tiers (GPU memory to
#: train at 224-600 px). Detection/segmentation run at 520-800 px, so their cost scale is their own.
MEMORY_TIER_RULE = {
    "classification": [("low", 0.5, 5.5e6), ("medium", 4.0, 100e6), ("high", 16.5, 100e6), ("very_high", _INF, _INF)],
    "dense": [("low", 1.0, 5e6), ("medium", 12.0, 60e6), ("high", 200.0, 60e6), ("very_high", _INF, _INF)],
}
#: kind -> [(speed class, max GMACs, max params)]: seeds/000 "Speed vs Accuracy Trade-offs"
SPEED_CLASS_RULE = {
    "classification": [("high_speed", 0.6, _INF), ("balanced", 7.5, _INF), ("high_accuracy", _INF, _INF)],
    "dense": [("high_speed", 2.5, _INF), ("balanced", 40.0, _INF), ("high_accuracy", _INF, _INF)],
}
#: a classifier in the high-accuracy cost class below this ImageNet top-1 (%) is slow *and* inaccurate:
#: no speed class fits it (seeds/000's high-accuracy group starts at ResNet-101, 81.9%)
HIGH_ACCURACY_MIN_TOP1 = 80.0
#: target -> (max GMACs, max params) a variant must fit to be proposed for it
TARGET_SIZE_RULE = {"edge": (0.35, 3e6), "mobile": (0.6, 6e6), "cpu-server": (4.5, 30e6)}
#: a classifier's cpu-server bound: targets.yaml's cpu-server budget (set by EfficientNet-B2, the largest model
#: seeds/002 and seeds/004 name for a CPU server), so a tag never claims what the target's own budget rejects
CPU_SERVER_CLASSIFIER_RULE = (1.1, 9.2e6)
#: ImageNet top-1 (%) a classifier needs to be proposed for gpu-server / production / research
GPU_SERVER_MIN_TOP1 = 80.0
PRODUCTION_MIN_TOP1, PRODUCTION_MAX_GMACS = 80.0, 9.0
RESEARCH_MIN_TOP1 = 83.0
#: dataset size -> max params of a classifier (seeds/000: lightweight < 10M for small data, ResNet-50-class
#: for medium). Not for COCO-pretrained detectors/segmenters: their heads fine-tune on small sets (torchvision's
#: detection tutorial fine-tunes Mask R-CNN on the 170 images of PennFudan), so they fit every size.
DATASET_SIZE_RULE = {"small": 10e6, "medium": 30e6, "large": float("inf")}


def _first_fit(rule: list[tuple[str, float, float]], gmacs: float, params: int) -> str:
    for value, max_gmacs, max_params in rule:
        if gmacs <= max_gmacs and params <= max_params:
            return value
    return rule[-1][0]


def propose_judgement(name: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Rule-derived judgement for a builder the catalog does not have yet (review it by hand)."""
    gmacs, params, kind, top1 = facts["gmacs"], facts["params"], facts["kind"], facts["top1"]
    size_rule = dict(TARGET_SIZE_RULE, **({"cpu-server": CPU_SERVER_CLASSIFIER_RULE} if kind == "classification" else {}))
    targets = [t for t, (g, p) in size_rule.items() if gmacs <= g and params <= p]
    if kind == "classification":
        if top1 >= GPU_SERVER_MIN_TOP1:
            targets.append("gpu-server")
        if top1 >= RESEARCH_MIN_TOP1:
            targets.append("research")
        if top1 >= PRODUCTION_MIN_TOP1 and gmacs <= PRODUCTION_MAX_GMACS:
            targets.append("production")
        task_builders: dict[str, str | None] = {"classification": name, "multilabel": name,
                                                "detection": None, "segmentation": None}
    else:
        if gmacs > TARGET_SIZE_RULE["cpu-server"][0]:
            targets.append("gpu-server")
        task_builders = {kind: name}
    order = ("mobile", "edge", "cpu-server", "gpu-server", "research", "production")
    scale = "classification" if kind == "classification" else "dense"
    speed: str | None = _first_fit(SPEED_CLASS_RULE[scale], gmacs, params)
    notes = ("Judgement derived by tools/regen_catalog.py's size/cost rules (docs/catalog.md); "
             "no seed document rates this variant directly.")
    if kind == "classification" and speed == "high_accuracy" and top1 < HIGH_ACCURACY_MIN_TOP1:
        speed = None
        notes += (f" speed_class left empty: it costs as much as the high-accuracy group but reaches only "
                  f"{top1:.1f}% top-1 (dominated).")
    memory_tier = _first_fit(MEMORY_TIER_RULE[scale], gmacs, params)
    targets = [t for t in order if t in targets]
    # a dense model without trained heads (smp: encoder weights only) is sized like a classifier
    trained_head = kind == "classification" or bool(facts.get("metrics"))
    sizes = ([s for s, p in DATASET_SIZE_RULE.items() if params <= p] if kind == "classification" or not trained_head
             else list(DATASET_SIZE_RULE))
    judged = ["memory_tier"] + (["speed_class"] if speed else []) + [f"targets.{t}" for t in targets] + [
        f"dataset_sizes.{d}" for d in sizes]
    return {
        "memory_tier": memory_tier,
        "speed_class": speed,
        "task_builders": task_builders,
        "targets": targets,
        "dataset_sizes": sizes,
        "seed_figures": [],
        "sources": [],
        "seed_variant": name in SEED_VARIANT_NAMES,
        "notes": notes,
        "basis": {key: {"rule": rule_text(key, kind, trained_head)} for key in judged},
    }


def rule_text(key: str, kind: str, trained_head: bool = True) -> str:
    """hoot's rule behind a rule-derived judgement (key: memory_tier, speed_class, targets.<t>, dataset_sizes.<s>),
    written from the rule tables above so the text cannot drift from the rule."""
    dense = kind != "classification"
    scale = "dense" if dense else "classification"

    def bands(rule: list[tuple[str, float, float]]) -> str:
        return "; ".join(f"{v} <= {g:g} GMACs" + (f" and <= {p / 1e6:g}M params" if p != _INF else "")
                         for v, g, p in rule[:-1]) + f"; else {rule[-1][0]}"

    head = "hoot's rule (tools/regen_catalog.py, docs/catalog.md; no seed document rates this variant here): "
    field, _, value = key.partition(".")
    if field == "memory_tier":
        return head + "memory tier by cost, calibrated on seeds/000's tiers: " + bands(MEMORY_TIER_RULE[scale])
    if field == "speed_class":
        extra = "" if dense else f" (left empty below {HIGH_ACCURACY_MIN_TOP1:g}% top-1)"
        return head + "speed class by GMACs: " + bands(SPEED_CLASS_RULE[scale]) + extra
    if field == "targets":
        if value in TARGET_SIZE_RULE:
            g, p = CPU_SERVER_CLASSIFIER_RULE if value == "cpu-server" and not dense else TARGET_SIZE_RULE[value]
            return head + f"{value} when <= {g:g} GMACs and <= {p / 1e6:g}M params"
        if dense:
            return head + f"{value} for detection/segmentation above {TARGET_SIZE_RULE['cpu-server'][0]:g} GMACs"
        floor = {"gpu-server": f"ImageNet top-1 >= {GPU_SERVER_MIN_TOP1:g}%", "research": f"ImageNet top-1 >= {RESEARCH_MIN_TOP1:g}%",
                 "production": f"ImageNet top-1 >= {PRODUCTION_MIN_TOP1:g}% and <= {PRODUCTION_MAX_GMACS:g} GMACs"}
        return head + f"{value} when {floor[value]}"
    if dense and trained_head:
        return head + "every dataset size: COCO-pretrained heads fine-tune on small sets (torchvision's detection tutorial)"
    bound = DATASET_SIZE_RULE[value]
    why = "" if trained_head else " (no pretrained segmentation head, only encoder weights, so the classifier size rule applies)"
    return head + (f"{value} datasets when <= {bound / 1e6:g}M params" if bound != _INF else f"{value} datasets: every model") + why


