"""The device-agnostic data path, the precision probe's decision, the compile decision and the
loss meter's single host read, all on the CPU (the same code runs on CUDA tensors; tests/
trainer_tests/test_gpu.py runs it there)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hoot.trainer.data.cache import SplitCache
from hoot.trainer.data.device_data import PlacedSplit, choose_placement
from hoot.trainer.data.pipeline import Normalizer, augment, random_crop_boxes, train_batch


def _split(n: int = 20, size: int = 24, seed: int = 0) -> SplitCache:
    rng = np.random.default_rng(seed)
    return SplitCache(rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8), rng.integers(0, 3, n).astype(np.int64))


def _old_train_batch(split, idx, step_seed, norm, device):
    """The CPU path before the device path existed (verbatim): batches must stay bitwise the same."""
    from torchvision.ops import roi_align

    order = np.argsort(idx, kind="stable")
    imgs = split.images[idx[order]]
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    x = torch.from_numpy(np.ascontiguousarray(imgs[inv]))
    y = torch.from_numpy(np.asarray(split.labels[idx]))
    x = x.to(device, non_blocking=True).float()
    g = torch.Generator().manual_seed(step_seed)
    n, _, s, _ = x.shape
    boxes = random_crop_boxes(n, s, g)
    flip = torch.rand(n, generator=g) < 0.5
    boxes[flip] = boxes[flip][:, [2, 1, 0, 3]]
    rois = torch.cat([torch.arange(n, dtype=torch.float32).unsqueeze(1), boxes], dim=1).to(x.device)
    x = roi_align(x, rois, output_size=(s, s), spatial_scale=1.0, sampling_ratio=1, aligned=True)
    return norm(x), y.to(device, non_blocking=True)


def test_cpu_batches_are_bitwise_what_they_were():
    split, norm, cpu = _split(), Normalizer(), torch.device("cpu")
    for step, idx in enumerate([np.array([3, 1, 7, 7, 0]), np.arange(20)[::-1].copy(), np.array([5, 19])]):
        x, y = train_batch(split, idx, 1000 + step, norm, cpu)
        ox, oy = _old_train_batch(split, idx, 1000 + step, norm, cpu)
        assert torch.equal(x, ox) and torch.equal(y, oy)
    assert split.on(cpu).placement == "host"


@pytest.mark.parametrize("placement", ["device", "pinned"])
def test_every_placement_gives_the_same_batch(placement):
    """Placement changes where the bytes are read from, never which bytes or which crops."""
    split, norm, cpu = _split(), Normalizer(), torch.device("cpu")
    placed = PlacedSplit.place(split.images, split.labels, cpu, placement=placement)
    assert placed.placement == placement
    idx = np.array([4, 2, 9, 2])
    placed.prefetch(idx)
    gx, gy = placed.gather(idx)
    hx, hy = split.on(cpu).gather(idx)
    assert torch.equal(gx, hx) and torch.equal(gy, hy)
    placed.prefetch(np.array([1, 2]))  # a stale prefetch is ignored, not served for other indices
    assert torch.equal(placed.gather(np.array([3]))[0], hx[:0].new_tensor(split.images[[3]]))
    placed.close()


def test_batch_k_depends_only_on_seed_and_k():
    norm, cpu = Normalizer(), torch.device("cpu")
    a, b = _split(), _split()
    idx = np.array([0, 5, 6, 11])
    assert torch.equal(train_batch(a, idx, 42, norm, cpu)[0], train_batch(b, idx, 42, norm, cpu)[0])
    assert not torch.equal(train_batch(a, idx, 42, norm, cpu)[0], train_batch(a, idx, 43, norm, cpu)[0])


def test_placement_rule_uses_the_stated_fraction():
    cuda = torch.device("cuda", 0)
    assert choose_placement(torch.device("cpu"), 10**12) == "host"
    assert choose_placement(cuda, 400, available=1000, fraction=0.4) == "device"
    assert choose_placement(cuda, 401, available=1000, fraction=0.4) == "pinned"


def test_crop_of_an_integer_box_is_the_window_and_the_mirrored_box_its_flip(monkeypatch):
    import hoot.trainer.data.pipeline as pipeline

    x = torch.rand(2, 3, 24, 24)
    box = torch.tensor([[4.0, 6.0, 16.0, 18.0], [0.0, 0.0, 24.0, 24.0]])
    monkeypatch.setattr(pipeline, "random_crop_boxes", lambda n, s, g: box.clone())

    def with_flips(flips):
        g = torch.Generator()
        monkeypatch.setattr(pipeline.torch, "rand", lambda n, generator=None: torch.tensor(flips))
        try:
            return augment(x, g, out_size=12), augment(x, g)
        finally:
            monkeypatch.undo()
            monkeypatch.setattr(pipeline, "random_crop_boxes", lambda n, s, g: box.clone())

    (small, full) = with_flips([0.9, 0.9])  # >= 0.5: no flip
    assert torch.allclose(small[0], x[0, :, 6:18, 4:16], atol=1e-5)
    assert torch.allclose(full[1], x[1], atol=1e-5)
    (small_f, full_f) = with_flips([0.1, 0.1])  # flipped
    assert torch.allclose(small_f[0], x[0, :, 6:18, 4:16].flip(-1), atol=1e-5)
    assert torch.allclose(full_f[1], x[1].flip(-1), atol=1e-5)


def test_crop_boxes_follow_the_area_and_ratio_rule():
    from hoot.trainer.data.pipeline import CROP_RATIO, CROP_SCALE

    b = random_crop_boxes(2000, 64, torch.Generator().manual_seed(0))
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    assert (b[:, :2] >= 0).all() and (b[:, 2:] <= 64 + 1e-4).all()
    area = w * h / 64**2
    assert area.max() <= CROP_SCALE[1] + 1e-5 and area.min() >= CROP_SCALE[0] * 0.5
    ratio = w / h
    unclamped = (w < 64) & (h < 64)
    assert (ratio[unclamped] >= CROP_RATIO[0] - 1e-4).all() and (ratio[unclamped] <= CROP_RATIO[1] + 1e-4).all()


def test_augment_shapes_and_determinism():
    x = torch.rand(5, 3, 32, 32)
    a = augment(x, torch.Generator().manual_seed(1), out_size=16)
    b = augment(x, torch.Generator().manual_seed(1), out_size=16)
    assert a.shape == (5, 3, 16, 16) and torch.equal(a, b)


# --- precision probe -------------------------------------------------------------------------

def _fake_clock(cost_s: dict[str, float]):
    """A timer and runner factory where each setting's step costs `cost_s[label]` fake seconds."""
    from hoot.trainer.training.precision import setting_label

    now = [0.0]

    def make_runner(autocast, channels_last):
        cost = cost_s[setting_label(autocast, channels_last)]
        if cost is None:
            raise RuntimeError("no kernel")

        def run():
            now[0] += cost
        return run

    return make_runner, lambda: now[0]


