"""Detection quality: a 2-candidate `hoot shortlist` bake-off + fine-tune from scratch on CPU, on
generated data (shapes pasted on textured canvases, COCO layout, known boxes); reports the held-out
test mAP@[.5:.95] and mAP@.5 of the winner and the wall time (issue 18's quality target: "a
2-candidate detection bake-off reports test mAP"). Runs the real command, so the figure is the one a
user would see. Figures need a quiet machine; `--count 12 --steps 1 --full-epochs 1` only checks
that the script runs.

    .venv/bin/python benchmarks/detection_quality.py [--count 240] [--size 128] [--steps 60]
        [--full-epochs 8] [--candidates ssdlite320_mobilenet_v3_large,fasterrcnn_mobilenet_v3_large_320_fpn]
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

from hoot.testing.detection_data import make_coco

CANDIDATES = "ssdlite320_mobilenet_v3_large,fasterrcnn_mobilenet_v3_large_320_fpn"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", default=CANDIDATES)
    ap.add_argument("--count", type=int, default=240, help="generated images")
    ap.add_argument("--size", type=int, default=128, help="image and training size (px)")
    ap.add_argument("--steps", type=int, default=60, help="bake-off steps per candidate at rung 0")
    ap.add_argument("--full-epochs", type=int, default=8, help="fine-tune epochs of the winner")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args()
    from hoot.cli.main import main as hoot

    tmp = Path(tempfile.mkdtemp(prefix="hoot-det-quality-"))
    make_coco(tmp / "coco", count=args.count, size=args.size, background_every=10)
    argv = ["shortlist", str(tmp / "coco"), "--candidates", args.candidates, "--no-pretrained", "--image-size",
            str(args.size), "--batch-size", str(args.batch), "--steps", str(args.steps), "--full-epochs",
            str(args.full_epochs), "--threads", str(args.threads), "--output", str(tmp / "runs"), "--run-id", "q",
            "--format", "json"]
    out = io.StringIO()
    t0 = time.perf_counter()
    with redirect_stdout(out):
        code = hoot(argv)
    wall_s = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"hoot shortlist exited {code}: {out.getvalue()[-500:]}")
    payload = json.loads(out.getvalue())
    test = payload["test"]
    result = {"candidates": args.candidates.split(","), "winner": payload["winner"], "images": args.count,
              "size_px": args.size, "bakeoff_steps": args.steps, "full_epochs": args.full_epochs,
              "test_map50_95": test.get("test_map50_95"), "test_map50": test.get("test_map50"),
              "wall_s": round(wall_s, 1)}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
