"""Issue 9's GPU figures, in parts that each fit one device command (< 10 minutes).

    python3 benchmarks/bench_cuda.py proofs OUT      # the CUDA paths, once each (~4 min)
    python3 benchmarks/bench_cuda.py all OUT         # `hoot bench --all` GPU defaults vs a plain loop (~9 min)
    python3 benchmarks/bench_cuda.py agreement OUT   # two back-to-back runs; graphs vs torch.utils.benchmark (~6 min)

benchmarks/gpu_session.sh runs them on a lent GPU machine (wheels, install, $OUT). Each part
writes OUT/<part>.json (the figures and whether each target is met), OUT/<part>_log.txt
(every hoot command with its exit code, wall time and output), updated after every step, so
a part stopped at the device's time limit still leaves what it measured, and
OUT/<part>-results.json (the rows, `hoot bench export`). Databases stay in HOOT_GPU_WORK
(/tmp/hoot-gpu): the device returns at most 8 files.

- proofs: CUDA events, fp16/bf16 autocast, channels-last, allocator peaks, the NVML
  fingerprint, `--train` with the automatic batch size (target: found in <= 10 s per model,
  the rows' `auto_batch_s`), an out-of-memory row that lets the run go on, CUDA graph rows.
- all: `hoot bench --all` with the GPU defaults (batch 1 and 64 in bf16, else fp16), wall
  time (target <= 5 min), then a plain loop over the same variants and settings in the same
  process tree: build, move to the GPU, the same warm-up and as many timed calls as hoot's
  row says it timed, each synchronised (target: hoot <= 1.5x the loop).
- agreement: the seed variants measured twice back to back (GPU defaults, then
  `--cuda-graphs` at batch 1): per model, the two runs' medians within 5 % at the throughput
  batch and for the graph; eager batch 1 reports its spread. Then the graphed medians
  against torch.utils.benchmark timing the same captured graph's replay (target within 5 %).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TRIO = "resnet18,mobilenet_v3_large,efficientnet_b0"
#: BENCH_CUDA_DRY=1 checks this script on a CPU before a GPU session spends device time on it:
#: cpu instead of cuda, two small models instead of --all and the seeds, no graph steps.
DRY = os.environ.get("BENCH_CUDA_DRY") == "1"
DEVICE = "cpu" if DRY else "cuda"
SMALL = "squeezenet1_1,shufflenet_v2_x0_5"
GRAPH_CHECK = ["resnet18", "resnet50", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x1_0",
               "squeezenet1_1"]


class Part:
    """One part's log and figures, written to OUT after every step."""

    def __init__(self, name: str, out: Path) -> None:
        self.name, self.out = name, out
        self.log: list[str] = []
        self.figures: dict[str, Any] = {"part": name, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        out.mkdir(parents=True, exist_ok=True)

    def save(self) -> None:
        (self.out / f"{self.name}_log.txt").write_text("\n".join(self.log), encoding="utf-8")
        (self.out / f"{self.name}.json").write_text(json.dumps(self.figures, indent=2, default=str), encoding="utf-8")

    def note(self, text: str) -> None:
        print(text, flush=True)
        self.log.append(text)
        self.save()

    def hoot(self, *args: str, timeout_s: float | None = None) -> tuple[int, float, str, str]:
        """Run the hoot CLI; past `timeout_s` it gets Ctrl-C (its rows are kept), then a kill."""
        cmd = [sys.executable, "-m", "hoot.cli", *args]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                stdout, stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
        took = time.perf_counter() - t0
        self.note(f"$ hoot {' '.join(args)}   # exit {proc.returncode}, {took:.1f} s\n{stdout[-3000:]}\n{stderr[-1500:]}")
        return proc.returncode, took, stdout, stderr


def rows_of(db: str, **filters: Any) -> list[dict[str, Any]]:
    from hoot.bench.store import ResultStore

    store = ResultStore(db, readonly=True)
    try:
        return store.rows(filters)
    finally:
        store.close()


def half() -> str:
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def proofs(part: Part, db: str) -> None:
    part.hoot("bench", "hardware", "--db", db)
    for extra in (["--dtype", "fp16", "--train"], ["--dtype", "bf16", "--channels-last"], ["--dtype", "fp32", "--train"]):
        part.hoot("bench", "--models", TRIO, "--device", "cuda", "--batch-size", "1,64", *extra, "--db", db)
    auto = {r["variant"] + "/" + r["dtype"]: r.get("auto_batch_s") for r in rows_of(db, mode="train")
            if r.get("auto_batch_s") is not None}
    part.figures["auto_batch_s"] = auto
    part.figures["auto_batch_target_met"] = bool(auto) and max(auto.values()) <= 10.0
    # an out-of-memory batch must give an `oom` row and let the run go on
    part.hoot("bench", "--models", "resnet18,squeezenet1_1", "--device", "cuda", "--batch-size", "8192,1",
              "--input-size", "512", "--quick", "--db", db)
    statuses = sorted({(r["variant"], r["batch_size"], r["status"]) for r in rows_of(db, input_size=512)})
    part.figures["oom_rows"] = statuses
    part.hoot("bench", "--models", TRIO, "--device", "cuda", "--batch-size", "1", "--cuda-graphs", "--db", db)
    part.hoot("bench", "show", "--db", db)
    part.hoot("bench", "compare", "this,dtype=fp32", "this,dtype=fp16", "--models", TRIO, "--db", db)
    part.save()


LOOP = r"""
import json, sys, time, torch
from hoot.bench.models import build_model
from hoot.advisor.catalog import load_catalog
plan = json.loads(sys.argv[1])  # [[variant, batch, dtype, iterations], ...]
catalog = load_catalog()
dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": None}
t0 = time.perf_counter()
per_model = {}
for variant, batch, dtype, iterations in plan:
    s = time.perf_counter()
    v = catalog.get(variant)
    dev = sys.argv[2]
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    model = build_model(variant, pretrained=False, catalog=catalog).eval().to(dev)
    x = torch.randn(batch, 3, v.native_input_px, v.native_input_px, device=dev)
    with torch.inference_mode(), torch.autocast(dev, dtype=dtypes[dtype], enabled=dtypes[dtype] is not None):
        for _ in range(10):
            model(x)
        sync()
        for _ in range(iterations):
            model(x)
            sync()
    per_model[f"{variant}/{batch}"] = time.perf_counter() - s
    del model, x
print(json.dumps({"total_s": time.perf_counter() - t0, "per_model_s": per_model}))
"""


def all_variants(part: Part, db: str) -> None:
    """--all with the GPU defaults, then the matched plain loop; stop hoot at 6 min to leave the loop room."""
    which = ["--models", SMALL] if DRY else ["--all"]
    code, wall, _, stderr = part.hoot("bench", *which, "--device", DEVICE, "--db", db, "--format", "csv", "--debug",
                                      timeout_s=330)
    from hoot.bench.phases import parse_phases

    spent: dict[str, dict[str, float]] = {}
    for p in parse_phases(stderr.replace("\r", "\n").splitlines()):  # where hoot's time went, by scope and phase
        parts = {"cli": p} if p.get("scope") != "job" else {"job_parent": p.get("parent", {}), "job_child": p.get("child", {})}
        for scope_name, record in parts.items():
            scope = spent.setdefault(scope_name, {})
            for name, seconds in (record.get("seconds") or {}).items():
                scope[name] = round(scope.get(name, 0.0) + float(seconds), 2)
    part.figures["phases_s"] = spent
    rows = [r for r in rows_of(db) if r["device"].startswith(DEVICE) and r["status"] == "ok" and r.get("iterations")]
    variants = sorted({r["variant"] for r in rows})
    part.figures.update(hoot_exit=code, hoot_wall_s=round(wall, 1), variants_done=len(variants),
                        wall_target_met=code == 0 and wall <= 300)
    plan = [[r["variant"], r["batch_size"], r["dtype"], int(r["iterations"])] for r in rows]
    part.save()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LOOP, json.dumps(plan), DEVICE], capture_output=True, text=True,
                          timeout=200)
    if proc.returncode != 0:
        part.note(f"plain loop failed: {proc.stderr[-2000:]}")
        return
    loop = json.loads(proc.stdout.strip().splitlines()[-1])
    loop_wall = time.perf_counter() - t0
    ratio = wall / loop_wall if loop_wall else None
    part.figures.update(loop_wall_s=round(loop_wall, 1), loop_timed_s=round(loop["total_s"], 1),
                        ratio=round(ratio, 2) if ratio else None, ratio_target_met=bool(ratio and ratio <= 1.5))
    part.note(f"hoot bench --all (GPU defaults): {wall:.1f} s for {len(variants)} variants (exit {code}); plain loop "
              f"over the same {len(plan)} settings: {loop_wall:.1f} s; ratio {ratio:.2f} (target <= 1.5, wall <= 300 s)")


