"""The CUDA path of `hoot bench` on a real GPU, in one go (run on a GPU machine).

Proves, with the real thing: CUDA events timing, fp16/bf16 autocast, allocator peaks,
the NVML fingerprint, the automatic training batch size, channels-last, an out-of-memory
row that does not stop the run, and a quick pass over the 28 seed variants. Then issue 9's
targets, side by side in one run: the GPU defaults (batch 1 and 64, half precision) over
the seed variants against a plain loop over the same models and settings (build, 10
warm-up, 40 timed calls with synchronisation), two back-to-back runs' agreement, and
`--cuda-graphs` at batch 1. Writes the results store, an export
(benchmarks/results/<gpu>.json is one of these) and a report. Not yet run on a GPU.

    PYTHONPATH=. python3 benchmarks/bench_cuda.py OUTDIR
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

TRIO = "resnet18,mobilenet_v3_large,efficientnet_b0"


def hoot(*args: str, out: Path, log: list[str]) -> int:
    cmd = [sys.executable, "-m", "hoot.cli", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - t0
    entry = f"$ hoot {' '.join(args)}   # exit {proc.returncode}, {took:.1f} s\n{proc.stdout}\n{proc.stderr[-1500:]}\n"
    log.append(entry)
    print(entry, flush=True)
    (out / "cuda_log.txt").write_text("\n".join(log), encoding="utf-8")
    return proc.returncode


PLAIN_LOOP = r"""
import sys, time, torch
from hoot.bench.models import build_model
from hoot.advisor.catalog import load_catalog
catalog = load_catalog()
dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
t0 = time.perf_counter()
for name in sys.argv[1].split(","):
    v = catalog.get(name)
    model = build_model(name, pretrained=False, catalog=catalog).eval().cuda()
    for batch in (1, 64):
        x = torch.randn(batch, 3, v.native_input_px, v.native_input_px, device="cuda")
        with torch.inference_mode(), torch.autocast("cuda", dtype=dtype):
            for _ in range(10):
                model(x)
            torch.cuda.synchronize()
            for _ in range(40):
                model(x)
                torch.cuda.synchronize()
print(time.perf_counter() - t0)
"""


def targets(seeds: str, db: str, out: Path, log: list[str]) -> None:
    """GPU defaults against a plain loop; two runs' agreement; CUDA graphs at batch 1."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", PLAIN_LOOP, seeds], check=True, capture_output=True, text=True)
    loop = time.perf_counter() - t0
    walls = []
    for run in ("a", "b"):
        t0 = time.perf_counter()
        hoot("bench", "--models", seeds, "--device", "cuda", "--db", str(out / f"defaults-{run}.sqlite"),
             "--format", "csv", out=out, log=log)
        walls.append(time.perf_counter() - t0)
    log.append(f"GPU defaults over the seed variants: {walls[0]:.1f} s and {walls[1]:.1f} s wall; plain loop "
               f"{loop:.1f} s; ratio {walls[0] / loop:.2f} (target <= 1.5)")
    hoot("bench", "--models", seeds, "--device", "cuda", "--batch-size", "1", "--cuda-graphs", "--db", db,
         out=out, log=log)
    print(log[-1], flush=True)


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "cuda-out")
    out.mkdir(parents=True, exist_ok=True)
    db = str(out / "bench.sqlite")
    os.environ.setdefault("HOOT_DATA_DIR", str(out / "data"))
    from hoot.advisor.catalog import load_catalog

    seeds = ",".join(v.name for v in load_catalog().seed_variants())
    log: list[str] = []
    hoot("bench", "hardware", "--db", db, out=out, log=log)
    hoot("bench", "--models", TRIO, "--device", "cuda", "--batch-size", "1,64", "--dtype", "fp16", "--train",
         "--db", db, out=out, log=log)
    hoot("bench", "--models", TRIO, "--device", "cuda", "--batch-size", "1,64", "--dtype", "bf16", "--channels-last",
         "--db", db, out=out, log=log)
    hoot("bench", "--models", TRIO, "--device", "cuda", "--batch-size", "1,64", "--dtype", "fp32", "--train",
         "--db", db, out=out, log=log)
    # an out-of-memory batch must give an `oom` row and let the run go on
    hoot("bench", "--models", "resnet18,squeezenet1_1", "--device", "cuda", "--batch-size", "8192,1",
         "--input-size", "512", "--quick", "--db", db, out=out, log=log)
    t0 = time.perf_counter()
    hoot("bench", "--models", seeds, "--device", "cuda", "--quick", "--db", db, out=out, log=log)
    log.append(f"seed variants --quick on cuda: {time.perf_counter() - t0:.1f} s wall")
    targets(seeds, db, out, log)
    hoot("bench", "compare", "this,dtype=fp32", "this,dtype=fp16", "--models", TRIO, "--db", db, out=out, log=log)
    hoot("bench", "export", "--format", "json", "-o", str(out / "results.json"), "--db", db, out=out, log=log)
    hoot("bench", "report", "--output", str(out / "report"), "--db", db, out=out, log=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
