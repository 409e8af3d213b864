#!/bin/bash
# Pack what scripts/paper_on_gpu.sh needs to travel to a machine without data or git: the four MNIST
# files gzipped (about 11 MB instead of 53), the commit the results will name (stamped with the tree's
# hashes, so a tree changed after packing records "unknown"; repack after a commit), and, with `cifar10`,
# CIFAR-10's verified uint8 cache xz-compressed (139 MB from 184) in three parts of at most 47 MB
# (each call to such a machine carries 64 MiB, the working tree included) with its sha256.
#   scripts/pack_data.sh DEST [cifar10]   (DEST should be a folder git ignores, e.g. .gpudata)
# The parts then travel one call each to DEST/cifar10/ there (see the README's GPU section).
set -eu
DEST=$1
ROOT=${FFREPRO_DATA:-$HOME/.cache/ffrepro/data}
RAW=$ROOT/MNIST/raw
mkdir -p "$DEST"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  gzip -9 -c "$RAW/$f" > "$DEST/$f.gz"
done
"$(dirname "$0")/paper_on_gpu.sh" --stamp "$DEST"  # COMMIT, DIRTY and TREE: the results there record this commit
if [ "${2:-}" = cifar10 ]; then
  CACHE=$ROOT/cifar10/cifar10-uint8.pt
  [ -f "$CACHE" ] || { echo "no $CACHE: run \`make data\` first" >&2; exit 2; }
  mkdir -p "$DEST/cifar10"
  rm -f "$DEST/cifar10/"cifar10-uint8.pt.xz.part-*
  (cd "$(dirname "$CACHE")" && sha256sum cifar10-uint8.pt) > "$DEST/cifar10/cifar10-uint8.pt.sha256"
  xz -6 -c "$CACHE" | split -b 47M -d -a 2 - "$DEST/cifar10/cifar10-uint8.pt.xz.part-"
fi
du -sh "$DEST" "$DEST"/cifar10/* 2>/dev/null || true  # no cifar10/ folder unless it was asked for
