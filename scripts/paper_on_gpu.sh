#!/bin/bash
# The paper profile on a GPU machine that has torch but no package registry and no data (issue 12):
# unpack the MNIST files that travelled with the call, check each method on the GPU at smoke size,
# then run every missing or incomplete paper-profile (experiment, seed) as parallel processes
# within a time budget, and pack the results and logs into OUT_DIR.
#
#   scripts/paper_on_gpu.sh DATA_DIR BUDGET_MINUTES PARALLEL OUT_DIR [PROFILE]
#
# DATA_DIR holds the four original MNIST files gzipped and, for CIFAR-10, DATA_DIR/cifar10/ the parts
# of its xz-compressed uint8 cache and the cache's sha256 (scripts/pack_data.sh makes both); each
# data set is verified (md5 sums; sha256, class counts and hashes of the arrays) before anything
# trains. Environment: IDS (entries to run, default all), PREFLIGHT=0 (skip the smoke check),
# PREFLIGHT_IDS (entries the preflight tries, default IDS or one per MNIST method), MIN_START
# (minutes, default 1), FFREPRO_TF32=1 (float32 matmuls on TF32 units, recorded as the precision),
# VALIDATE_TF32=ID (meanwhile run ID's cpu profile, seed 0, in fp32 and in TF32 side by side, to
# show what TF32 changes), BENCH=1 (first `make bench` on this device, about two minutes before the
# queue starts, saved as results/bench/cuda.json: each path's seconds per epoch and achieved GFLOP/s),
# STACK=0 (one process per seed; by default an entry whose config stacks trains its missing seeds as
# one stacked model in one process, `run --stack`, checked at smoke size first).
# PROFILE (default paper) lets the whole script be tried on a CPU with `smoke` first.
#
# Provenance: the GPU machine has no git, so the commit travels with the tree. Just before each call,
# on the machine with git, stamp the data folder:
#
#   scripts/paper_on_gpu.sh --stamp DATA_DIR
#
# writes DATA_DIR/COMMIT (git's HEAD), DATA_DIR/DIRTY (true or false: tracked files differ from HEAD)
# and DATA_DIR/TREE (the sha256 of every tracked file as it is now). There, the script checks TREE
# against the tree that travelled and only then exports FFREPRO_GIT_COMMIT and FFREPRO_GIT_DIRTY, which
# the results' provenance records (ffrepro.results.git_state); a stale or missing stamp is said, and the
# results record the commit as "unknown" instead of a wrong one. No results file is edited afterwards.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = --stamp ]; then
  DEST=${2:?usage: scripts/paper_on_gpu.sh --stamp DATA_DIR}
  mkdir -p "$DEST"
  commit=$(git -C "$ROOT" rev-parse HEAD) && status=$(git -C "$ROOT" status --porcelain --untracked-files=no) \
    || { echo "paper_on_gpu --stamp: git cannot tell the commit of $ROOT; run it in the checkout the call copies" >&2; exit 2; }
  echo "$commit" > "$DEST/COMMIT"
  [ -n "$status" ] && echo true > "$DEST/DIRTY" || echo false > "$DEST/DIRTY"
  (cd "$ROOT" && git ls-files -z | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done | xargs -0 -r sha256sum) > "$DEST/TREE"
  echo "stamped $DEST: commit $commit, dirty $(cat "$DEST/DIRTY"), $(wc -l < "$DEST/TREE") tracked files"
  exit 0
fi
DATA_IN=$1 BUDGET=$2 PARALLEL=$3 OUT_DIR=$4 PROFILE=${5:-paper}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export FFREPRO_DATA=${FFREPRO_DATA:-/tmp/ffrepro-data} FFREPRO_CHECKPOINTS=${FFREPRO_CHECKPOINTS:-/tmp/ffrepro-checkpoints}
WORK=$(mktemp -d)
mkdir -p "$OUT_DIR" "$FFREPRO_DATA/MNIST/raw"
t0=$(date +%s)
say() { echo "[paper_on_gpu $(date +%H:%M:%S) +$(( $(date +%s) - t0 ))s] $*"; }

