#!/usr/bin/env bash
# Every GPU figure issues 9 and 10 ask for, in parts that each fit one command on a lent GPU
# machine (< 10 minutes; the session has 30 minutes of device time in all).
#
# Here, once:   bash tools/device_wheels.sh      (wheels the machine lacks, into .whl/, ignored)
# There, with `.whl` carried, one part per device command:
#   bash benchmarks/gpu_session.sh tests       # pytest -m gpu, then the whole default suite
#   bash benchmarks/gpu_session.sh proofs      # the CUDA paths of hoot bench, auto batch <= 10 s
#   bash benchmarks/gpu_session.sh all         # hoot bench --all GPU defaults: <= 5 min, <= 1.5x a loop
#   bash benchmarks/gpu_session.sh agreement   # two runs within 5 %; graphs vs torch.utils.benchmark
#   bash benchmarks/gpu_session.sh train       # bake-off >= 80 % of model-only; digits shortlist wall time
# Results land in $OUT (what the device tool brings back): <part>.json, <part>_log.txt and the
# rows as <part>-results.json (benchmarks/results/<gpu>.json is made from these).
set -uo pipefail
part=${1:?usage: gpu_session.sh tests|proofs|all|agreement|train}
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HOOT_GPU_WORK=/tmp/hoot-gpu HOOT_DATA_DIR=/tmp/hoot-gpu/data
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheels did not install: run tools/device_wheels.sh here and carry .whl"; exit 2; }
# hoot itself, from this working tree (its folders install as hoot.*; setuptools is on the machine)
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/site . \
  || echo "warning: hoot did not build from the working tree; using .whl/hoot-*.whl (made by tools/device_wheels.sh)"
export PYTHONPATH=/tmp/site
python3 -c "import torch, hoot.cli; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
case "$part" in
  tests)
    timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu --junitxml="$OUT/gpu-tests.xml" 2>&1 | tee "$OUT/gpu-tests.txt"
    timeout 400 python3 -m pytest -q -p no:cacheprovider -x --junitxml="$OUT/suite.xml" 2>&1 | tail -60 > "$OUT/suite.txt"
    tail -5 "$OUT/suite.txt" ;;
  proofs|all|agreement)
    timeout 570 python3 benchmarks/bench_cuda.py "$part" "$OUT" ;;
  train)
    timeout 330 python3 benchmarks/train_throughput.py --devices cuda,cpu --sizes 64,224 --pairs 9 \
      --json "$OUT/train_throughput.json" 2>&1 | tee "$OUT/train_throughput.txt"
    timeout 220 python3 benchmarks/shortlist_wall.py --device cuda --json "$OUT/shortlist_wall.json" \
      2>&1 | tail -40 > "$OUT/shortlist_wall.txt" ;;
  *) echo "unknown part '$part'"; exit 2 ;;
esac
