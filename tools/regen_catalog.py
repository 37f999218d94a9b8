#!/usr/bin/env python
"""Regenerate the fact fields of catalog.yaml from torchvision's weights metadata (offline).

Maintainer script. For every torchvision classification, detection and segmentation builder
(quantized, video and optical-flow models are out of scope) it writes the facts that
`advisor.truth.torchvision_facts` reads from the DEFAULT weights, and keeps every hand-written
judgement field (memory tier, speed class, task builders, targets, dataset sizes, seed
figures, sources, notes, year, paper, ...) of entries that already exist. Entries that are
`provided: false` are kept as they are. A builder that is new to the catalog gets a
*proposed* judgement from the size/cost rules below (calibrated on seeds/000's tiers) and a
note saying so: review it before committing.

    python tools/regen_catalog.py            # rewrite catalog.yaml
    python tools/regen_catalog.py --check    # exit 1 if the file would change (CI, review)
    python tools/regen_catalog.py --catalog other.yaml --output -   # print instead

Output is deterministic: same torchvision + same input file -> byte-identical YAML.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hoot.advisor.catalog import SCHEMA_VERSION, Variant  # noqa: E402
from hoot.advisor.truth import FACT_FIELDS, SEED_VARIANT_NAMES  # noqa: E402
from hoot.bench.sources import source_named  # noqa: E402

TORCHVISION = source_named("torchvision")
torchvision_builders = TORCHVISION.builders
torchvision_facts = TORCHVISION.facts
torchvision_version = TORCHVISION.version

SEED_000 = "000_46be6743a230da89.txt"

#: Field order in the YAML: the order of `advisor.catalog.Variant`.
FIELD_ORDER = [f for f in Variant.__dataclass_fields__]

HEADER = """\
# hoot model catalog: one entry per variant.
#
# FACTS (kind, weights, weights_dataset, params, gmacs, crop_size, resize_size, top1, top5,
# metrics, weights_file_mb, weights_file) are torchvision {tv}'s weights metadata for the
# builder's DEFAULT weights, written by tools/regen_catalog.py and checked by
# `hoot catalog check` / tests/catalog/test_truth.py. gmacs = torchvision's "GFLOPS", which
# count multiply-adds (1 MAC = 2 FLOPs). Sizes in pixels, file sizes in MB, accuracies in %.
#
# JUDGEMENT (memory_tier, speed_class, task_builders, targets, dataset_sizes, seed_figures,
# sources, notes) encodes the seed documents (the project's seeds/ folder), cited by file name
# in `sources`; seed_figures keep a document's own figures beside torchvision's (docs/catalog.md).
# Edit judgement here by hand; never edit facts by hand (rerun tools/regen_catalog.py).
"""

# ---------------------------------------------------------------------------------------------
# Family, display name, year and paper of a builder: (regex on the builder name, family,
# display-name function, year, paper). First match wins.
# ---------------------------------------------------------------------------------------------


def _resnet(m: re.Match) -> str:
    return f"ResNet-{m.group(1)}"


FAMILIES: list[tuple[str, str, Any, int, str]] = [
    (r"^resnet(\d+)$", "ResNet", _resnet, 2015,
     "Deep Residual Learning for Image Recognition (arXiv:1512.03385)"),
    (r"^resnext(\d+)_(\w+)$", "ResNeXt", lambda m: f"ResNeXt-{m.group(1)} {m.group(2)}", 2016,
     "Aggregated Residual Transformations for Deep Neural Networks (arXiv:1611.05431)"),
    (r"^wide_resnet(\d+)_2$", "Wide ResNet", lambda m: f"Wide ResNet-{m.group(1)}-2", 2016,
     "Wide Residual Networks (arXiv:1605.07146)"),
    (r"^mobilenet_v2$", "MobileNet", lambda m: "MobileNet V2", 2018,
     "MobileNetV2: Inverted Residuals and Linear Bottlenecks (arXiv:1801.04381)"),
    (r"^mobilenet_v3_(small|large)$", "MobileNet", lambda m: f"MobileNet V3 {m.group(1).title()}", 2019,
     "Searching for MobileNetV3 (arXiv:1905.02244)"),
    (r"^shufflenet_v2_x(\d)_(\d)$", "ShuffleNet", lambda m: f"ShuffleNet V2 x{m.group(1)}.{m.group(2)}", 2018,
     "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (arXiv:1807.11164)"),
    (r"^squeezenet1_(\d)$", "SqueezeNet", lambda m: f"SqueezeNet 1.{m.group(1)}", 2016,
     "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size (arXiv:1602.07360)"),
    (r"^efficientnet_b(\d)$", "EfficientNet", lambda m: f"EfficientNet-B{m.group(1)}", 2019,
     "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (arXiv:1905.11946)"),
    (r"^efficientnet_v2_(\w)$", "EfficientNet", lambda m: f"EfficientNetV2-{m.group(1).upper()}", 2021,
     "EfficientNetV2: Smaller Models and Faster Training (arXiv:2104.00298)"),
    (r"^convnext_(\w+)$", "ConvNeXt", lambda m: f"ConvNeXt-{m.group(1)[0].upper()}", 2022,
     "A ConvNet for the 2020s (arXiv:2201.03545)"),
    (r"^regnet_([xy])_(\w+)$", "RegNet",
     lambda m: f"RegNetY-{m.group(2).upper().replace('_', '.')}" if m.group(1) == "y"
     else f"RegNetX-{m.group(2).upper().replace('_', '.')}", 2020,
     "Designing Network Design Spaces (arXiv:2003.13678)"),
    (r"^vit_([bhl])_(\d+)$", "ViT",
     lambda m: f"ViT-{dict(b='B', l='L', h='H')[m.group(1)]}/{m.group(2)}", 2020,
     "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale (arXiv:2010.11929)"),
    (r"^swin_v2_([tsb])$", "Swin", lambda m: f"Swin V2-{m.group(1).upper()}", 2021,
     "Swin Transformer V2: Scaling Up Capacity and Resolution (arXiv:2111.09883)"),
    (r"^swin_([tsb])$", "Swin", lambda m: f"Swin-{m.group(1).upper()}", 2021,
     "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows (arXiv:2103.14030)"),
    (r"^densenet(\d+)$", "DenseNet", lambda m: f"DenseNet-{m.group(1)}", 2016,
     "Densely Connected Convolutional Networks (arXiv:1608.06993)"),
    (r"^vgg(\d+)(_bn)?$", "VGG", lambda m: f"VGG-{m.group(1)}{' (BN)' if m.group(2) else ''}", 2014,
     "Very Deep Convolutional Networks for Large-Scale Image Recognition (arXiv:1409.1556)"),
    (r"^alexnet$", "AlexNet", lambda m: "AlexNet", 2012,
     "ImageNet Classification with Deep Convolutional Neural Networks (NeurIPS 2012); "
     "torchvision's variant: One weird trick for parallelizing CNNs (arXiv:1404.5997)"),
    (r"^googlenet$", "GoogLeNet", lambda m: "GoogLeNet (Inception V1)", 2014,
     "Going Deeper with Convolutions (arXiv:1409.4842)"),
    (r"^inception_v3$", "Inception", lambda m: "Inception V3", 2015,
     "Rethinking the Inception Architecture for Computer Vision (arXiv:1512.00567)"),
    (r"^mnasnet(\d)_(\d+)$", "MNASNet", lambda m: f"MNASNet {m.group(1)}.{m.group(2)}", 2018,
     "MnasNet: Platform-Aware Neural Architecture Search for Mobile (arXiv:1807.11626)"),
    (r"^maxvit_t$", "MaxViT", lambda m: "MaxViT-T", 2022,
     "MaxViT: Multi-Axis Vision Transformer (arXiv:2204.01697)"),
    (r"^fasterrcnn_mobilenet_v3_large_(320_)?fpn$", "Faster R-CNN",
     lambda m: f"Faster R-CNN MobileNetV3-Large FPN{' 320' if m.group(1) else ''}", 2015,
     "Faster R-CNN: Towards Real-Time Object Detection with Region Proposal Networks (arXiv:1506.01497)"),
    (r"^fasterrcnn_resnet50_fpn_v2$", "Faster R-CNN", lambda m: "Faster R-CNN ResNet-50 FPN v2", 2021,
     "Benchmarking Detection Transfer Learning with Vision Transformers (arXiv:2111.11429)"),
    (r"^fasterrcnn_resnet50_fpn$", "Faster R-CNN", lambda m: "Faster R-CNN ResNet-50 FPN", 2015,
     "Faster R-CNN: Towards Real-Time Object Detection with Region Proposal Networks (arXiv:1506.01497)"),
    (r"^retinanet_resnet50_fpn_v2$", "RetinaNet", lambda m: "RetinaNet ResNet-50 FPN v2", 2021,
     "Benchmarking Detection Transfer Learning with Vision Transformers (arXiv:2111.11429)"),
    (r"^retinanet_resnet50_fpn$", "RetinaNet", lambda m: "RetinaNet ResNet-50 FPN", 2017,
     "Focal Loss for Dense Object Detection (arXiv:1708.02002)"),
    (r"^fcos_resnet50_fpn$", "FCOS", lambda m: "FCOS ResNet-50 FPN", 2019,
     "FCOS: Fully Convolutional One-Stage Object Detection (arXiv:1904.01355)"),
    (r"^ssd300_vgg16$", "SSD", lambda m: "SSD300 VGG-16", 2015,
     "SSD: Single Shot MultiBox Detector (arXiv:1512.02325)"),
    (r"^ssdlite320_mobilenet_v3_large$", "SSD", lambda m: "SSDlite320 MobileNetV3-Large", 2019,
     "Searching for MobileNetV3 (arXiv:1905.02244); SSDlite from MobileNetV2 (arXiv:1801.04381)"),
    (r"^maskrcnn_resnet50_fpn_v2$", "Mask R-CNN", lambda m: "Mask R-CNN ResNet-50 FPN v2", 2021,
     "Benchmarking Detection Transfer Learning with Vision Transformers (arXiv:2111.11429)"),
    (r"^maskrcnn_resnet50_fpn$", "Mask R-CNN", lambda m: "Mask R-CNN ResNet-50 FPN", 2017,
     "Mask R-CNN (arXiv:1703.06870)"),
    (r"^keypointrcnn_resnet50_fpn$", "Keypoint R-CNN", lambda m: "Keypoint R-CNN ResNet-50 FPN", 2017,
     "Mask R-CNN (arXiv:1703.06870)"),
    (r"^deeplabv3_(\w+)$", "DeepLabV3",
     lambda m: "DeepLabV3 " + {"resnet50": "ResNet-50", "resnet101": "ResNet-101",
                               "mobilenet_v3_large": "MobileNetV3-Large"}.get(m.group(1), m.group(1)), 2017,
     "Rethinking Atrous Convolution for Semantic Image Segmentation (arXiv:1706.05587)"),
    (r"^fcn_resnet(\d+)$", "FCN", lambda m: f"FCN ResNet-{m.group(1)}", 2014,
     "Fully Convolutional Networks for Semantic Segmentation (arXiv:1411.4038)"),
    (r"^lraspp_mobilenet_v3_large$", "LR-ASPP", lambda m: "LR-ASPP MobileNetV3-Large", 2019,
     "Searching for MobileNetV3 (arXiv:1905.02244)"),
]


def identity(name: str) -> dict[str, Any]:
    """family, display_name, year, paper of a torchvision builder (a new family: extend FAMILIES)."""
    for pattern, family, display, year, paper in FAMILIES:
        m = re.match(pattern, name)
        if m:
            return {"family": family, "display_name": display(m), "year": year, "paper": paper}
    raise SystemExit(f"regen_catalog: no family rule for torchvision builder '{name}'; "
                     "add one to FAMILIES in tools/regen_catalog.py")


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
    sizes = ([s for s, p in DATASET_SIZE_RULE.items() if params <= p] if kind == "classification"
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
        "basis": {key: {"rule": rule_text(key, kind)} for key in judged},
    }


def rule_text(key: str, kind: str) -> str:
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
    if dense:
        return head + "every dataset size: COCO-pretrained heads fine-tune on small sets (torchvision's detection tutorial)"
    bound = DATASET_SIZE_RULE[value]
    return head + (f"{value} datasets when <= {bound / 1e6:g}M params" if bound != _INF else f"{value} datasets: every model")


# ---------------------------------------------------------------------------------------------
# Merge and write
# ---------------------------------------------------------------------------------------------


def regenerate(existing: list[dict[str, Any]], builders: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """New entry list: existing entries (in their order) with fresh facts, then new builders."""
    builders = torchvision_builders() if builders is None else builders
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in existing:
        name = entry["name"]
        seen.add(name)
        if not entry.get("provided", True):
            out.append(dict(entry))
            continue
        if name not in builders:
            print(f"regen_catalog: warning: '{name}' is provided but torchvision {torchvision_version()} "
                  "has no such builder; kept as is (hoot catalog check will flag it)", file=sys.stderr)
            out.append(dict(entry))
            continue
        merged = dict(entry)
        merged.update(torchvision_facts(name, builders[name]))
        merged["provided"] = True
        out.append(merged)
    kind_order = {"classification": 0, "detection": 1, "segmentation": 2}
    new = sorted((n for n in builders if n not in seen), key=lambda n: (kind_order[builders[n]], n))
    for name in new:
        facts = torchvision_facts(name, builders[name])
        entry = {"name": name, **identity(name), "provided": True, **facts, **propose_judgement(name, facts)}
        print(f"regen_catalog: added '{name}' with a proposed judgement; review it", file=sys.stderr)
        out.append(entry)
    return [_ordered(e) for e in out]


def _ordered(entry: dict[str, Any]) -> dict[str, Any]:
    """Fields in Variant order; empty optional collections and nulls for absent facts kept explicit."""
    out = {k: entry[k] for k in FIELD_ORDER if k in entry}
    for k in FACT_FIELDS:
        if entry.get("provided", True):
            out.setdefault(k, None)
    # written only where they say something: torchvision entries keep their short form
    if out.get("weights_license") is None:
        out.pop("weights_license", None)
    if out.get("source") == "torchvision":
        out.pop("source")
    unknown = set(entry) - set(FIELD_ORDER)
    if unknown:
        raise SystemExit(f"regen_catalog: entry '{entry.get('name')}' has unknown fields {sorted(unknown)}")
    return out


class _Dumper(yaml.SafeDumper):
    """Block style for entries, flow style for short scalar lists ([mobile, edge])."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(tuple, _represent_list)


