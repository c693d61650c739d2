#!/usr/bin/env bash
# The README's "your own photos" path on a fresh clone, timed (bench/README.md, "The README's path on a
# fresh clone"): clone, install as the README says, then its three commands and the offline variant, with
# Dogs vs Cats as the photos. Usage: bash bench/readme_path.sh [WORK_DIR] (default /tmp/readme_path).
# Needs ../shared (data and weights) beside this repository, or BOTTLENECK_SHARED.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="${BOTTLENECK_SHARED:-$(cd "$repo/.." && pwd)/shared}"
work="${1:-/tmp/readme_path}"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
ln -s "$shared" shared
git clone -q "$repo" clone && cd clone
git log --oneline -1
t() { local s; s=$(date +%s.%N); "$@"; echo "TIME $(echo "$(date +%s.%N) - $s" | bc | xargs printf '%.1f') s :: $*"; }
uptime
t bash -c 'python3 -m venv .venv && .venv/bin/pip install -q -e . > pip.log 2>&1'
. .venv/bin/activate
# No internet on the project's machines: the weights folder stands in for Keras's download.
export BOTTLENECK_WEIGHTS_DIR=../shared/weights TF_CPP_MIN_LOG_LEVEL=2 COLUMNS=80
ln -s "$shared/data/dogs_vs_cats" my_photos
mkdir new_photos
python -c "
from pathlib import Path
from PIL import Image
for i, p in enumerate(sorted(Path('my_photos/validation').rglob('*.jpg'))[::80]):
    Image.open(p).save(f'new_photos/photo{i}.jpg', quality=90)  # new content: not in the store
"
t extract run --data my_photos/ --backbone mobilenet_v2 --store cache/
t heads fit --store cache/ --kind logreg
t heads predict --store cache/ --head logreg new_photos/ --format table
t heads predict --store cache/ --head logreg new_photos/ --format table
t extract run --data my_photos/ --backbone mobilenet_v2 --store cache/ \
    --weights ../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5
uptime
