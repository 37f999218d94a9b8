"""Recommender properties: what each target may pick, monotone budgets, reasons, no-answer."""

from __future__ import annotations

import random

import pytest

from hoot.advisor.catalog import load_catalog
from hoot.advisor.errors import HootError, NoAnswer
from hoot.advisor.recommender.recommend import (
    Request,
    candidates_for,
    pareto_layers,
    recommend,
    tier_of_memory_mb,
    Candidate,
    MeasuredCost,
)

#: families seeds/000 and seeds/004 treat as mobile-class (plus MNASNet and RegNet's 400MF
#: members, which torchvision's own metadata puts in the same budget)
MOBILE_FAMILIES = {"MobileNet", "ShuffleNet", "SqueezeNet", "EfficientNet", "MNASNet", "RegNet"}


def torchvision_only():
    """The shipped catalog's torchvision entries: the tests below were written on them, and keep
    their figures; the timm and smp entries (issue 19) are weighed by the same rules, see
    test_timm_models_are_weighed_with_the_same_rules."""
    from hoot.advisor.catalog import Catalog

    cat = load_catalog()
    return Catalog(tuple(v for v in cat if v.source == "torchvision"), cat.path)


def names(advice) -> list[str]:
    return [p.variant.name for p in advice.picks]


def test_mobile_classification_picks_are_mobile_class():
    catalog = load_catalog()
    advice = recommend(Request(task="classification", target="mobile", top_k=50), catalog=torchvision_only())
    assert advice.picks and len(advice.survivors) == len(advice.picks)
    for p in advice.picks:
        v = p.variant
        assert v.family in MOBILE_FAMILIES, v.name
        assert v.params < 10e6 and v.gmacs <= 0.70
        if v.family == "EfficientNet":
            assert v.name in ("efficientnet_b0", "efficientnet_b1")
    assert "resnet152" not in advice.survivors and "resnet50" not in advice.survivors
    # the documents' primary mobile pick leads (seeds/000 "Mobile Applications: Primary")
    assert names(advice)[0] == "mobilenet_v3_large"
    assert catalog.get("resnet152").params > 10e6


def test_edge_picks_stay_small():
    advice = recommend(Request(task="classification", target="edge", top_k=50))
    for p in advice.picks:
        assert p.variant.params <= 2.6e6, p.variant.name
        assert p.variant.gmacs <= 0.35
        assert p.variant.memory_tier == "low"
    assert set(names(advice)) >= {"shufflenet_v2_x1_0", "squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x0_5"}


@pytest.mark.parametrize("target", [None, "mobile", "cpu-server", "gpu-server", "research", "production"])
def test_detection_picks_are_detectors(target):
    advice = recommend(Request(task="detection", target=target, top_k=20))
    assert advice.picks
    for p in advice.picks:
        assert p.variant.kind == "detection" and p.variant.provided
        assert p.candidate.accuracy == p.variant.metrics["box_map"]
    assert "keypointrcnn_resnet50_fpn" not in advice.survivors  # person-only box mAP is not comparable


def test_segmentation_picks_are_segmenters_and_multilabel_picks_classifiers():
    seg = recommend(Request(task="segmentation", target="gpu-server", top_k=20))
    assert all(p.variant.kind == "segmentation" for p in seg.picks)
    assert {p.variant.name for p in seg.picks} >= {"deeplabv3_resnet50", "deeplabv3_resnet101", "lraspp_mobilenet_v3_large"}
    ml = recommend(Request(task="multilabel", target="mobile"))
    assert all(p.variant.kind == "classification" for p in ml.picks)
    assert any("proxy" in n for n in ml.notes)