def test_probe_picks_the_fastest_setting_and_excludes_warm_up():
    from hoot.trainer.training.precision import decide, time_settings

    settings = [(None, False), (None, True), ("bf16", False), ("bf16", True)]
    costs = {"fp32": 0.010, "fp32+channels_last": 0.011, "bf16": 0.006, "bf16+channels_last": 0.004}
    make_runner, timer = _fake_clock(costs)
    rates = time_settings(make_runner, settings, 128, warmup=3, steps=5, timer=timer)
    assert rates["bf16+channels_last"] == pytest.approx(128 / 0.004)
    choice = decide(rates, settings)
    assert (choice.autocast, choice.channels_last, choice.grad_scaler) == ("bf16", True, False)
    assert choice.as_dict()["precision"] == "bf16" and choice.images_per_s == rates


def test_probe_keeps_fp32_within_the_noise_margin_and_skips_failures():
    from hoot.trainer.training.precision import MARGIN, decide, time_settings

    settings = [(None, False), (None, True), ("fp16", False), ("fp16", True)]
    costs = {"fp32": 0.010, "fp32+channels_last": 0.010 / (1 + MARGIN / 2), "fp16": None, "fp16+channels_last": 0.02}
    make_runner, timer = _fake_clock(costs)
    rates = time_settings(make_runner, settings, 32, timer=timer)
    assert rates["fp16"] == 0.0
    choice = decide(rates, settings)
    assert choice.autocast is None and not choice.channels_last
    costs["fp16"] = 0.005
    make_runner, timer = _fake_clock(costs)
    choice = decide(time_settings(make_runner, settings, 32, timer=timer), settings)
    assert choice.autocast == "fp16" and choice.grad_scaler