# the commit that travelled with the tree, if the stamp (--stamp, above) is this tree's
if [ -f "$DATA_IN/COMMIT" ] && [ -f "$DATA_IN/DIRTY" ] && [ -f "$DATA_IN/TREE" ] \
   && (tree=$(realpath "$DATA_IN/TREE") && cd "$ROOT" && sha256sum --quiet --strict -c "$tree" > "$WORK/stamp-check.log" 2>&1); then
  export FFREPRO_GIT_COMMIT=$(cat "$DATA_IN/COMMIT") FFREPRO_GIT_DIRTY=$(cat "$DATA_IN/DIRTY")
  say "provenance: commit $FFREPRO_GIT_COMMIT, dirty $FFREPRO_GIT_DIRTY (the stamp in $DATA_IN matches this tree)"
else
  [ -f "$DATA_IN/TREE" ] && say "the stamp in $DATA_IN is not this tree's ($(grep -c FAILED "$WORK/stamp-check.log" 2>/dev/null) files differ, e.g. $(grep -m1 FAILED "$WORK/stamp-check.log" 2>/dev/null))"
  unset FFREPRO_GIT_COMMIT FFREPRO_GIT_DIRTY
  say "provenance: the results record the commit as git tells it here, else \"unknown\"; to record it, run \`scripts/paper_on_gpu.sh --stamp $DATA_IN\` before the call"
fi