def test_not_provided_models_are_never_picked_but_mentioned():
    for task in ("classification", "detection", "segmentation"):
        advice = recommend(Request(task=task, top_k=200))
        catalog = load_catalog()
        assert all(catalog.get(n).provided for n in advice.survivors)
    mobile_det = recommend(Request(task="detection", target="mobile"))
    assert any("YOLO" in m["name"] for m in mobile_det.mentions)
    mobile_cls = recommend(Request(task="classification", target="mobile", top_k=200))
    # issue 19: seeds/002's EfficientNet-Lite is provided (timm) now: picked, no longer only mentioned
    assert not any("EfficientNet-Lite" in m["name"] for m in mobile_cls.mentions)
    assert "efficientnet_lite0" in mobile_cls.survivors
    edge = recommend(Request(task="classification", target="edge"))
    assert any("MCUNet" in m["name"] for m in edge.mentions)


def test_timm_models_are_weighed_with_the_same_rules():
    """Issue 19: today's efficient families pass the same budgets and rank in the same Pareto layers."""
    advice = recommend(Request(task="classification", target="mobile", top_k=200))
    timm_picks = [p for p in advice.picks if p.variant.source == "timm"]
    assert "mobilenetv4_conv_small" in advice.survivors and len(timm_picks) >= 14
    for p in advice.picks:
        assert p.variant.params < 10e6 and p.variant.gmacs <= 0.70, p.variant.name
    assert "inception_v4" not in advice.survivors  # 12 GMACs: over the mobile budget
    seg = recommend(Request(task="segmentation", target="gpu-server", top_k=200))
    assert {"unet_resnet34", "deeplabv3plus_resnet50"} <= set(seg.survivors)


def test_picks_carry_reasons_with_figures_and_rules():
    advice = recommend(Request(task="classification", target="mobile"))
    first = advice.picks[0]
    text = " | ".join(first.reasons)
    assert "top1 75.27" in text and "0.217 GMACs" in text
    assert 'seeds/000 "Selection Guidelines > By Use Case > Mobile Applications": Primary' in text
    assert "Pareto front" in text
    assert "estimate" in text  # no measurements: the cost is said to be an estimate
    assert "params 5.48M <= 10M" in text
    for p in advice.picks:
        assert len(p.reasons) >= 4
    assert "estimate" in advice.cost_basis and advice.estimated


def test_pareto_front_comes_first():
    advice = recommend(Request(task="classification", target="gpu-server", top_k=200))
    layers = [p.pareto_layer for p in advice.picks]
    assert layers == sorted(layers)
    front = [p.candidate for p in advice.picks if p.pareto_layer == 1]
    for c in front:  # nothing on the front is dominated by any survivor
        for p in advice.picks:
            o = p.candidate
            assert not (o.accuracy >= c.accuracy and o.cost <= c.cost and (o.accuracy > c.accuracy or o.cost < c.cost))


def test_pareto_layers_on_a_small_example():
    catalog = load_catalog()
    pool = [Candidate(catalog.get(n), a, cost=c) for n, a, c in
            [("resnet18", 70, 2.0), ("resnet34", 73, 3.0), ("resnet50", 72, 4.0), ("resnet101", 60, 5.0)]]
    layers = pareto_layers(pool)
    assert [[c.variant.name for c in layer] for layer in layers] == [["resnet18", "resnet34"], ["resnet50"], ["resnet101"]]


def _survivors(request, measurements=None) -> set[str]:
    try:
        return set(recommend(request, measurements=measurements).survivors)
    except NoAnswer:
        return set()


