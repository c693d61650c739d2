#!/usr/bin/env bash
# Stage what bench/gpu_check.py reads into one folder small enough to travel with the work tree to a
# device machine (the work tree, untracked files and carried paths: 64 MiB in all): MANIFEST.json, one
# weights file, the first IMAGES/2 JPEGs of each Dogs vs Cats training class, and the wheels of
# bench/gpu_wheels.txt (Keras for a machine with PyTorch/JAX and no Keras).
#
# Usage: bench/gpu_stage.sh [DEST]          (DEST defaults to .gpu; it is git-ignored)
#   env: BOTTLENECK_SHARED (default ../shared beside the repository), WEIGHTS (a file name in
#        $BOTTLENECK_SHARED/weights, default vgg16_imagenet_torchvision_notop.h5), IMAGES (default 200),
#        WHEELS (a folder of wheels already downloaded, or "none"; default: bench/gpu_wheels.sh downloads them)
# Then, on the device, ONE command (carry .gpu): bash bench/gpu_run.sh .gpu
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${BOTTLENECK_SHARED:-$repo/../shared}
weights=${WEIGHTS:-vgg16_imagenet_torchvision_notop.h5}
images=${IMAGES:-200}
dest=${1:-$repo/.gpu}
wheels=${WHEELS:-download}
# What travels beside the staged folder: the tracked and untracked-not-ignored files of the work tree.
tree=$(cd "$repo" && git ls-files -co --exclude-standard -z 2>/dev/null | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
limit=$((64 * 1024 * 1024 - ${tree:-0}))

[[ -f "$shared/weights/$weights" ]] || { echo "gpu_stage: no weights file $shared/weights/$weights" >&2; exit 1; }
[[ "$images" =~ ^[1-9][0-9]*$ ]] || { echo "gpu_stage: IMAGES must be a positive integer, got '$images'" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest/weights"
cp "$shared/weights/MANIFEST.json" "$shared/weights/$weights" "$dest/weights/"
per_class=$(( (images + 1) / 2 ))
for class in cats dogs; do
    source_dir="$shared/data/dogs_vs_cats/train/$class"
    [[ -d "$source_dir" ]] || { echo "gpu_stage: no image folder $source_dir" >&2; exit 1; }
    mkdir -p "$dest/data/dogs_vs_cats/train/$class"
    # Sorted by name, as gpu_check.py picks them: the same images on every machine.
    # (No `| head`: it would close the pipe early and, under pipefail, fail the script with SIGPIPE.)
    mapfile -t files < <(find "$source_dir" -maxdepth 1 -type f -name '*.jpg' | LC_ALL=C sort)
    (( ${#files[@]} )) || { echo "gpu_stage: no JPEGs in $source_dir" >&2; rm -rf "$dest"; exit 1; }
    cp -t "$dest/data/dogs_vs_cats/train/$class/" "${files[@]:0:per_class}"
done
if [[ "$wheels" == download ]]; then
    bash "$repo/bench/gpu_wheels.sh" "$dest/wheels" >/dev/null || { rm -rf "$dest"; exit 1; }
elif [[ "$wheels" != none ]]; then
    [[ -d "$wheels" ]] || { echo "gpu_stage: WHEELS is not a folder: $wheels" >&2; rm -rf "$dest"; exit 1; }
    mkdir -p "$dest/wheels" && cp -t "$dest/wheels/" "$wheels"/*.whl
fi
size=$(du -sb "$dest" | cut -f1)
if (( size > limit )); then
    rm -rf "$dest"  # an oversized folder would only fail later, at the device call
    echo "gpu_stage: $size bytes staged, over the 64 MiB the device tool carries with the work tree's ${tree:-0} bytes (removed $dest); pick smaller WEIGHTS or fewer IMAGES" >&2
    exit 1
fi
echo "gpu_stage: $dest holds $weights, $(find "$dest" -name '*.whl' | wc -l) wheels and $(find "$dest/data" -name '*.jpg' | wc -l) JPEGs, $size bytes (limit $limit)"
