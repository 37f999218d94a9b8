"""FLOPs against the catalog's published GMACs, and the fvcore cross-check."""

from __future__ import annotations

import sys

import pytest
import torch

from hoot.advisor.catalog import load_catalog
from hoot.bench.flops import count_flops, fvcore_gmacs, gmacs_on_meta
from hoot.bench.models import build_model
from hoot.bench.worker import make_input


def published_match(measured: float, published: float) -> bool:
    """Within 0.5 %, or equal at the published precision (torchvision rounds GFLOPS to 3 decimals)."""
    return abs(measured - published) <= max(0.005 * published, 0.0005)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x0_5"])
def test_gmacs_match_torchvision(name):
    catalog = load_catalog()
    v = catalog.get(name)
    g = gmacs_on_meta(lambda: build_model(name, catalog=catalog), lambda d: make_input("classification", 1, v.crop_size, d))
    assert g is not None and published_match(g, v.gmacs), (name, g, v.gmacs)


def test_meta_count_equals_real_count():
    model = build_model("squeezenet1_1").eval()
    real = count_flops(model, torch.randn(1, 3, 64, 64)) / 2e9
    meta = gmacs_on_meta(lambda: build_model("squeezenet1_1"), lambda d: make_input("classification", 1, 64, d))
    assert meta == pytest.approx(real, rel=1e-9)


def test_meta_failure_returns_none():
    def broken():
        raise RuntimeError("builder needs real tensors")

    assert gmacs_on_meta(broken, lambda d: None) is None


def test_fvcore_cross_check_records_unsupported_ops():
    pytest.importorskip("fvcore")
    model = build_model("squeezenet1_1").eval()
    x = torch.randn(1, 3, 64, 64)
    ours = count_flops(model, x) / 2e9
    theirs, unsupported = fvcore_gmacs(model, x)
    assert theirs == pytest.approx(ours, rel=0.02)
    assert unsupported is None or "aten::" in unsupported


def test_fvcore_missing_is_recorded_not_fatal(monkeypatch):
    monkeypatch.setitem(sys.modules, "fvcore", None)
    monkeypatch.setitem(sys.modules, "fvcore.nn", None)
    assert fvcore_gmacs(torch.nn.Linear(2, 2), torch.randn(1, 2)) == (None, "fvcore not installed")