def test_tightening_a_budget_never_adds_a_model():
    """Property over random budgets: any tighter limit admits a subset of the looser one's survivors."""
    rng = random.Random(20261123)
    catalog = load_catalog()
    measured = {v.name: {"latency_ms": v.gmacs * rng.uniform(2, 8), "peak_memory_mb": rng.uniform(50, 9000),
                         "device": rng.choice(["cpu", "cuda"]), "dtype": "fp32", "input_size": v.crop_size}
                for v in candidates_for(catalog, "classification") if rng.random() < 0.5}
    limits = {
        "max_params": lambda: int(10 ** rng.uniform(6, 8.5)),
        "max_gmacs": lambda: 10 ** rng.uniform(-1.5, 2),
        "max_size_mb": lambda: 10 ** rng.uniform(0.5, 3),
        "max_memory_mb": lambda: 10 ** rng.uniform(2, 4.5),
        "max_latency_ms": lambda: 10 ** rng.uniform(-1, 2.5),
    }
    checked = 0
    for _ in range(120):
        task = rng.choice(["classification", "classification", "detection", "segmentation"])
        target = rng.choice([None, "mobile", "edge", "cpu-server", "gpu-server", "research", "production"])
        chosen = {k: make() for k, make in limits.items() if rng.random() < 0.4}
        if rng.random() < 0.3:
            chosen["min_top1"] = rng.uniform(20, 80)
        loose = Request(task=task, target=target, top_k=1, **chosen)
        key = rng.choice(list(limits) + ["min_top1"])
        tight_value = chosen.get(key)
        if key == "min_top1":
            tight_value = (tight_value or 0) + rng.uniform(0, 10)
        else:
            tight_value = (tight_value if tight_value is not None else limits[key]()) * rng.uniform(0.1, 1.0)
            tight_value = int(tight_value) or 1 if key == "max_params" else tight_value
        tight = Request(**{**loose.__dict__, key: tight_value})
        m = measured if rng.random() < 0.5 else None
        before, after = _survivors(loose, m), _survivors(tight, m)
        assert after <= before, (loose, key, tight_value, after - before)
        checked += bool(before)
    assert checked > 30  # the property was exercised on non-empty answers


def test_a_target_only_removes_models():
    free = set(recommend(Request(task="classification", top_k=500)).survivors)
    for target in ("mobile", "edge", "cpu-server", "production"):
        assert set(recommend(Request(task="classification", target=target, top_k=500)).survivors) < free


def test_unsatisfiable_names_the_binding_constraint_and_nearest():
    with pytest.raises(NoAnswer) as err:
        recommend(Request(task="classification", target="mobile", max_params=1_000_000), catalog=torchvision_only())
    details = err.value.details
    assert details["binding_constraint"] == "--max-params 1M"
    assert details["admitted_without_it"] > 5
    assert [n["name"] for n in details["nearest"]][:2] == ["squeezenet1_1", "shufflenet_v2_x0_5"]
    assert "binding constraint: --max-params 1M" in err.value.message
    assert err.value.exit_code == 1


def test_binding_constraint_is_the_one_whose_removal_admits_most():
    # min top-1 90 rejects every model: removing it admits every gpu-server model
    with pytest.raises(NoAnswer) as err:
        recommend(Request(task="classification", target="gpu-server", min_top1=90))
    assert err.value.details["binding_constraint"].startswith("--min-top1 90")
    with pytest.raises(NoAnswer) as err:  # the edge budgets: no single one binds, both are named with their rule
        recommend(Request(task="detection", target="edge"))
    assert "no single constraint binds" in err.value.message
    assert "target edge max_params" in err.value.message and "target edge max_weights_mb" in err.value.message
    assert err.value.details["binding_constraint"].startswith("target edge")
    assert "seeds/" in err.value.details["binding_source"]
    assert "MCUNet" in err.value.message  # the documents' edge alternative that torchvision lacks


def test_latency_limit_without_measurements_excludes_and_says_why():
    with pytest.raises(NoAnswer) as err:
        recommend(Request(task="classification", target="mobile", max_latency_ms=50))
    assert "latency not measured" in err.value.message and "hoot bench" in err.value.message


def _row(ms, peak=None, device="cpu", mode="inference", converged=True):
    return MeasuredCost(latency_ms=ms, peak_memory_mb=peak, device=device, mode=mode, converged=converged,
                        memory_kind="cuda_allocator" if device.startswith("cuda") else "cpu_rss")


