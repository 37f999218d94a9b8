"""Two `hoot shortlist --worker` processes against one: bake-off wall time and storage overhead.

Side by side in one run (alternating 1-worker and 2-worker bake-offs, `--repeats` each):
the same 4 candidates, data, seed and budget, each process with ONE torch thread (so two
workers use the two cores of a 2-core machine and one worker uses one: the point is how
well the bake-off spreads over processes, not torch's intra-op threading). The bake-off wall
time is the coordinator's run_bakeoff, from the first rung queued to the last result back
(prepare and the fine-tune are excluded; both configurations pay them alike).

Targets (issue 5): 2 workers <= 0.65 x the wall time of 1 worker; storage calls <= 5% of
wall time in every process (heartbeats run on a side thread and are not counted).

    python benchmarks/scaleout_workers.py [--storage postgresql://...] [--repeats 2]

Without --storage it uses $HOOT_TEST_POSTGRES_URL, else a sqlite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from advisor.render import render  # noqa: E402
from tests.trainer.conftest import make_imagefolder  # noqa: E402
from trainer import study as st  # noqa: E402

# four small models whose training costs are within ~1.7x of each other on a CPU
CANDIDATES = "mobilenet_v3_small,mnasnet0_5,shufflenet_v2_x1_0,squeezenet1_1"


def run_bakeoff(data: Path, out: Path, storage: str, workers: int, steps: int, tag: str) -> dict:
    name = f"bench-{tag}-{uuid.uuid4().hex[:6]}"
    common = ["shortlist", str(data), "--candidates", CANDIDATES, "--no-pretrained", "--image-size", "64",
              "--batch-size", "16", "--steps", str(steps), "--full-epochs", "0", "--threads", "1", "--seed", "0",
              "--output", str(out), "--storage", storage, "--study", name]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    logs = out / f"{tag}.log"
    logs.parent.mkdir(parents=True, exist_ok=True)
    hoot = [sys.executable, "-m", "advisor.cli"]
    with open(logs, "w") as log:
        coord = subprocess.Popen([*hoot, *common, "--run-id", f"coord-{tag}"], env=env, cwd=REPO, stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                st.load(st.open_storage(storage, create=False), name)
                break
            except Exception:  # noqa: BLE001 - not created yet
                time.sleep(0.2)
        procs = [subprocess.Popen([*hoot, *common, "--worker"], env=env, cwd=REPO, stdout=log, stderr=log)
                 for _ in range(workers)]
        codes = [p.wait() for p in [coord, *procs]]
    if any(codes):
        raise SystemExit(f"a process failed ({codes}); see {logs}")
    attrs = st.load(st.open_storage(storage, create=False), name).attrs()
    summaries = [v for k, v in attrs.items() if k.startswith("worker_summary:")]
    shares = [s["storage_s"] / s["wall_s"] for s in summaries]
    shares.append(attrs["coordinator_storage_s"] / attrs["coordinator_bakeoff_s"])
    return {"workers": workers, "bakeoff_s": attrs["coordinator_bakeoff_s"], "winner": attrs["winner"],
            "rungs_per_worker": "/".join(str(s["rungs_trained"]) for s in summaries),
            "max_storage_share_pct": round(100 * max(shares), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=os.environ.get("HOOT_TEST_POSTGRES_URL"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60, help="rung-0 budget in optimiser steps (batch 16)")
    parser.add_argument("--per-class", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hoot-scaleout-bench-") as tmp:
        tmp_path = Path(tmp)
        storage = args.storage or f"sqlite:///{tmp_path / 'bench.db'}"
        st.open_storage(storage, create=True)  # the schema once, before any process connects
        data = make_imagefolder(tmp_path / "data", per_class=args.per_class, size=64)
        rows = []
        for i in range(args.repeats):
            for workers in (1, 2):  # alternate, so drifts in machine load hit both alike
                row = run_bakeoff(data, tmp_path / "out", storage, workers, args.steps, f"{workers}w{i}")
                row["repeat"] = i + 1
                rows.append(row)
                print(f"  {workers} worker(s), repeat {i + 1}: {row['bakeoff_s']:.1f}s", file=sys.stderr, flush=True)
        one = statistics.median(r["bakeoff_s"] for r in rows if r["workers"] == 1)
        two = statistics.median(r["bakeoff_s"] for r in rows if r["workers"] == 2)
        print(render(rows, "markdown", ["workers", "repeat", "bakeoff_s", "rungs_per_worker", "max_storage_share_pct", "winner"]))
        backend = storage.split(":", 1)[0]
        print(f"\nstorage: {backend}; cores: {os.cpu_count()}; 1 torch thread per process; candidates: {CANDIDATES}")
        print(f"median bake-off wall time: 1 worker {one:.1f}s, 2 workers {two:.1f}s -> ratio {two / one:.3f} "
              f"(target <= 0.65): {'PASS' if two / one <= 0.65 else 'FAIL'}")
        worst = max(r["max_storage_share_pct"] for r in rows)
        print(f"storage calls: at most {worst:.2f}% of a process's wall time (target <= 5%): {'PASS' if worst <= 5 else 'FAIL'}")
        winners = {r["winner"] for r in rows}
        print(f"winner in every run: {', '.join(sorted(winners))}{'' if len(winners) == 1 else '  (DIFFERENT WINNERS)'}")


if __name__ == "__main__":
    main()
