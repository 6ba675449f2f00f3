#!/usr/bin/env python3
"""Wall-time estimate of the `offline` preset from measured step times (apps/bench/README.md, "How long").
  python3 apps/bench/scripts/estimate-offline.py
Step-time models, ms per step of batch 32, native backend, 1 thread, linear in T = the batch's longest
example: `loaded` from CPU times measured 4 Dec 2026 08:57-08:59 UTC (diffprune-bench step --size tiny
--seq 32|128), `idle` from the 30 Nov idle-machine wall times (seq 64|128). The fixed-mask stage is
costed as the search stage (the SST-2 pilots measured the same time per step); last layer and BitFit as
full finetuning (an upper bound); evaluation adds 10 %."""
import math

models = {
    "loaded": (lambda T: 14.4 + 2.05 * T, lambda T: 97.0 + 2.01 * T),
    "idle": (lambda T: 1.0 + 1.31 * T, lambda T: 10.0 + 1.36 * T),
}
# training examples (None: SST-2, capped), mean longest example of random batches of 32, fixed-mask epochs
tasks = {
    "cola": (8551, 23.1, 3), "sst2": (None, 39.9, 3), "mrpc": (3668, 80.0, 5),
    "stsb": (5749, 69.5, 5), "rte": (2490, 127.9, 5), "wnli": (635, 81.8, 3),
}
SEEDS, JOBS, OVERHEAD, EPOCHS = 3, 2, 1.10, 3


def main_table(cap, ft, dp):
    total = 0.0
    for n, T, fixed in tasks.values():
        steps = math.ceil((cap if n is None else n) / 32)
        finetune = EPOCHS * steps * ft(T)
        fixed_mask = fixed * steps * dp(T)
        search = EPOCHS * steps * dp(T)
        # full, last layer, BitFit; non-adaptive; diff pruning and structured
        total += 3 * finetune + (finetune + fixed_mask) + 2 * (search + fixed_mask)
    return SEEDS * total * OVERHEAD / 1000 / 3600 / JOBS


def sweep(cap, dp):
    return SEEDS * 3 * (EPOCHS + 3) * math.ceil(cap / 32) * dp(39.9) * OVERHEAD / 1000 / 3600 / JOBS


for name, (ft, dp) in models.items():
    for cap in (5000, 8000, 10000, 67349):
        m = main_table(cap, ft, dp)
        print(f"{name:6} SST-2 {cap:>6}: main table {m:.2f} h, with the sweep {m + sweep(cap, dp):.2f} h ({JOBS} jobs)")