def test_measured_latency_ranks_and_estimates_inside_the_measured_range():
    # rewritten (issue 11.2): estimates only inside the measured GMACs range, with an interval
    measured = {
        "mobilenet_v3_large": _row(40.0, 300.0), "shufflenet_v2_x1_0": _row(2.0, 90.0),
        "mobilenet_v3_small": _row(1.5, 80.0), "efficientnet_b0": _row(6.0, 200.0),
        "shufflenet_v2_x0_5": _row(1.0, 60.0), "efficientnet_b1": _row(9.0, 250.0),
    }
    hw = {"hardware_id": "testbox-1234", "cpu_model": "Test CPU"}
    advice = recommend(Request(task="classification", target="mobile", top_k=50), measurements=measured, hardware=hw,
                       setting="cpu fp32 batch 1 native px eager", catalog=torchvision_only())
    by_name = {p.variant.name: p for p in advice.picks}
    assert advice.cost_unit == "ms" and advice.setting == "cpu fp32 batch 1 native px eager"
    assert by_name["mobilenet_v3_large"].candidate.latency_source == "measured"
    assert by_name["mobilenet_v3_large"].candidate.cost == 40.0
    v2 = by_name["mobilenet_v2"].candidate
    assert v2.latency_source == "estimated" and v2.latency_interval[0] <= v2.latency_ms <= v2.latency_interval[1]
    assert "measured on testbox-1234" in advice.cost_basis and "estimated" in advice.cost_basis
    assert any("40 ms measured on testbox-1234" in r for r in by_name["mobilenet_v3_large"].reasons)
    assert any(n.startswith("figures: 6 of") and "estimated" in n for n in advice.notes)
    # slow on this hardware: no longer on the front although its GMACs put it there
    assert by_name["mobilenet_v3_large"].pareto_layer > 1
    # the latency limit uses the measurement; an estimate alone never satisfies it
    tight = recommend(Request(task="classification", target="mobile", max_latency_ms=10, top_k=50),
                      measurements=measured, hardware=hw, catalog=torchvision_only())
    assert "mobilenet_v3_large" not in tight.survivors and "efficientnet_b0" in tight.survivors
    assert "mobilenet_v2" not in tight.survivors
    assert "cannot prove" in " ".join(text for _, ok, text in tight.checks["mobilenet_v2"] if not ok)


def test_estimates_outside_the_measured_range_never_pass_a_latency_limit():
    """Issue 11 item 2: 4 tiny models measured at 3.6-9.4 ms; --max-latency-ms 20 admitted resnet50."""
    measured = {"mobilenet_v3_small": _row(3.6), "shufflenet_v2_x0_5": _row(4.0),
                "squeezenet1_1": _row(9.4), "mnasnet0_5": _row(5.0)}
    advice = recommend(Request(task="classification", max_latency_ms=20, top_k=50), measurements=measured)
    assert set(advice.survivors) == set(measured)
    for name in ("resnet50", "efficientnet_b4"):
        failed = [text for _, ok, text in advice.checks[name] if not ok]
        assert failed and "not measured" in failed[0]
    # without the limit the big models rank, but on GMACs: no latency figure outside 0.04-0.35 GMACs
    free = recommend(Request(task="classification", top_k=200), measurements=measured)
    assert free.cost_unit == "GMACs" and "outside the measured range" in free.cost_basis
    r50 = next(p for p in free.picks if p.variant.name == "resnet50").candidate
    assert r50.latency_ms is None and r50.latency_source is None and r50.cost == r50.variant.gmacs


def test_unconverged_rows_are_said():
    measured = {"resnet18": _row(15.0, converged=False), "resnet34": _row(30.0)}
    advice = recommend(Request(task="classification", top_k=200), measurements=measured)
    assert advice.unconverged == ["resnet18"]
    assert any("did not converge" in n and "resnet18" in n for n in advice.notes)


def test_only_a_training_gpu_peak_makes_the_memory_tier_a_fact():
    # rewritten (issue 11.3): a batch-1 GPU inference peak used to turn resnet152's tier "low"
    inference = {"resnet152": _row(5.0, 900.0, device="cuda:0")}
    advice = recommend(Request(task="classification", target="gpu-server", top_k=200), measurements=inference)
    p = next(p for p in advice.picks if p.variant.name == "resnet152")
    assert p.candidate.memory_tier == "very_high" and p.candidate.memory_tier_source == "catalog"
    train = {"resnet152": _row(50.0, 3000.0, device="cuda:0", mode="train")}
    advice = recommend(Request(task="classification", target="gpu-server", top_k=200), train_measurements=train)
    p = next(p for p in advice.picks if p.variant.name == "resnet152")
    assert p.candidate.memory_tier == "low" and p.candidate.memory_tier_source == "measured"
    assert any("measured GPU training peak 3000 MB" in r and "very_high" in r for r in p.reasons)