def graph_reference(variants: list[str], dtype: str) -> dict[str, float]:
    """torch.utils.benchmark's median of the same captured graph's replay (batch 1, native size)."""
    import torch
    from torch.utils import benchmark

    from hoot.advisor.catalog import load_catalog
    from hoot.bench.graphs import capture_inference
    from hoot.bench.models import build_model

    catalog, out = load_catalog(), {}
    for name in variants:
        v = catalog.get(name)
        model = build_model(name, pretrained=False, catalog=catalog).eval().cuda()
        x = torch.randn(1, 3, v.native_input_px, v.native_input_px, device="cuda")
        replay = capture_inference(model, x, torch.device("cuda"), dtype)
        m = benchmark.Timer("replay()", globals={"replay": replay}).blocked_autorange(min_run_time=2.0)
        out[name] = m.median * 1e3
        del model, x, replay
        torch.cuda.empty_cache()
    return out


def agreement(part: Part, work: Path) -> None:
    from hoot.advisor.catalog import load_catalog

    seeds = SMALL if DRY else ",".join(v.name for v in load_catalog().seed_variants())
    dbs = [str(work / f"agree-{run}.sqlite") for run in ("a", "b")]
    for db in dbs:  # back to back: defaults (batch 1 and 64, half precision), then graphs at batch 1
        part.hoot("bench", "--models", seeds, "--device", DEVICE, *(["--batch-size", "1,8"] if DRY else []),
                  "--db", db, "--format", "csv")
        if not DRY:
            part.hoot("bench", "--models", seeds, "--device", "cuda", "--batch-size", "1", "--cuda-graphs",
                      "--db", db, "--format", "csv")
    a, b = ({(r["variant"], r["batch_size"], r["runtime"]): r for r in rows_of(db) if r["status"] == "ok"} for db in dbs)
    diffs: dict[str, dict[str, float]] = {"throughput_batch": {}, "cuda_graph_b1": {}, "eager_b1_spread_pct": {}}
    for key in sorted(set(a) & set(b)):
        variant, batch, runtime = key
        d = 100.0 * (b[key]["latency_ms"] / a[key]["latency_ms"] - 1.0)
        if runtime == "cuda_graph":
            diffs["cuda_graph_b1"][variant] = round(d, 2)
        elif batch > 1:
            diffs["throughput_batch"][variant] = round(d, 2)
        else:
            spread = a[key].get("latency_spread_ms") or 0.0
            diffs["eager_b1_spread_pct"][variant] = round(100.0 * spread / a[key]["latency_ms"], 2)
    part.figures["run_b_vs_a_pct"] = diffs
    for k in ("throughput_batch", "cuda_graph_b1"):
        values = list(diffs[k].values())
        part.figures[f"{k}_within_5pct"] = f"{sum(abs(v) <= 5 for v in values)} of {len(values)}"
    part.save()
    if DRY:
        return
    dtype = next((r["dtype"] for r in a.values() if r["runtime"] == "cuda_graph"), half())
    ref = graph_reference(GRAPH_CHECK, dtype)
    vs = {n: round(100.0 * (a[(n, 1, "cuda_graph")]["latency_ms"] / ms - 1.0), 2)
          for n, ms in ref.items() if (n, 1, "cuda_graph") in a}
    part.figures["cuda_graph_vs_torch_benchmark_pct"] = vs
    part.figures["cuda_graph_vs_torch_benchmark_within_5pct"] = f"{sum(abs(v) <= 5 for v in vs.values())} of {len(vs)}"
    part.note(f"back-to-back: {json.dumps(diffs)}\ngraphs vs torch.utils.benchmark (%): {json.dumps(vs)}")
    if vs:
        part.note(f"median |graph - reference|: {statistics.median(abs(v) for v in vs.values()):.2f} %")


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("proofs", "all", "agreement"):
        print(__doc__)
        return 2
    name = sys.argv[1]
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "cuda-out")
    work = Path(os.environ.get("HOOT_GPU_WORK", "/tmp/hoot-gpu"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HOOT_DATA_DIR", str(work / "data"))
    import torch

    if not torch.cuda.is_available() and not DRY:
        print("bench_cuda.py needs a CUDA device (torch.cuda.is_available() is False; BENCH_CUDA_DRY=1 checks it on a CPU)")
        return 2
    part = Part(name, out)
    part.figures["gpu"] = "none (BENCH_CUDA_DRY=1 on the CPU)" if DRY else torch.cuda.get_device_name(0)
    db = str(work / f"{name}.sqlite")
    try:
        {"proofs": lambda: proofs(part, db), "all": lambda: all_variants(part, db),
         "agreement": lambda: agreement(part, work)}[name]()
        part.figures["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    finally:
        part.save()
        for path in ([db] if name != "agreement" else [str(work / "agree-a.sqlite")]):
            if Path(path).is_file():
                part.hoot("bench", "export", "--format", "json", "-o", str(out / f"{name}-results.json"), "--db", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
