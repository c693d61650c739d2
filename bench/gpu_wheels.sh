#!/usr/bin/env bash
# Download the wheels of bench/gpu_wheels.txt for a Python 3.12 x86-64 machine into DEST (default
# .gpu/wheels) and print their total size. No dependencies are resolved (--no-deps): the list is exact.
# Usage: bench/gpu_wheels.sh [DEST]      env: PYTHON (default python3), PY_VERSION (default 3.12)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$repo/.gpu/wheels}
python=${PYTHON:-python3}
mapfile -t wanted < <(grep -v '^\s*#' "$repo/bench/gpu_wheels.txt" | grep -v '^\s*$')
mkdir -p "$dest"
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
    platforms+=(--platform "$tag")
done
if ! "$python" -m pip download -q --no-deps --only-binary=:all: --python-version "${PY_VERSION:-3.12}" \
        --implementation cp "${platforms[@]}" -d "$dest" "${wanted[@]}" >"$dest/.pip.log" 2>&1; then
    echo "gpu_wheels: pip download failed: $(grep -v '^\s*$' "$dest/.pip.log" | tail -1)" >&2
    exit 1
fi
rm -f "$dest/.pip.log"
echo "gpu_wheels: $(find "$dest" -name '*.whl' | wc -l) wheels in $dest, $(du -cb "$dest"/*.whl | tail -1 | cut -f1) bytes"
