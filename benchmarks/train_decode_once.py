"""Decode once: a 4-candidate bake-off over a folder of JPEGs, hoot against the loop people
write by hand (torchvision ImageFolder + DataLoader per candidate), end to end, one run.

Both train the same four candidates for one epoch each at the same size and batch, from
scratch, and evaluate on the same validation folder. hoot: `prepare` (decode + resize each
JPEG once into the uint8 cache) then `run_bakeoff` with one rung (the same work as the plain
loop: no halving advantage), which also re-estimates BatchNorm and measures latency per
candidate (extra work the plain loop skips). Plain: per candidate, ImageFolder with
RandomResizedCrop + flip + ToTensor + Normalize, DataLoader(num_workers=2, shuffle), and a
Resize + CenterCrop validation loader. Repeats alternate; medians are reported. Also prints
the cache's bytes against N*3*H*W. Target: speed-up >= 1.5x; cache <= 1.1x.

    .venv/bin/python benchmarks/train_decode_once.py [--per-class 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hoot.advisor.render import render  # noqa: E402
from tests.trainer_tests.conftest import draw  # noqa: E402

CANDIDATES = ["mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1", "resnet18"]


def make_jpegs(root: Path, per_class: int, width: int = 1024, height: int = 768) -> None:
    """Photo-sized JPEGs (1024x768, smaller than most camera photos: a shape on a noisy background, quality 90) in train/ and val/ (80/20)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for ci, name in enumerate(("circle", "square", "triangle")):
        for i in range(per_class):
            split = "val" if i % 5 == 0 else "train"
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            im = draw(ci, rng, size=96).resize((width, height), Image.BILINEAR)
            noise = rng.integers(-25, 25, (height, width, 3))
            arr = np.clip(np.asarray(im, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(d / f"{i:04d}.jpg", quality=90)


def run_hoot(data: Path, out: Path, size: int, batch: int) -> tuple[float, dict]:
    from hoot.trainer.training.bakeoff import prepare, run_bakeoff
    from hoot.trainer.config import ShortlistConfig

    t0 = time.perf_counter()
    cfg = ShortlistConfig(data_dir=str(data), candidates=CANDIDATES, pretrained=False, output=str(out), run_id="hoot",
                          image_size=size, batch_size=batch, epochs=1, rungs=1, full_epochs=0)
    ctx = prepare(cfg, progress=False)
    result = run_bakeoff(ctx)
    wall = time.perf_counter() - t0
    n = len(ctx.train) + len(ctx.val) + len(ctx.test)
    cache = {"images": n, "cache_bytes": ctx.train.nbytes + ctx.val.nbytes + ctx.test.nbytes, "n3hw_bytes": n * 3 * size * size,
             "files_bytes": sum(f.stat().st_size for f in (ctx.run_dir / "cache").glob("*_images.npy")),
             "top1": {k: v.metric("val_top1") for k, v in result.rungs[0].items()}}
    shutil.rmtree(out / "hoot")
    return wall, cache


def run_plain(data: Path, size: int, batch: int) -> tuple[float, dict]:
    """The hand-written loop: decode every JPEG every epoch, for every candidate."""
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision import transforms as T

    from hoot.bench.models import build_model

    norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    train_tf = T.Compose([T.RandomResizedCrop(size, scale=(0.25, 1.0)), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    val_tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(), norm])
    t0 = time.perf_counter()
    top1 = {}
    for name in CANDIDATES:
        train = torchvision.datasets.ImageFolder(str(data / "train"), train_tf)
        val = torchvision.datasets.ImageFolder(str(data / "val"), val_tf)
        g = torch.Generator().manual_seed(0)
        tl = DataLoader(train, batch_size=batch, shuffle=True, num_workers=2, generator=g, drop_last=True)
        vl = DataLoader(val, batch_size=batch, num_workers=2)
        torch.manual_seed(0)
        model = build_model(name, num_classes=len(train.classes))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        model.train()
        for x, y in tl:
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in vl:
                correct += int((model(x).argmax(1) == y).sum())
                total += len(y)
        top1[name] = correct / total
    return time.perf_counter() - t0, {"top1": top1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=128)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hoot-decode-once-"))
    data = tmp / "jpegs"
    make_jpegs(data, args.per_class)
    hoot_s, plain_s = [], []
    cache = {}
    for _ in range(args.repeats):
        w, cache = run_hoot(data, tmp / "runs", args.size, args.batch)
        hoot_s.append(w)
        w, plain_info = run_plain(data, args.size, args.batch)
        plain_s.append(w)
    h, p = statistics.median(hoot_s), statistics.median(plain_s)
    n_jpegs = sum(1 for _ in data.rglob("*.jpg"))
    print(f"# {n_jpegs} JPEGs 1024x768, 4 candidates x 1 epoch at {args.size} px, batch {args.batch}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats} alternating repeats")
    print(render([{"pipeline": "hoot (decode once, tensor augmentation)", "wall_s": h,
                   "runs_s": ", ".join(f"{v:.1f}" for v in hoot_s)},
                  {"pipeline": "ImageFolder + DataLoader(num_workers=2) per candidate", "wall_s": p,
                   "runs_s": ", ".join(f"{v:.1f}" for v in plain_s)}], "table", floatfmt=".1f"))
    pairs = sorted(b / a for a, b in zip(hoot_s, plain_s))
    print(f"speed-up {p / h:.2f}x from the medians; per alternating pair: {', '.join(f'{r:.2f}x' for r in pairs)} "
          f"(median {statistics.median(pairs):.2f}x; target >= 1.5x)")
    print(f"cache: {cache['cache_bytes']} bytes for {cache['images']} images = "
          f"{cache['cache_bytes'] / cache['n3hw_bytes']:.4f} x N*3*H*W (files on disk incl. .npy headers: "
          f"{cache['files_bytes'] / cache['n3hw_bytes']:.4f} x; target <= 1.1x)")
    print(f"val top-1 after 1 epoch — hoot: {cache['top1']}; plain: {plain_info['top1']}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
