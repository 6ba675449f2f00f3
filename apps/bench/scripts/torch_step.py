#!/usr/bin/env python3
"""PyTorch reference for `diffprune-bench step --vs-pytorch`: times the identical training step.

The same step as @diffprune/trainer's `trainStep` (full finetuning, or diff pruning's search stage),
on the same shapes: a randomly initialised BERT (vocab 30522, 512 positions, 2 labels), a random token
batch without padding (segment A then B), dropout on, and
  full          Adam on every parameter, global-norm clipping 1.0, linear decay;
  diff-pruning  theta = theta0 + z * z_group * w for EVERY encoder tensor (embeddings, LayerNorms,
                biases, pooler), hard-concrete z (l=-1.5, r=1.5, beta=1, u clamped to
                [1e-4, 0.9999], fresh u per entry per step), structured group gates, expected-L0
                penalty (sum form, lambda 1.25e-7), dense head (theta = theta_init + w); two Adam
                optimisers (w: 1e-5 with linear decay, log alpha: 0.1 constant), each group clipped
                to global norm 1.0 -- the authors' code (see ../shared/docs/method.md).
Threads: torch.set_num_threads(N) and OPENBLAS_NUM_THREADS / OMP_NUM_THREADS = N (set before torch is
imported; OpenBLAS reads them at load). Prints one JSON object. Never a project dependency.
"""

import argparse
import json
import math
import os
import resource
import sys
import time

SIZES = {
    "tiny": dict(layers=2, hidden=128, heads=2, intermediate=512),
    "mini": dict(layers=4, hidden=256, heads=4, intermediate=1024),
    "base": dict(layers=12, hidden=768, heads=12, intermediate=3072),
}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--seq", type=int, default=64)
parser.add_argument("--method", choices=["full", "diff-pruning"], default="full")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--warmup", type=int, default=2)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--vocab", type=int, default=30522)
args = parser.parse_args()

for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = str(args.threads)

import torch  # noqa: E402  (after the thread environment)
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)

shape = SIZES[args.size]
L, H, A, FFN = shape["layers"], shape["hidden"], shape["heads"], shape["intermediate"]
V, P, T, B, NUM_LABELS = args.vocab, 512, args.seq, args.batch, 2
DROPOUT, EPS, INIT = 0.1, 1e-12, 0.02


def init_parameters():
    """HF names and layouts (Linear weight [out, in]); HF's init."""
    p = {}

    def normal(*shape_):
        return torch.randn(*shape_) * INIT

    p["bert.embeddings.word_embeddings.weight"] = normal(V, H)
    p["bert.embeddings.position_embeddings.weight"] = normal(P, H)
    p["bert.embeddings.token_type_embeddings.weight"] = normal(2, H)
    p["bert.embeddings.LayerNorm.weight"] = torch.ones(H)
    p["bert.embeddings.LayerNorm.bias"] = torch.zeros(H)
    for i in range(L):
        l = f"bert.encoder.layer.{i}"
        for part in ("query", "key", "value"):
            p[f"{l}.attention.self.{part}.weight"] = normal(H, H)
            p[f"{l}.attention.self.{part}.bias"] = torch.zeros(H)
        p[f"{l}.attention.output.dense.weight"] = normal(H, H)
        p[f"{l}.attention.output.dense.bias"] = torch.zeros(H)
        p[f"{l}.attention.output.LayerNorm.weight"] = torch.ones(H)
        p[f"{l}.attention.output.LayerNorm.bias"] = torch.zeros(H)
        p[f"{l}.intermediate.dense.weight"] = normal(FFN, H)
        p[f"{l}.intermediate.dense.bias"] = torch.zeros(FFN)
        p[f"{l}.output.dense.weight"] = normal(H, FFN)
        p[f"{l}.output.dense.bias"] = torch.zeros(H)
        p[f"{l}.output.LayerNorm.weight"] = torch.ones(H)
        p[f"{l}.output.LayerNorm.bias"] = torch.zeros(H)
    p["bert.pooler.dense.weight"] = normal(H, H)
    p["bert.pooler.dense.bias"] = torch.zeros(H)
    p["classifier.weight"] = normal(NUM_LABELS, H)
    p["classifier.bias"] = torch.zeros(NUM_LABELS)
    return p


