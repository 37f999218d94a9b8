"""Quality on real images, from scratch, on this machine: scikit-learn's bundled handwritten
digits (UCI ML optical digits: 1,797 real 8x8 scans of 10 digits, shipped inside the
scikit-learn package, no download), upscaled to 32 px PNGs in an ImageFolder.

1. The bake-off as `hoot shortlist` runs it (4 candidates, 1 epoch at rung 0, halving,
   BatchNorm statistics re-estimated before every evaluation).
2. The same rung 0 WITHOUT the re-estimation, to show the artifact it removes.
3. The winner's fine-tune (warm-up + cosine, early stopping; the starting checkpoint kept
   unless an epoch beats it on validation).
4. The kept model on the held-out test split (stratified 20 %, seed 0): the figure to quote.
   The bake-off ranked on validation and the fine-tune selected on validation; the test
   split was used only here.
Wall times of each part are printed. Chance is 10 %.

    .venv/bin/pip install scikit-learn   # benchmark-only dependency
    .venv/bin/python benchmarks/train_quality.py [--full-epochs 12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hoot.advisor.render import render  # noqa: E402

CANDIDATES = ["mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1", "resnet18"]


def write_digits(root: Path, size: int = 32) -> int:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (img, label) in enumerate(zip(digits.images, digits.target)):
        d = root / str(label)
        d.mkdir(parents=True, exist_ok=True)
        arr = (img / 16.0 * 255).astype(np.uint8)
        Image.fromarray(arr, "L").resize((size, size), Image.BICUBIC).convert("RGB").save(d / f"{i:04d}.png")
    return len(digits.images)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full-epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=float, default=1.0, help="bake-off budget at rung 0")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--skip-no-bn", action="store_true", help="skip part 2 (the run without BN re-estimation)")
    args = ap.parse_args()
    import hoot.trainer.training.rung as rung
    from hoot.trainer.training.bakeoff import prepare, run_bakeoff
    from hoot.trainer.config import ShortlistConfig
    from hoot.trainer.training.finetune import finetune

    tmp = Path(tempfile.mkdtemp(prefix="hoot-quality-"))
    n = write_digits(tmp / "digits")

    def config(run_id: str, **kw) -> ShortlistConfig:
        return ShortlistConfig(data_dir=str(tmp / "digits"), candidates=candidates, pretrained=False, output=str(tmp / "runs"),
                               run_id=run_id, batch_size=args.batch, full_epochs=args.full_epochs, epochs=args.epochs, **kw)

    candidates = [c.strip() for c in args.candidates.split(",") if c.strip()]

    t0 = time.perf_counter()
    ctx = prepare(config("digits"), progress=False)
    t_prep = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_bakeoff(ctx)
    t_bake = time.perf_counter() - t0

    no_bn, t_nobn = None, 0.0
    if not args.skip_no_bn:
        real = rung.recalibrate_bn
        rung.recalibrate_bn = lambda *a, **k: 0
        try:
            t0 = time.perf_counter()
            no_bn = run_bakeoff(prepare(config("digits-no-bn-reestimation", rungs=1), progress=False))
            t_nobn = time.perf_counter() - t0
        finally:
            rung.recalibrate_bn = real


    print(f"# scikit-learn digits: {n} real handwritten digits (8x8 scans) upscaled to {ctx.image_size} px, "
          f"{len(ctx.train)} train / {len(ctx.val)} val / {len(ctx.test)} test (stratified, seed 0), 10 classes "
          "(chance 0.10), from scratch")
    print(f"prepare (scan + decode once): {t_prep:.1f} s")
    print(f"\n## bake-off with BN re-estimation ({t_bake:.1f} s)")
    cols = ["rank", "candidate", "rung", "val_top1", "val_loss", "train_images_per_s", "latency_ms", "params", "steps"]
    print(render(result.table(), "markdown", cols, floatfmt=".3g"))
    r0 = result.rungs[0]
    if no_bn is not None:
        print(f"\n## rung 0 without BN re-estimation ({t_nobn:.1f} s) against with it")
        rows = [{"candidate": c, "val_top1_without": no_bn.rungs[0][c].metric("val_top1"), "val_top1_with": r0[c].metric("val_top1"),
                 "val_loss_without": no_bn.rungs[0][c].metric("val_loss"), "val_loss_with": r0[c].metric("val_loss")} for c in candidates]
        print(render(rows, "markdown", floatfmt=".3g"))
    sys.stdout.flush()
    t0 = time.perf_counter()
    ft = finetune(ctx, result.winner)
    t_ft = time.perf_counter() - t0
    final = ft["final"]
    print(f"\n## fine-tune of {result.winner} ({t_ft:.1f} s): {ft['epochs_run']} epochs, kept {ft['kept']} "
          f"(start {ft['start_value']:.3f} on validation), {ft['strategy']} lr {ft['lr_groups']}")
    print(render([{k: h[k] for k in ("epoch", "train_loss", "val_loss", "val_top1", "train_images_per_s")} for h in ft["history"]],
                 "markdown", floatfmt=".3g"))
    test = ft["test"]
    print(f"kept model: val_top1 {final['val_top1']:.4f} (selection split); HELD-OUT TEST test_top1 {test['test_top1']:.4f}, "
          f"macro F1 {test['test_macro_f1']:.4f} on {ft['test_images']} test images (chance 0.10); "
          f"total {t_prep + t_bake + t_ft:.1f} s for prepare + bake-off + fine-tune")


if __name__ == "__main__":
    main()