def dump(entries: list[dict[str, Any]]) -> str:
    """The catalog as YAML text (deterministic)."""
    body = yaml.dump({"schema_version": SCHEMA_VERSION, "variants": entries}, Dumper=_Dumper,
                     sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    # a blank line between entries keeps diffs and reading easy
    body = body.replace("\n- name: ", "\n\n- name: ")
    return HEADER.format(tv=torchvision_version()) + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=str(ROOT / "catalog.yaml"), help="catalog to read (default: catalog.yaml)")
    parser.add_argument("--output", help="where to write (default: the --catalog file; '-' for stdout)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 (with a diff) if the file would change")
    args = parser.parse_args(argv)

    path = Path(args.catalog)
    old_text = path.read_text(encoding="utf-8") if path.exists() else ""
    doc = yaml.safe_load(old_text) if old_text else {"variants": []}
    new_text = dump(regenerate(doc.get("variants") or []))
    if args.check:
        if new_text == old_text:
            print(f"ok: {path} is up to date with torchvision {torchvision_version()}", file=sys.stderr)
            return 0
        sys.stdout.writelines(difflib.unified_diff(old_text.splitlines(True), new_text.splitlines(True),
                                                   str(path), "regenerated"))
        print(f"{path} would change: run tools/regen_catalog.py", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(new_text)
    else:
        Path(args.output or path).write_text(new_text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
