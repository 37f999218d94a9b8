#!/usr/bin/env bash
# Wheels for what hoot needs and a lent GPU machine lacks (Python 3.12 there; see
# benchmarks/gpu_session.sh). Run here, in the repo root; .whl/ is git-ignored and carried.
set -euo pipefail
rm -rf .whl && mkdir -p .whl
PLAT=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
PY=${PYTHON:-python3}
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLAT[@]}" \
  -d .whl yacs termcolor optuna alembic sqlalchemy colorlog mako greenlet import-linter grimp
"$PY" -m pip wheel -q --no-deps fvcore iopath -w .whl
# hoot itself as of now: the fallback when the machine cannot build the working tree
"${HOOT_PYTHON:-.venv/bin/python}" -m pip wheel -q --no-deps --no-build-isolation . -w .whl
rm -rf build
ls -1 .whl
du -sh .whl
