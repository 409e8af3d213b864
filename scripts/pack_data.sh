#!/bin/bash
# Pack what scripts/paper_on_gpu.sh needs to travel to a machine without data or git: the four MNIST
# files gzipped (about 11 MB instead of 53) and the commit the results will name.
#   scripts/pack_data.sh DEST   (DEST should be a folder git ignores, e.g. .gpudata)
set -eu
DEST=$1
RAW=${FFREPRO_DATA:-$HOME/.cache/ffrepro/data}/MNIST/raw
mkdir -p "$DEST"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  gzip -9 -c "$RAW/$f" > "$DEST/$f.gz"
done
git rev-parse HEAD > "$DEST/COMMIT"
git status --porcelain --untracked-files=no > "$DEST/DIRTY"
du -sh "$DEST"
