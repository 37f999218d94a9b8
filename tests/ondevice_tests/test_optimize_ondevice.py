"""`hoot optimize` on a small real run with the on-device variants: each writes its shippable file,
measures by the same rule as eager, and that file reloads with the row's top-1; a missing runtime or a
model a runtime cannot take is a row with the reason while the others go on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hoot.bench.ondevice import RUNTIMES, UnsupportedModel
from hoot.cli.main import main
from hoot.testing.images import make_imagefolder
from hoot.trainer.deploy.optimize import accuracy
from hoot.trainer.deploy.optimize.measuring import QUICK_RULE
from hoot.trainer.deploy.optimize.run import OptimizeOptions, optimize_run
from hoot.trainer.deploy.optimize.variants import BUILDERS, ONDEVICE, VARIANTS
from hoot.trainer.deploy.trained import load_trained

INT8_TOLERANCE_PTS = 8.4  # at most two of the 24 held-out images may flip


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """mobilenet_v3_small (hardswish, squeeze-excite: the on-device operators) trained briefly at 32 px."""
    tmp = tmp_path_factory.mktemp("ondevice")
    shapes = make_imagefolder(tmp / "shapes", per_class=40, size=32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOOT_DATA_DIR", str(tmp / "hoot"))
        mp.setenv("TORCH_HOME", str(tmp / "torch"))
        code = main(["shortlist", str(shapes), "--candidates", "mobilenet_v3_small", "--no-pretrained", "--steps", "10",
                     "--batch-size", "16", "--image-size", "32", "--full-epochs", "3", "--threads", "2",
                     "--output", str(tmp / "reports"), "--run-id", "r1", "--format", "json"])
    assert code == 0
    return tmp / "reports" / "r1"


def _row(result, name):
    return next(r for r in result.rows if r.variant == name)


def test_every_ondevice_variant_is_registered():
    assert set(ONDEVICE) <= set(VARIANTS) and set(VARIANTS) == set(BUILDERS)


@pytest.mark.timeout(900)  # six conversions (ExecuTorch lowering is the slowest) on a shared 2-core machine
def test_ondevice_variants_measure_write_and_reload(trained_run, tmp_path):
    available = [n for n in ONDEVICE if RUNTIMES[n.removesuffix("-int8")].unavailable_reason() is None]
    if not available:
        pytest.skip(RUNTIMES["openvino"].unavailable_reason())
    opts = OptimizeOptions(variants=("eager",) + tuple(available), calibration_images=16, batch_size=4, threads=1,
                           rule=QUICK_RULE, device="cpu", out_dir=tmp_path)
    result = optimize_run(trained_run, opts)
    eager = _row(result, "eager")
    train, held = accuracy.load_splits(trained_run)
    _, meta = load_trained(trained_run)
    x = accuracy.normalise(held.images, meta["mean"], meta["std"])
    for name in available:
        row = _row(result, name)
        assert row.status == "ok", f"{name}: {row.reason}"
        assert row.latency_ms > 0 and row.throughput_ips > 0 and row.peak_mem_mb is not None and row.threads == 1
        assert row.file_mb > 0 and Path(row.file).is_file() and Path(row.file).parent == tmp_path
        assert row.precision == ("int8" if name.endswith("int8") else "fp32") and row.device == "cpu"
        # the shipped file, loaded afresh in the runtime's own API, gives the row's top-1
        runner = RUNTIMES[row.runtime].load(Path(row.file), threads=1)
        top1 = float((np.concatenate([runner(x[i:i + 1]) for i in range(len(x))]).argmax(1) == held.labels).mean())
        assert abs(top1 - row.top1) <= 1e-4, name  # the row rounds to 4 decimals
        if name.endswith("int8"):
            assert row.details["calibration_images"] == 16 and abs(row.top1_delta_pts) <= INT8_TOLERANCE_PTS
        else:
            assert row.top1 == eager.top1, name  # fp32 in another runtime: the same predictions
    if "openvino" in available:
        assert _row(result, "openvino").file_mb > Path(_row(result, "openvino").file).stat().st_size / 2**20  # + .bin


def test_missing_runtime_is_skipped_and_unsupported_model_is_an_error_row(trained_run, monkeypatch, tmp_path):
    monkeypatch.setattr(type(RUNTIMES["litert"]), "unavailable_reason",
                        lambda self: "LiteRT needs the Python package(s) ai_edge_litert: pip install 'hoot[ondevice]'")

    def refuse(self, *args, **kwargs):
        raise UnsupportedModel("OpenVINO could not convert the model: aten::warp_field is not supported")

    monkeypatch.setattr(type(RUNTIMES["openvino"]), "unavailable_reason", lambda self: None)
    monkeypatch.setattr(type(RUNTIMES["openvino"]), "convert", refuse)
    opts = OptimizeOptions(variants=("eager", "litert", "openvino-int8"), calibration_images=4, batch_size=4,
                           threads=1, rule=QUICK_RULE, device="cpu", out_dir=tmp_path)
    result = optimize_run(trained_run, opts)
    assert _row(result, "eager").status == "ok"
    litert = _row(result, "litert")
    assert litert.status == "skipped" and "hoot[ondevice]" in litert.reason and litert.latency_ms is None
    ov = _row(result, "openvino-int8")
    assert ov.status == "error" and "warp_field" in ov.reason and ov.latency_ms is None
