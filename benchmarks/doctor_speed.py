"""hoot doctor's cheap checks against decoding the images once, and the label check's CPU time.

Target (issue 20): the cheap checks (scan, decode + hash every image once, pairs, leakage,
balance) on 10,000 images take at most ~1.5x the time to decode them once (PIL open + load +
convert to RGB, with the same number of threads). Like hoot's cache, the doctor
lets the JPEG decoder scale by DCT (Image.draft) since it only needs a 64 px hash input; the
baseline is the full decode a plain loader does; the label check (k-fold linear probe +
cleanlab) states its CPU time at that size. Images: photo-like 1024x768 JPEGs (smooth random
colour fields plus noise, quality 90), one folder per class. Runs alternate; medians reported.

    .venv/bin/python benchmarks/doctor_speed.py [--images 10000] [--repeats 3]
(figures need a quiet machine; at --images 500 it only checks the script runs)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hoot.advisor.render import render  # noqa: E402
from hoot.trainer.health.doctor import DoctorOptions, run_doctor  # noqa: E402
from hoot.trainer.health.hashing import default_workers  # noqa: E402


def make_jpegs(root: Path, n: int, classes: int = 10, width: int = 1024, height: int = 768, seed: int = 0) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        d = root / f"c{i % classes}"
        d.mkdir(parents=True, exist_ok=True)
        base = Image.fromarray(rng.integers(0, 256, (height // 16, width // 16, 3)).astype(np.uint8)).resize((width, height), Image.BICUBIC)
        noise = rng.integers(0, 30, (height, width, 3))
        path = d / f"{i:06d}.jpg"
        Image.fromarray(np.clip(np.asarray(base).astype(int) + noise, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def _decode(path: str) -> None:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        im.convert("RGB")


def decode_once(paths: list[str], workers: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(_decode, paths, chunksize=16))
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    workers = default_workers()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        paths = make_jpegs(root, args.images)
        decode_s, cheap_s = [], []
        for _ in range(args.repeats):
            decode_s.append(decode_once(paths, workers))
            started = time.perf_counter()
            run_doctor(root, DoctorOptions(label_check=False, workers=workers))
            cheap_s.append(time.perf_counter() - started)
        cpu0 = time.process_time()
        report = run_doctor(root, DoctorOptions(label_check=True, label_budget_s=3600, workers=workers))
        label = report.label_check
        rows = [{"images": args.images, "threads": workers, "decode_once_s": statistics.median(decode_s),
                 "cheap_checks_s": statistics.median(cheap_s),
                 "ratio": statistics.median(cheap_s) / statistics.median(decode_s),
                 "label_check_cpu_s": label.cpu_s, "label_check_wall_s": label.wall_s,
                 "doctor_with_label_check_cpu_s": time.process_time() - cpu0}]
    print(render(rows, "table", floatfmt=".3g"))
    print("target: ratio <= 1.5")


if __name__ == "__main__":
    main()
