#!/usr/bin/env bash
# Rehearse bench/gpu_run.sh here, on the CPU, as the device machine will see it: TensorFlow not
# importable at all, and Keras (with namex and optree) importable only from the staged wheels that
# gpu_run.sh installs into /tmp/gpu_site. A sitecustomize on PYTHONPATH hides them in every process of
# the run (decode workers and gpu_check's children too). A short run: a tiny MobileNet, few images.
#
# Usage: bash bench/gpu_simulate.sh [WORK]     (WORK defaults to a new temporary folder)
#   env: PYTHON (default: the work tree's .venv/bin/python), BOTTLENECK_SHARED (default ../shared),
#        WHEELS (a folder of wheels for this Python; default: bench/gpu_wheels.sh downloads them)
# Exit status: gpu_run.sh's (2 = the CPU part ran and no GPU was found: what a CPU should give).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
work=${1:-$(mktemp -d /tmp/gpu_simulate.XXXXXX)}
weights=mobilenet_2_5_128_tf_no_top.h5
mkdir -p "$work/hide" "$work/keras_home"
cat >"$work/hide/sitecustomize.py" <<'EOF'
import importlib.abc, importlib.machinery, sys
STAGED = "/tmp/gpu_site"  # where bench/gpu_run.sh installs the staged wheels
class _Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras", "tensorboard", "tf2onnx"):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden: simulating a machine without it)")
        if name in ("keras", "namex", "optree"):
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or not str(spec.origin or "").startswith(STAGED):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden outside {STAGED})")
        return None
sys.meta_path.insert(0, _Hidden())
EOF
version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
if [[ -z "${WHEELS:-}" ]]; then
    WHEELS="$work/wheels"
    PYTHON="$python" PY_VERSION="$version" bash "$repo/bench/gpu_wheels.sh" "$WHEELS" || exit 1
fi
WEIGHTS=$weights IMAGES=40 WHEELS="$WHEELS" bash "$repo/bench/gpu_stage.sh" "$work/staged" || exit 1
rm -rf /tmp/gpu_site  # as on a fresh machine: gpu_run.sh installs the wheels itself
# A fresh Keras home: Keras writes keras.json there on its first import (with "tensorflow" in it)
PYTHON="$python" PYTHONPATH="$work/hide" KERAS_HOME="$work/keras_home" OUT="$work/out" \
    bash "$repo/bench/gpu_run.sh" "$work/staged" --configs "mobilenet:128:$weights" --images 16 \
    --cpu-e2e-images 40 --min-seconds 1
status=$?
echo "gpu_simulate: gpu_run.sh exited $status; its table and JSON are in $work/out"
exit $status
