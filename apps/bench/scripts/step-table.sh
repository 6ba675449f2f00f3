#!/usr/bin/env bash
# The step table of apps/bench/README.md: every cell is one `diffprune-bench step --json` run; with
# --vs-pytorch, the PyTorch reference runs before and after the tfjs steps in the same invocation.
# Usage (from the repository root): apps/bench/scripts/step-table.sh OUT.jsonl BACKEND [STEPS] [SIZES] [SEQS]
#   BACKEND: wasm | native | cpu | tensorflow;  SIZES default "tiny mini";  SEQS default "64 128"
set -euo pipefail
out=${1:?output .jsonl}
backend=${2:?backend}
steps=${3:-5}
sizes=${4:-tiny mini}
seqs=${5:-64 128}
for size in $sizes; do
  for seq in $seqs; do
    for method in full diff-pruning; do
      echo "step: $backend $size seq $seq $method" >&2
      if ! pnpm --silent diffprune-bench step --backend "$backend" --size "$size" --batch 32 --seq "$seq" \
        --method "$method" --threads 1 --steps "$steps" --warmup 2 --json --vs-pytorch >>"$out"; then
        echo "{\"failed\": true, \"backend\": \"$backend\", \"size\": \"$size\", \"seq\": $seq, \"method\": \"$method\"}" >>"$out"
      fi
    done
  done
done
