"""Real CUDA tests of the training device path (marked `gpu`; skipped with a reason without CUDA):
the cache on the GPU, the same batches as on the CPU, no host synchronisation in the step
loop, autocast and the probe, a tiny bake-off and fine-tune on CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hoot.testing.images import tiny_config

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")]


def _split(n=40, size=32):
    from hoot.trainer.data.cache import SplitCache

    rng = np.random.default_rng(0)
    return SplitCache(rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8), rng.integers(0, 3, n).astype(np.int64))


def test_cache_moves_to_the_gpu_once_and_batches_match_the_cpu():
    from hoot.trainer.data.pipeline import Normalizer, train_batch

    split, cuda = _split(), torch.device("cuda", torch.cuda.current_device())
    placed = split.on(cuda)
    assert placed.placement == "device" and placed._images_dev.is_cuda
    assert split.on("cuda") is placed  # placed once, reused
    idx = np.array([3, 1, 7, 7, 0, 12])
    gx, gy = train_batch(split, idx, 11, Normalizer(device=cuda), cuda)
    cx, cy = train_batch(split, idx, 11, Normalizer(), torch.device("cpu"))
    assert gx.is_cuda and torch.equal(gy.cpu(), cy)
    assert torch.allclose(gx.cpu(), cx, atol=1e-4)  # same crops and flips; float kernels may differ in the last bit


def test_pinned_placement_with_prefetch_gives_the_same_bytes():
    from hoot.trainer.data.device_data import PlacedSplit

    split, cuda = _split(), torch.device("cuda", torch.cuda.current_device())
    placed = PlacedSplit.place(split.images, split.labels, cuda, placement="pinned")
    idx = np.array([5, 2, 9])
    placed.prefetch(idx)
    x, y = placed.gather(idx)
    assert x.is_cuda and torch.equal(x.cpu(), torch.from_numpy(split.images[idx]))
    assert torch.equal(y.cpu(), torch.from_numpy(split.labels[idx]))
    placed.close()


@pytest.mark.parametrize("optimizer,precision", [("adamw", "bf16"), ("adamw", "fp16"), ("sgd", "fp16"), ("sgd", None)])
def test_step_loop_does_not_synchronise(shapes, tmp_path, optimizer, precision):
    """Not even fp16 with a GradScaler: the fused optimiser takes its inf check on the device."""
    from hoot.trainer.training.bakeoff import BakeoffStream, build_candidate, prepare
    from hoot.trainer.training.loop import Stepper
    from hoot.trainer.tasks import make_loss
    from hoot.trainer.training.precision import PrecisionChoice
    from hoot.trainer.training.strategy import make_optimizer

    ctx = prepare(tiny_config(shapes, tmp_path, device="cuda", candidates=["resnet18"]), progress=False)
    model = build_candidate(ctx, "resnet18")
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    opt = make_optimizer(model, optimizer, 1e-3, 0.05)
    assert opt.defaults.get("fused") is True
    stepper = Stepper(model, opt, make_loss("classification"), ctx.device, lambda s: 1e-3,
                      PrecisionChoice(precision, True))
    stream = BakeoffStream(ctx, ctx.normalizer("resnet18"))
    stream.step(stepper, 0)  # first step: allocator, cuDNN autotuning
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for k in range(1, 4):
            stream.step(stepper, k)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert stepper.meter.read().steps == 4


def test_autocast_and_the_probe_on_cuda():
    from hoot.trainer.training.loop import Stepper, choose_precision

    cuda = torch.device("cuda")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 3)).to(cuda)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    choice = choose_precision(model, opt, torch.nn.CrossEntropyLoss(), cuda, 16, 32, 3)
    half = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert set(choice.images_per_s) == {"fp32", "fp32+channels_last", half, f"{half}+channels_last"}
    assert all(v > 0 for v in choice.images_per_s.values())
    from hoot.trainer.training.precision import PrecisionChoice

    st = Stepper(model, opt, torch.nn.CrossEntropyLoss(), cuda, lambda s: 1e-3, PrecisionChoice("fp16", False))
    assert st.scaler is not None
    loss = st(torch.rand(16, 3, 32, 32, device=cuda), torch.randint(0, 3, (16,), device=cuda), 0)
    assert np.isfinite(loss)


def test_tiny_bakeoff_and_finetune_on_cuda(shapes, tmp_path):
    from hoot.trainer.orchestration.shortlist import run_local

    cfg = tiny_config(shapes, tmp_path, device="cuda", candidates=["mobilenet_v3_small", "squeezenet1_1"],
                      full_epochs=1, auto_batch=False)
    result = run_local(cfg, progress=False)
    rows = {r["candidate"]: r for r in __import__("json").loads((cfg.run_dir / "bakeoff.json").read_text())["rungs"][0].values()}
    assert all(r["status"] == "ok" and r["precision_source"].startswith("probe") for r in rows.values())
    assert (cfg.run_dir / "best.pt").is_file() and result