def classify(p, ids, types, training=True):
    """HF BertForSequenceClassification, as a pure function of the parameter dict."""
    drop = lambda x: F.dropout(x, DROPOUT, training)  # noqa: E731
    positions = torch.arange(T).unsqueeze(0)
    x = (
        F.embedding(ids, p["bert.embeddings.word_embeddings.weight"])
        + F.embedding(positions, p["bert.embeddings.position_embeddings.weight"])
        + F.embedding(types, p["bert.embeddings.token_type_embeddings.weight"])
    )
    x = drop(F.layer_norm(x, (H,), p["bert.embeddings.LayerNorm.weight"], p["bert.embeddings.LayerNorm.bias"], EPS))
    d = H // A
    for i in range(L):
        l = f"bert.encoder.layer.{i}"
        lin = lambda t, name: F.linear(t, p[f"{l}.{name}.weight"], p[f"{l}.{name}.bias"])  # noqa: E731
        heads = lambda t: t.view(B, T, A, d).transpose(1, 2)  # noqa: E731
        q, k, v = (heads(lin(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        context = (drop(scores.softmax(-1)) @ v).transpose(1, 2).reshape(B, T, H)
        a = drop(lin(context, "attention.output.dense"))
        x = F.layer_norm(a + x, (H,), p[f"{l}.attention.output.LayerNorm.weight"], p[f"{l}.attention.output.LayerNorm.bias"], EPS)
        h = F.gelu(lin(x, "intermediate.dense"))
        o = drop(lin(h, "output.dense"))
        x = F.layer_norm(o + x, (H,), p[f"{l}.output.LayerNorm.weight"], p[f"{l}.output.LayerNorm.bias"], EPS)
    pooled = torch.tanh(F.linear(x[:, 0], p["bert.pooler.dense.weight"], p["bert.pooler.dense.bias"]))
    return F.linear(drop(pooled), p["classifier.weight"], p["classifier.bias"])


params = init_parameters()
head_names = ["classifier.weight", "classifier.bias"]
ids = torch.randint(0, V, (B, T))
types = torch.zeros(B, T, dtype=torch.long)
types[:, T // 2 :] = 1
labels = torch.randint(0, NUM_LABELS, (B,))
total_steps = 1_000_000
linear_decay = lambda step: max(0.0, 1 - step / total_steps)  # noqa: E731

if args.method == "full":
    trainable = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    optimizer = torch.optim.Adam(trainable.values(), lr=2e-5, betas=(0.9, 0.999), eps=1e-8)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_decay)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(classify(trainable, ids, types), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable.values(), 1.0)
        optimizer.step()
        scheduler.step()
        return loss.item()

else:
    LEFT, RIGHT, BETA, LAMBDA = -1.5, 1.5, 1.0, 1.25e-7
    shift = BETA * math.log(-LEFT / RIGHT)
    gated = [k for k in params if k not in head_names]
    base = params
    w = {k: torch.zeros_like(params[k], requires_grad=True) for k in gated}
    log_alpha = {k: torch.full_like(params[k], 5.0, requires_grad=True) for k in gated}
    group_log_alpha = {k: torch.full((1,), 5.0, requires_grad=True) for k in gated}
    head_w = {k: torch.zeros_like(params[k], requires_grad=True) for k in head_names}
    weights = list(w.values()) + list(head_w.values())
    alphas = list(log_alpha.values()) + list(group_log_alpha.values())
    opt_w = torch.optim.Adam(weights, lr=1e-5, betas=(0.9, 0.999), eps=1e-8)
    opt_a = torch.optim.Adam(alphas, lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt_w, linear_decay)

    def gate(alpha):
        u = torch.rand_like(alpha).clamp_(1e-4, 0.9999)
        s = torch.sigmoid((torch.log(u) - torch.log(1 - u) + alpha) / BETA)
        return (s * (RIGHT - LEFT) + LEFT).clamp(0, 1)

    def step():
        opt_w.zero_grad(set_to_none=True)
        opt_a.zero_grad(set_to_none=True)
        theta = {}
        penalty = 0.0
        for k in gated:
            theta[k] = base[k] + gate(log_alpha[k]) * gate(group_log_alpha[k]) * w[k]
            penalty = penalty + torch.sigmoid(log_alpha[k] - shift).sum() + torch.sigmoid(group_log_alpha[k] - shift).sum()
        for k in head_names:
            theta[k] = base[k] + head_w[k]
        task = F.cross_entropy(classify(theta, ids, types), labels)
        loss = task + LAMBDA * penalty
        loss.backward()
        torch.nn.utils.clip_grad_norm_(weights, 1.0)
        torch.nn.utils.clip_grad_norm_(alphas, 1.0)
        opt_w.step()
        opt_a.step()
        scheduler.step()
        return task.item()


def blas_library():
    """The BLAS actually mapped (Debian's torch uses whatever libblas.so.3 points at)."""
    try:
        with open("/proc/self/maps") as maps:
            names = {line.split()[-1].rsplit("/", 1)[-1] for line in maps if "blas" in line.lower()}
        return ", ".join(sorted(names)) or "unknown"
    except OSError:
        return "unknown"


def median_of(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


times, cpu_times, losses = [], [], []
for i in range(args.warmup + args.steps):
    cpu_start = time.process_time()
    start = time.perf_counter()
    loss = step()
    elapsed = (time.perf_counter() - start) * 1000
    cpu_elapsed = (time.process_time() - cpu_start) * 1000
    if i >= args.warmup:
        times.append(elapsed)
        cpu_times.append(cpu_elapsed)
        losses.append(loss)

ordered = sorted(times)
median = median_of(times)
json.dump(
    {
        "substrate": "pytorch",
        "torch": torch.__version__,
        "blas": blas_library(),
        "threads": torch.get_num_threads(),
        "size": args.size,
        "batch": B,
        "seq": T,
        "method": args.method,
        "steps": args.steps,
        "medianMs": median,
        "minMs": ordered[0],
        "maxMs": ordered[-1],
        "stepsMs": times,
        "cpuStepsMs": cpu_times,
        "medianCpuMs": median_of(cpu_times),
        "examplesPerSecond": B * 1000 / median,
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "firstLoss": losses[0],
        "lastLoss": losses[-1],
    },
    sys.stdout,
)
sys.stdout.write("\n")
