#!/usr/bin/env bash
# The GPU check as ONE command on a device machine (after bench/gpu_stage.sh here; carry .gpu):
#     bash bench/gpu_run.sh [STAGED] [gpu_check.py options...]
# Installs the staged wheels (Keras and its pure-Python needs) when the machine's Python has no Keras,
# prints the GPU, then runs bench/gpu_check.py on the staged weights and JPEGs, writing
# gpu_check.json and gpu_check.md to $OUT (the device tool's folder that comes back), else bench/gpu_check_out.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
staged=${1:-$repo/.gpu}
[[ $# -gt 0 ]] && shift
python=${PYTHON:-python3}
[[ -d "$staged/weights" ]] || { echo "gpu_run: nothing staged at $staged (run bench/gpu_stage.sh first)" >&2; exit 1; }
# Found, not imported: importing Keras here would pick its backend (TensorFlow by default, absent there)
if ! "$python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('keras') is None)" >/dev/null 2>&1; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/gpu_site \
        "$staged"/wheels/*.whl || { echo "gpu_run: the staged wheels do not install" >&2; exit 1; }
    export PYTHONPATH=/tmp/gpu_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 BOTTLENECK_SHARED=$staged
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
# `extract` first: it picks Keras's backend (JAX, else PyTorch) where TensorFlow is not installed
"$python" -c "import sys, extract, keras; print('python', sys.version.split()[0], 'keras', keras.__version__, 'on', keras.config.backend())" \
    || { echo "gpu_run: extract or Keras does not import (above)" >&2; exit 1; }
exec "$python" "$repo/bench/gpu_check.py" --out "${OUT:-$repo/bench/gpu_check_out}" --require-gpu "$@"