if ls "$DATA_IN"/*-ubyte.gz >/dev/null 2>&1; then
  for f in "$DATA_IN"/*-ubyte.gz; do gunzip -c "$f" > "$FFREPRO_DATA/MNIST/raw/$(basename "$f" .gz)"; done
  $PY -m ffrepro data mnist || { say "MNIST check failed"; exit 3; }
fi
if ls "$DATA_IN"/cifar10/cifar10-uint8.pt.xz.part-* >/dev/null 2>&1; then
  mkdir -p "$FFREPRO_DATA/cifar10"
  cat "$DATA_IN"/cifar10/cifar10-uint8.pt.xz.part-* | xz -d > "$FFREPRO_DATA/cifar10/cifar10-uint8.pt"
  (cd "$FFREPRO_DATA/cifar10" && sha256sum -c "$DATA_IN/cifar10/cifar10-uint8.pt.sha256") || { say "CIFAR-10 parts incomplete or corrupt"; exit 3; }
  $PY -m ffrepro data cifar10 || { say "CIFAR-10 check failed"; exit 3; }
fi
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader

# CUDA MPS lets the processes' kernels run side by side instead of time-sliced. Used only if its
# daemon starts and a client works within a minute; otherwise the processes share the GPU plainly.
mps_off() {  # stop the daemon; without MPS, fewer processes share the GPU better
  echo quit | timeout 10 nvidia-cuda-mps-control; unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  PARALLEL=$(( PARALLEL > 8 ? 8 : PARALLEL ))
}
if [ "$PROFILE" != smoke ] && command -v nvidia-cuda-mps-control >/dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
  mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
  if nvidia-cuda-mps-control -d && timeout 60 $PY -c "import torch; assert torch.ones(4, device='cuda').sum().item() == 4"; then
    say "CUDA MPS on"
  else
    say "CUDA MPS unusable; the processes share the GPU without it"
    mps_off
  fi
fi

# Preflight: one epoch of every method at smoke size on this device, results to a scratch folder.
preflight() {
  local pids=() failed=0
  for id in ${PREFLIGHT_IDS:-${IDS:-mnist-ff-jitter mnist-ff-hard-negatives mnist-ff-unsupervised-local mnist-ff-recurrent mnist-bp-jitter}}; do
    FFREPRO_RESULTS=$WORK/preflight FFREPRO_CHECKPOINTS=$WORK/preflight-ck \
      $PY -m ffrepro run $id --profile smoke --stop-after-epochs 1 --no-progress > "$WORK/preflight-$id.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait $pid || failed=1; done
  return $failed
}
if [ "${PREFLIGHT:-1}" = 1 ] && ! preflight; then
  say "preflight FAILED; logs:"; tail -n 15 "$WORK"/preflight-*.log
  if [ -n "${CUDA_MPS_PIPE_DIRECTORY:-}" ]; then
    say "trying again without CUDA MPS"
    mps_off
    preflight || { say "preflight FAILED again"; tail -n 15 "$WORK"/preflight-*.log; exit 5; }
  else
    exit 5
  fi
fi
[ "${PREFLIGHT:-1}" = 1 ] && say "preflight passed: every method trains and evaluates on this device"
if [ "${STACK:-1}" = 1 ]; then  # stacked seeds (ffrepro.stacked) at smoke size; without them, seed by seed
  if FFREPRO_RESULTS=$WORK/preflight-stack FFREPRO_CHECKPOINTS=$WORK/preflight-stack-ck \
     $PY -m ffrepro run mnist-ff-hard-negatives mnist-ff-unsupervised mnist-ff-sleep/phases-k10-lr0.01-s0.9-max_ssq mnist-ff-blackbox mnist-ff-recurrent mnist-bp-blackbox mnist-ff-unsupervised-local --profile smoke --seed 0 1 --stack \
       --stop-after-epochs 1 --no-progress > "$WORK/preflight-stack.log" 2>&1; then
    say "stacked seeds train on this device"
  else
    say "stacked seeds FAILED here (preflight-stack.log in the logs); running the seeds one by one"; STACK=0
  fi
fi

if [ "${BENCH:-0}" = 1 ]; then  # while the GPU has nothing else to do, so the timings are its own
  if timeout 600 $PY -m ffrepro bench > "$WORK/bench.log" 2>&1; then say "bench saved: $(tail -n 1 "$WORK/bench.log")"; else say "bench FAILED (bench.log in the logs); going on"; fi
fi

vpids=()
if [ -n "${VALIDATE_TF32:-}" ]; then  # the same run in fp32 and TF32, beside the queue
  for precision in fp32 tf32; do
    FFREPRO_TF32=$([ $precision = tf32 ] && echo 1 || echo 0) FFREPRO_RESULTS=$WORK/validate-$precision FFREPRO_CHECKPOINTS=$WORK/validate-ck-$precision \
      $PY -m ffrepro run "$VALIDATE_TF32" --profile "${VALIDATE_PROFILE:-cpu}" --seed 0 --no-progress > "$WORK/validate-$precision.log" 2>&1 &
    vpids+=($!)
  done
fi
$PY -m ffrepro queue ${IDS:-} --profile "$PROFILE" --seeds ${SEEDS:-0 1 2} --parallel "$PARALLEL" --budget "$BUDGET" --min-start "${MIN_START:-1}" --log-dir "$WORK/logs" \
  $([ "${STACK:-1}" = 1 ] && echo --stack)
rc=$?
for pid in "${vpids[@]}"; do wait $pid; done
[ -n "${VALIDATE_TF32:-}" ] && tar czf "$OUT_DIR/validate-tf32.tgz" -C "$WORK" $(cd "$WORK" && ls -d validate-fp32 validate-tf32 validate-*.log 2>/dev/null)
[ -n "${CUDA_MPS_PIPE_DIRECTORY:-}" ] && echo quit | timeout 10 nvidia-cuda-mps-control
tar czf "$OUT_DIR/results-$PROFILE.tgz" results/*/"$PROFILE" $([ "${BENCH:-0}" = 1 ] && ls results/bench/*.json 2>/dev/null)
tar czf "$OUT_DIR/logs-$PROFILE.tgz" -C "$WORK" logs $(cd "$WORK" && ls preflight-*.log bench.log 2>/dev/null)
say "packed $(ls "$OUT_DIR")"
exit $rc