def test_memory_limits_compare_like_with_like():
    inference = {"resnet152": _row(5.0, 900.0, device="cuda:0"), "resnet18": _row(2.0, 300.0, device="cuda:0")}
    train = {"resnet18": _row(9.0, 2500.0, device="cuda:0", mode="train")}
    # deployment: inference peaks only; models without one are unknown, never a training tier
    dep = recommend(Request(task="classification", max_memory_mb=1000, memory="inference", top_k=500),
                    measurements=inference, train_measurements=train)
    assert set(dep.survivors) == {"resnet152", "resnet18"}
    assert "not compared" in " ".join(t for _, ok, t in dep.checks["resnet101"] if not ok)
    # training: the measured training peak, else the tier's upper bound; inference peaks never count
    tr = recommend(Request(task="classification", max_memory_mb=5000, memory="train", top_k=500),
                   measurements=inference, train_measurements=train)
    assert "resnet18" in tr.survivors and "resnet152" not in tr.survivors
    assert any("train peak memory 2500 MB" in t for _, ok, t in tr.checks["resnet18"])
    # the target's default: deployment targets compare inference memory
    assert recommend(Request(task="classification", target="production")).memory == "inference"


def test_memory_tiers_follow_seeds_000():
    assert [tier_of_memory_mb(x) for x in (100, 4096, 8000, 16384)] == ["low", "medium", "medium", "very_high"]


def test_dataset_size_adds_fit_reasons():
    advice = recommend(Request(task="classification", target="production", dataset_size=500, top_k=10))
    text = " | ".join(r for p in advice.picks for r in p.reasons)
    assert "small datasets (500 images" in text
    assert 'seeds/000 "By Dataset Size"' in text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task": "captioning"}, "unknown task 'captioning'; use one of classification"),
        ({"target": "phone"}, "unknown target 'phone'"),
        ({"max_params": -5}, "--max-params is -5"),
        ({"max_gmacs": 0}, "--max-gmacs is 0"),
        ({"min_top1": 101}, "--min-top1 is 101"),
        ({"top_k": 0}, "--top is 0"),
    ],
)
def test_bad_requests_are_hoot_errors(kwargs, message):
    with pytest.raises(HootError, match=message.replace("+", r"\+")):
        recommend(Request(**kwargs))


def test_latency_fit_is_a_power_law_on_gmacs():
    from hoot.advisor.recommender.recommend import fit_latency

    scale, power = fit_latency([(g, 2.0 * g ** 0.5) for g in (0.1, 0.4, 1.6, 6.4)])
    assert scale == pytest.approx(2.0) and power == pytest.approx(0.5)
    # overhead-dominated (flat) measurements give power ~0, not a per-GMAC ratio
    scale, power = fit_latency([(0.05, 3.0), (0.5, 3.1), (5.0, 3.2)])
    assert power == pytest.approx(0.014, abs=0.01)
    # latency falling with work is noise: clamped to a flat law
    assert fit_latency([(0.1, 9.0), (1.0, 3.0), (10.0, 1.0)])[1] == 0.0
    assert fit_latency([(0.3, 1.0), (0.3, 3.0), (0.3, 2.0)]) == (pytest.approx(20 / 3), 1.0)


def test_without_a_target_the_documents_default_leads():
    advice = recommend(Request(task="classification"))
    assert names(advice)[0] == "efficientnet_b3"  # seeds/004 "Practical Recommendations": default choice
    assert any('seeds/004 "Practical Recommendations"' in r for r in advice.picks[0].reasons)
    edge = recommend(Request(task="classification", target="edge"))
    assert names(edge)[0] in ("shufflenet_v2_x1_0", "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x0_5")
