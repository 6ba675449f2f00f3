#!/usr/bin/env bash
# Before/after step timing in one sitting: `diffprune-bench step --vs-full --vs-pytorch` on Tiny and
# Mini (SIZES, default "tiny mini"), alternating two checkouts (each installed, native addon built),
# PASSES passes (default 2).
# Each invocation's JSON goes to OUT_DIR/<pass>-<size>-<before|after>.json. Run it on an idle machine.
#   bash apps/bench/scripts/ab-step.sh BEFORE_CHECKOUT AFTER_CHECKOUT OUT_DIR
set -u
before=$1; after=$2; out=$3; mkdir -p "$out"
for pass in $(seq 1 "${PASSES:-2}"); do
  for size in ${SIZES:-tiny mini}; do
    steps=40; [ "$size" = mini ] && steps=15
    for side in before after; do
      dir=$before; [ "$side" = after ] && dir=$after
      echo "$(date -u +%H:%M:%S) pass $pass $size $side (load $(cut -d' ' -f1 /proc/loadavg))"
      (cd "$dir" && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE node --import tsx apps/bench/src/cli.ts step --size $size --batch 32 --seq 64 \
        --method diff-pruning --vs-full --vs-pytorch --threads 1 --steps $steps --json) > "$out/$pass-$size-$side.json" 2> "$out/$pass-$size-$side.err"
    done
  done
done
