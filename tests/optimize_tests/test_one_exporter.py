"""One ONNX exporter (issue 17): `hoot export` and `hoot optimize` name inputs and outputs the same way,
and neither replaces the other's file, in either order."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from hoot.bench import runtimes
from hoot.bench.models import build_model
from hoot.trainer.deploy.export import export_run
from hoot.trainer.deploy.optimize import variants

SIZE = 32


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder with a hoot checkpoint of a small model (no training needed to export it)."""
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_small", task="classification", num_classes=3, pretrained=False).eval()
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"hoot_checkpoint": 1, "model": model.state_dict(), "variant": "mobilenet_v3_small",
                "task": "classification", "classes": ["a", "b", "c"], "image_size": SIZE,
                "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}, run / "best.pt")
    return run


def _names(path: Path) -> tuple[list[str], list[str]]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _optimize_files(run: Path) -> dict[str, Path]:
    """What `hoot optimize RUN` writes for its ONNX variants (fp32 and INT8), through its own builders."""
    from hoot.trainer.deploy.trained import load_trained

    model, _ = load_trained(run)
    cal = np.random.default_rng(0).standard_normal((4, 3, SIZE, SIZE)).astype(np.float32)
    ctx = variants.BuildContext(model, run, SIZE, cal, 1, torch.device("cpu"))
    fp32 = variants.BUILDERS["onnxruntime"](ctx)
    int8 = variants.BUILDERS["int8"](ctx)
    assert fp32.predict(cal[:1]).shape == (1, 3)
    return {"fp32": fp32.file, "int8": int8.file}


def test_every_onnx_file_names_its_input_image_and_its_output_logits(run_dir, tmp_path):
    exported = Path(export_run(run_dir, "onnx")["path"])
    files = _optimize_files(run_dir)
    bench_file = runtimes.export_onnx(build_model("mobilenet_v3_small").eval(), torch.randn(1, 3, SIZE, SIZE),
                                      tmp_path / "bench" / "model.onnx")
    for path in (exported, files["fp32"], files["int8"], bench_file):
        assert _names(path) == (["image"], ["logits"]), path


def test_export_then_optimize_keeps_the_exported_file(run_dir):
    exported = Path(export_run(run_dir, "onnx")["path"])
    assert exported == run_dir / "model.onnx"
    before = _digest(exported)
    files = _optimize_files(run_dir)
    assert _digest(exported) == before  # byte for byte
    assert all(p.parent == run_dir / "optimize" for p in files.values())
    assert _names(exported)[0] == _names(files["fp32"])[0] == ["image"]


def test_optimize_then_export_keeps_optimize_files(run_dir):
    files = _optimize_files(run_dir)
    before = {k: _digest(p) for k, p in files.items()}
    exported = Path(export_run(run_dir, "onnx")["path"])
    assert exported not in files.values()
    assert {k: _digest(p) for k, p in files.items()} == before
    assert _names(exported)[0] == _names(files["int8"])[0] == ["image"]


def test_outputs_can_be_named_for_a_task_with_several(tmp_path):
    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            return x.mean((2, 3)), x.amax((2, 3))

    path = runtimes.export_onnx(TwoHeads(), torch.randn(1, 3, 8, 8), tmp_path / "two.onnx", dynamic_batch=True,
                                output_names=("boxes", "scores"))
    assert _names(path) == (["image"], ["boxes", "scores"])