def test_probe_is_skipped_on_cpu_unless_asked_and_leaves_the_model_alone():
    from hoot.trainer.training.loop import choose_precision

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(3))
    model(torch.zeros(1, 3, 8, 8))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    skipped = choose_precision(model, opt, loss_fn, torch.device("cpu"), 4, 8, 3)
    assert skipped.autocast is None and not skipped.channels_last and "skipped" in skipped.source
    before = [p.detach().clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    probed = choose_precision(model, opt, loss_fn, torch.device("cpu"), 4, 8, 3, probe=True)
    assert set(probed.images_per_s) == {"fp32", "fp32+channels_last", "bf16", "bf16+channels_last"}
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert torch.equal(rng, torch.get_rng_state()) and not opt.state


def test_fixed_precision_names():
    from hoot.trainer.training.precision import fixed_choice, from_dict

    cpu = torch.device("cpu")
    assert fixed_choice("auto", cpu) is None and fixed_choice("probe", cpu) is None
    c = fixed_choice("fp16+channels_last", cpu)
    assert (c.autocast, c.channels_last, c.grad_scaler) == ("fp16", True, True)
    assert from_dict(c.as_dict()) == c
    with pytest.raises(ValueError):
        fixed_choice("int8", cpu)


def test_compile_benefit_counts_compile_time_against_the_run_length():
    from hoot.trainer.training.compiled import compile_benefit

    now = [0.0]
    calls = {"compiled": 0}

    def eager():
        now[0] += 0.010

    def compiled():
        calls["compiled"] += 1
        now[0] += 20.0 if calls["compiled"] == 1 else 0.005

    short = compile_benefit(eager, compiled, 500, "default", timer=lambda: now[0])
    assert short.mode == "off" and short.compile_seconds == pytest.approx(20.0, rel=1e-3)
    assert short.projected_compiled_s > short.projected_eager_s
    calls["compiled"] = 0
    long = compile_benefit(eager, compiled, 10_000, "reduce-overhead", timer=lambda: now[0])
    assert long.mode == "reduce-overhead" and long.as_dict()["compile"] == "reduce-overhead"


# --- no host synchronisation per step --------------------------------------------------------

#: reads of tensors that live on the host on every device: the sampler's permutation (the
#: fairness source, drawn on the CPU) and the step counters of torch's non-capturable optimizers
HOST_BY_DESIGN = {("pipeline.py", "__iter__"), ("optimizer.py", "_get_value")}


@pytest.fixture
def count_host_reads(monkeypatch):
    """Count every way a tensor's value reaches Python (each is a device sync on CUDA), except
    the reads of tensors that are on the host by design."""
    import traceback

    counts = {"n": 0, "sites": []}
    for name in ("item", "tolist", "__float__", "__bool__", "__int__", "numpy"):
        real = getattr(torch.Tensor, name)

        def wrapped(self, *a, _real=real, **k):
            caller = traceback.extract_stack(limit=2)[0]
            if (caller.filename.rsplit("/", 1)[-1], caller.name) not in HOST_BY_DESIGN:
                counts["n"] += 1
                counts["sites"].append(f"{caller.filename}:{caller.lineno}")
            return _real(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, wrapped)
    return counts


def test_stepper_step_never_reads_the_loss_back(count_host_reads):
    from hoot.trainer.training.loop import Stepper

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(4, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    stepper = Stepper(model, opt, torch.nn.CrossEntropyLoss(), torch.device("cpu"), lambda s: 0.1)
    x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 3, (8,))
    count_host_reads["n"] = 0
    losses = [stepper.step(x, y, k) for k in range(10)]
    assert count_host_reads["n"] == 0
    reading = stepper.meter.read()
    assert count_host_reads["n"] == 1
    assert reading.steps == 10 and reading.mean == pytest.approx(float(torch.stack(losses).mean()), rel=1e-5)
    assert reading.last == pytest.approx(float(losses[-1]))


def test_a_non_finite_loss_is_raised_at_the_next_read():
    from hoot.advisor.errors import HootError
    from hoot.trainer.training.loop import LossMeter

    meter = LossMeter(torch.device("cpu"))
    meter.add(torch.tensor(1.0), 0)
    meter.add(torch.tensor(math.nan), 1)
    meter.add(torch.tensor(2.0), 2)
    with pytest.raises(HootError, match="diverged.*step 2"):
        meter.read()
    meter.add(torch.tensor(3.0), 3)
    assert meter.read().mean == 3.0


def test_bakeoff_stream_reads_the_loss_once_per_interval(shapes, tmp_path, count_host_reads, monkeypatch):
    """The bake-off's step is the device path: gather, augment, step; nothing read back per step."""
    from hoot.trainer.training.bakeoff import BakeoffStream, build_candidate, prepare
    from hoot.trainer.config import ShortlistConfig
    from hoot.trainer.training.loop import Stepper
    from hoot.trainer.tasks import make_loss
    from hoot.trainer.training.strategy import make_optimizer

    cfg = ShortlistConfig(data_dir=str(shapes), candidates=["squeezenet1_1"], pretrained=False, image_size=32,
                          batch_size=8, output=str(tmp_path / "runs"), run_id="r", full_epochs=0)
    ctx = prepare(cfg, progress=False)
    model = build_candidate(ctx, "squeezenet1_1")
    stepper = Stepper(model, make_optimizer(model, "adamw", 1e-3, 0.05), make_loss("classification"), ctx.device,
                      lambda s: 1e-3)
    stream = BakeoffStream(ctx, ctx.normalizer("squeezenet1_1"))
    count_host_reads["n"] = 0
    for k in range(4):
        stream.step(stepper, k)
    assert count_host_reads["n"] == 0, count_host_reads["sites"]
    assert stepper.meter.read().steps == 4


def test_fused_optimiser_only_where_every_parameter_is_on_cuda():
    """fused kernels let GradScaler keep its inf check on the device (no sync per fp16 step)."""
    from types import SimpleNamespace

    from hoot.trainer.training.strategy import make_optimizer, wants_fused

    cuda, cpu = SimpleNamespace(is_cuda=True), SimpleNamespace(is_cuda=False)
    assert wants_fused([cuda, cuda]) and not wants_fused([cuda, cpu]) and not wants_fused([])
    model = torch.nn.Linear(4, 2)
    for name in ("adamw", "sgd"):
        assert not make_optimizer(model, name, 1e-3, 0.05).defaults.get("fused")  # the CPU path is unchanged


def test_evaluation_runs_in_the_steps_precision_and_layout():
    """One PrecisionChoice decides training steps, BN re-estimation and evaluation alike."""
    import numpy as np

    from hoot.trainer.data.cache import SplitCache
    from hoot.trainer.training.loop import evaluate, recalibrate_bn
    from hoot.trainer.data.pipeline import Normalizer
    from hoot.trainer.training.precision import PrecisionChoice

    seen = []

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn, self.fc = torch.nn.BatchNorm2d(3), torch.nn.Linear(3, 2)

        def forward(self, x):
            seen.append((torch.is_autocast_enabled("cpu"), x.is_contiguous(memory_format=torch.channels_last)))
            return self.fc(self.bn(x).mean(dim=(2, 3)))

    rng = np.random.default_rng(0)
    split = SplitCache(rng.integers(0, 256, (6, 3, 8, 8), dtype=np.uint8), rng.integers(0, 2, 6).astype(np.int64))
    cpu, loss = torch.device("cpu"), torch.nn.CrossEntropyLoss()
    evaluate(Probe(), split, Normalizer(), cpu, 4, "classification", loss)
    assert set(seen) == {(False, False)}  # no choice given: the CPU default, fp32 and contiguous
    seen.clear()
    model, choice = Probe(), PrecisionChoice("bf16", True)
    recalibrate_bn(model, split, Normalizer(), cpu, 4, precision=choice)
    metrics = evaluate(model, split, Normalizer(), cpu, 4, "classification", loss, choice)
    assert seen and set(seen) == {(True, True)} and np.isfinite(metrics["val_loss"])


def test_compile_is_off_by_default_and_auto_stays_off_on_cpu():
    from hoot.trainer.training.device_run import log_interval, resolve_compile
    from hoot.trainer.training.loop import Stepper

    model = torch.nn.Linear(4, 2)
    st = Stepper(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.CrossEntropyLoss(), torch.device("cpu"),
                 lambda s: 0.1)
    for mode in ("off", "auto"):
        d = resolve_compile(mode, st, 4, 8, 2, "classification", 100)
        assert d.mode == "off" and st.model is model
    assert log_interval(torch.device("cpu")) == 1 and log_interval(torch.device("cuda")) > 1


def test_precision_and_compile_settings_are_validated():
    from hoot.advisor.errors import HootError
    from hoot.trainer.config import ShortlistConfig

    with pytest.raises(HootError, match="--compile"):
        ShortlistConfig(data_dir="d", compile="fast")
    with pytest.raises(HootError, match="--precision"):
        ShortlistConfig(data_dir="d", precision="int8")
    assert ShortlistConfig(data_dir="d", precision="bf16+channels_last").compile == "off"
