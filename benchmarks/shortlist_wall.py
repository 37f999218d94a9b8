"""The whole `hoot shortlist` on real images against its model-only training time (issue 10).

The run: scikit-learn's digits (1,797 real 8x8 scans, shipped inside scikit-learn) as an
ImageFolder, `hoot shortlist` from scratch at 64 px with 3 candidates, a 1-epoch bake-off and
a 4-epoch fine-tune, started as a user would (a fresh `python -m hoot.cli` process, so
process start, imports, scanning and decoding count).

Next to its wall time: (a) the seconds the run's own training loops report (bake-off
`train_seconds` per rung plus the fine-tune epochs' `train_seconds`), and (b) the model-only
time: the same number of images at each model's eager forward + backward + step throughput on
pre-made tensors already on the device, same batch, size and precision (the bound of
benchmarks/train_throughput.py), measured here after the run. wall / model-only says how
much of the run is not training.

    .venv/bin/python benchmarks/shortlist_wall.py [--device cuda] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_quality import write_digits  # noqa: E402

CANDIDATES = "resnet18,mobilenet_v3_small,shufflenet_v2_x0_5"


def furthest(bake: dict, key: str) -> dict[str, float]:
    """Per candidate, `key` at the furthest rung it reached (rung figures are cumulative)."""
    out: dict[str, float] = {}
    for rung in bake["rungs"]:
        for name, r in rung.items():
            out[name] = max(out.get(name, 0.0), float(r.get(key) or 0.0))
    return out


def images_trained(bake: dict, ft: dict) -> dict[str, int]:
    """Images each model was trained on, from the run's own records (bakeoff.json, finetune.json)."""
    seen = {name: int(n) for name, n in furthest(bake, "images_seen").items()}
    seen[f"{ft['winner']} (fine-tune)"] = sum(round(h["train_images_per_s"] * h["train_seconds"]) for h in ft["history"])
    return seen


def loop_seconds(bake: dict, ft: dict) -> float:
    """Seconds the run's own training loops report: every candidate's bake-off plus the fine-tune's epochs."""
    return sum(furthest(bake, "train_seconds").values()) + sum(h["train_seconds"] for h in ft["history"])


def model_only_img_s(name: str, device: str, batch: int, size: int, precision: dict, classes: int,
                     steps: int = 30) -> float:
    """Eager step throughput on pre-made device tensors, in the precision the run chose for `name`."""
    import torch

    from hoot.bench.models import build_model
    from hoot.trainer.training.loop import Stepper
    from hoot.trainer.tasks import make_loss
    from hoot.trainer.training.precision import PrecisionChoice
    from hoot.trainer.training.strategy import make_optimizer

    dev = torch.device(device)
    model = build_model(name, num_classes=classes, pretrained=False).to(dev).train()
    choice = PrecisionChoice(None if precision.get("precision") in (None, "fp32") else precision["precision"],
                             bool(precision.get("channels_last")))
    stepper = Stepper(model, make_optimizer(model, "adamw", 1e-3, 0.05), make_loss("classification"), dev,
                      lambda s: 1e-3, choice)
    x = torch.randn(batch, 3, size, size, device=dev)
    y = torch.randint(0, classes, (batch,), device=dev)
    rates = []
    for block in range(6):  # the first block is warm-up
        t0 = time.perf_counter()
        for _ in range(max(1, steps // 5)):
            stepper.step(x, y, 0)
        stepper.meter.read()  # synchronises
        if block:
            rates.append(max(1, steps // 5) * batch / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--candidates", default=CANDIDATES)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", default="1")
    ap.add_argument("--full-epochs", type=int, default=4)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hoot-shortlist-wall-"))
    write_digits(tmp / "digits", size=args.size)
    cmd = [sys.executable, "-m", "hoot.cli", "shortlist", str(tmp / "digits"), "--candidates", args.candidates,
           "--no-pretrained", "--image-size", str(args.size), "--epochs", args.epochs, "--full-epochs",
           str(args.full_epochs), "--device", args.device, "--output", str(tmp / "runs"), "--run-id", "digits",
           "--format", "json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"hoot shortlist failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    run_dir = tmp / "runs" / "digits"
    config = json.loads((run_dir / "config.json").read_text())
    ft = json.loads((run_dir / "finetune.json").read_text())
    bake = json.loads((run_dir / "bakeoff.json").read_text())
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model_only = 0.0
    per_model = {}
    for key, images in images_trained(bake, ft).items():
        name = key.split(" ")[0]
        record = ft if key.endswith("(fine-tune)") else next(r[name] for r in bake["rungs"] if name in r)
        batch = int(ft["batch_size"]) if key.endswith("(fine-tune)") else int(config["batch_size"])
        rate = model_only_img_s(name, device, batch, args.size, record, 10)
        per_model[key] = {"images": images, "model_only_img_s": round(rate, 1), "model_only_s": round(images / rate, 2)}
        model_only += images / rate
    result = {"device": device, "wall_s": round(wall, 1), "training_loops_s": round(loop_seconds(bake, ft), 1),
              "model_only_s": round(model_only, 1), "wall_over_model_only": round(wall / model_only, 2),
              "winner": ft["winner"], "test": ft["test"], "per_model": per_model}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
