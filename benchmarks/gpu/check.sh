#!/usr/bin/env bash
# The GPU check on a bare GPU machine (see benchmarks/gpu/README.md): install what the image lacks
# from the carried .gpu/wheels, install this package in editable mode, then run check.py.
#
#   benchmarks/gpu/check.sh                 # on the GPU, from the repository root, .gpu/ carried along
#   PYTHON=.venv/bin/python benchmarks/gpu/check.sh --rehearse   # the same path on a CPU
#
# Torch is the image's CUDA build (torch 2.11 + CUDA 13 on the H200 image); the project's CPU pin
# (torch==2.13.0) is for CPU machines only, and a CUDA wheel is far over what may travel.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
if [ ! -f .gpu/prepared.json ]; then
    echo "check.sh: .gpu/prepared.json missing: run benchmarks/gpu/prepare.sh first (and carry .gpu)" >&2
    exit 2
fi
site=$(mktemp -d)
build=$(mktemp -d)
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$build" \
    .gpu/wheels/setuptools-*.whl .gpu/wheels/wheel-*.whl || exit 3
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
    $(ls .gpu/wheels/*.whl | grep -v -e /setuptools- -e /wheel-) || exit 3
PYTHONPATH="$build" "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 3
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
if [[ " $* " != *" --rehearse "* ]]; then
    "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'" || exit 4
fi
exec "$PY" benchmarks/gpu/check.py "$@"
