#!/usr/bin/env python3
"""The authors' three stages of diff pruning in plain PyTorch: an independent reference for diffprune.

Never a project dependency. Fed the examples diffprune's runner uses (`diffprune-bench reference`
writes them: its WordPiece output for the same seeded training subset, the full dev set), it trains
one method on one task with one seed and writes one JSON record (atomically: temp + rename).

  python3 torch_diffprune.py run MODEL_DIR DATA.json CONFIG.json OUT.json
  python3 torch_diffprune.py check-step FIXTURE_DIR      # agreement with ../shared/fixtures' golden step
  python3 torch_diffprune.py replay MODEL_DIR DATA.json STREAMS.json [gates,dropout,order]
                                                         # stage 1 on diffprune's random streams

CONFIG.json: {"method": full|last-layer|bitfit|non-adaptive|diff-pruning, "structured": bool,
"seed", "batchSize", "epochs", "learningRate", "alphaLearningRate", "lambda", "alphaInit",
"limits": [l, r], "targetDensity", "fixedMaskLearningRate", "fixedMaskEpochs", "maxGradNorm",
"adamBetas", "adamEpsilon", "threads", "label"}.

What it implements, after github.com/dguo98/DiffPruning (../shared/docs/method.md):
- run_glue_diffpruning (stage 1): delta = z * z_group * w for every encoder tensor (embeddings,
  LayerNorms, biases, pooler), hard-concrete gates (l, r, beta 1; u clamped to [1e-4, 0.9999], a fresh
  u per entry per step), log alpha init 5 (group gates too), w init 0, classifier dense
  (theta0 + w, no gate, no penalty); loss = mean task loss + lambda * SUM of sigmoid(log alpha - shift)
  (structured: the code's sum form, + sigmoid(log alpha_g - shift) per tensor); two Adam optimisers
  (w: linear decay, no warmup; log alpha: constant), each clipped to global norm 1 separately;
  evaluation with the z of the last training step.
- run_glue_mag (stage 2): delta = theta_trained - theta0 over ALL tensors, classifier included; exact
  top-k on |delta| with k = round(target * n) (the code bisects a threshold; top-k is its exact form).
- run_glue_fixmask_finetune (stage 3): mask = delta != 0; w re-initialised from stage 1's RAW w
  (non-adaptive: from the finetuned delta); theta = theta0 + mask * w, masked gradients, classifier
  dense; Adam, linear decay, clipping; best dev checkpoint over the epoch ends.
- Baselines: full finetuning, last layer (top encoder layer + classifier), BitFit (biases + LayerNorm
  biases + classifier); best dev checkpoint over the epoch ends.
"""
import json
import math
import os
import random
import struct
import sys
import time


def load_safetensors(path):
    import numpy as np
    import torch

    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    dtypes = {"F32": np.float32, "I64": np.int64, "I32": np.int32}
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        a, b = v["data_offsets"]
        array = np.frombuffer(raw[8 + n + a : 8 + n + b], dtype=dtypes[v["dtype"]]).reshape(v["shape"])
        out[name] = torch.from_numpy(array.copy())
    return out


class Bert:
    """HF BertForSequenceClassification as a pure function of a parameter dict."""

    def __init__(self, config):
        self.H = config["hidden_size"]
        self.A = config["num_attention_heads"]
        self.L = config["num_hidden_layers"]
        self.hidden_dropout = config.get("hidden_dropout_prob", 0.1)
        self.attention_dropout = config.get("attention_probs_dropout_prob", 0.1)
        self.eps = config.get("layer_norm_eps", 1e-12)

    def __call__(self, p, ids, types, mask, train, drop=None):
        """drop(x, rate, site): the dropout of one site (default F.dropout; `replay` passes diffprune's masks)."""
        import torch
        import torch.nn.functional as F

        B, T = ids.shape
        H, A = self.H, self.A
        if drop is None or not train:
            drop = lambda x, r, site: F.dropout(x, r, train)  # noqa: E731
        norm = lambda x, name: F.layer_norm(x, (H,), p[name + ".weight"], p[name + ".bias"], self.eps)  # noqa: E731
        x = (
            F.embedding(ids, p["bert.embeddings.word_embeddings.weight"])
            + p["bert.embeddings.position_embeddings.weight"][:T]
            + F.embedding(types, p["bert.embeddings.token_type_embeddings.weight"])
        )
        x = drop(norm(x, "bert.embeddings.LayerNorm"), self.hidden_dropout, "embeddings")
        d = H // A
        bias = (1 - mask.float())[:, None, None, :] * torch.finfo(torch.float32).min
        for i in range(self.L):
            l = f"bert.encoder.layer.{i}."
            lin = lambda t, name: F.linear(t, p[l + name + ".weight"], p[l + name + ".bias"])  # noqa: E731
            heads = lambda t: t.view(B, T, A, d).transpose(1, 2)  # noqa: E731
            q, k, v = (heads(lin(x, "attention.self." + s)) for s in ("query", "key", "value"))
            scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
            context = (drop(scores.softmax(-1), self.attention_dropout, f"layer.{i}.attention.probabilities") @ v).transpose(1, 2).reshape(B, T, H)
            x = norm(drop(lin(context, "attention.output.dense"), self.hidden_dropout, f"layer.{i}.attention.output") + x, l + "attention.output.LayerNorm")
            h = F.gelu(lin(x, "intermediate.dense"))
            x = norm(drop(lin(h, "output.dense"), self.hidden_dropout, f"layer.{i}.output") + x, l + "output.LayerNorm")
        pooled = torch.tanh(F.linear(x[:, 0], p["bert.pooler.dense.weight"], p["bert.pooler.dense.bias"]))
        return F.linear(drop(pooled, self.hidden_dropout, "classifier"), p["classifier.weight"], p["classifier.bias"])


def hard_concrete(log_alpha, u, l, r, beta=1.0):
    import torch

    s = torch.sigmoid((torch.log(u) - torch.log(1 - u) + log_alpha) / beta)
    return (s * (r - l) + l).clamp(0, 1)


def expected_l0(log_alpha, l, r, beta=1.0):
    import torch

    return torch.sigmoid(log_alpha - beta * math.log(-l / r)).sum()


def gated_theta(theta0, w, log_alpha, group_log_alpha, us, group_us, l, r):
    """theta = theta0 + z * z_g * w (gated), theta0 + w (dense); returns theta and the z's used."""
    theta, zs = {}, {}
    for name, t0 in theta0.items():
        if name in log_alpha:
            z = hard_concrete(log_alpha[name], us[name], l, r)
            if name in group_log_alpha:
                z = z * hard_concrete(group_log_alpha[name], group_us[name], l, r)
            zs[name] = z
            theta[name] = t0 + z * w[name]
        else:
            theta[name] = t0 + w[name]
    return theta, zs


def penalty(log_alpha, group_log_alpha, l, r):
    """The authors' sum form: sum of every element gate's and every group gate's P(z != 0)."""
    total = sum(expected_l0(a, l, r) for a in log_alpha.values())
    return total + sum(expected_l0(a, l, r) for a in group_log_alpha.values())


def task_loss(logits, labels, regression):
    import torch.nn.functional as F

    return F.mse_loss(logits[:, 0], labels) if regression else F.cross_entropy(logits, labels)


def adam_with_decay(params, lr, total_steps, betas, eps):
    """Adam (no weight decay) with a linear decay to 0 over total_steps, no warmup."""
    import torch

    optimizer = torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=0)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total_steps))


def finetune_step(model, trained, theta, batch, regression, clip, optimizer, scheduler, mask=None, drop=None):
    """One step of a dense or fixed-mask stage: task loss, masked gradients, clipping, Adam, decay."""
    import torch

    ids, types, amask, y = batch
    loss = task_loss(model(theta, ids, types, amask, True, drop), y, regression)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if mask is not None:
        for n, m in mask.items():
            trained[n].grad.mul_(m)
    torch.nn.utils.clip_grad_norm_(list(trained.values()), clip)
    optimizer.step()
    scheduler.step()
    return loss


def search_step(model, base, w, la, gla, us, gus, batch, regression, lam, limits, clip, opt_w, sched_w, opt_a, drop=None):
    """One step of stage 1 (run_glue_diffpruning): gated theta, task loss + lambda * expected L0, each
    optimiser group clipped to its own global norm, Adam on w (decayed) and on log alpha (constant).
    Returns the task loss, the penalty (both before the update) and the step's z."""
    import torch

    l, r = limits
    theta, zs = gated_theta(base, w, la, gla, us, gus, l, r)
    ids, types, amask, y = batch
    task_term = task_loss(model(theta, ids, types, amask, True, drop), y, regression)
    pen = penalty(la, gla, l, r)
    loss = task_term + lam * pen
    alphas = list(la.values()) + list(gla.values())
    opt_w.zero_grad(set_to_none=True)
    opt_a.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(w.values()), clip)
    torch.nn.utils.clip_grad_norm_(alphas, clip)
    opt_w.step()
    opt_a.step()
    sched_w.step()
    return task_term, pen, zs


def check_step(fixture_dir):
    """Recomputes ../shared/fixtures' golden diff-pruning objective and gradients with this script's
    own functions (the golden diffprune's TS implementation is held to); prints max errors as JSON."""
    import torch

    torch.set_num_threads(1)
    d = fixture_dir.rstrip("/") + "/"
    golden = json.load(open(d + "diffprune-step.json"))
    tensors = load_safetensors(d + "diffprune-step.safetensors")
    config = json.load(open(d + "diffprune-model/config.json"))
    model = Bert(config)
    names = [k[len("theta0/") :] for k in tensors if k.startswith("theta0/")]
    l, r, lam = golden["l"], golden["r"], golden["lambda"]
    batch = golden
    ids = torch.tensor(batch["input_ids"])
    types = torch.tensor(batch["token_type_ids"])
    mask = torch.tensor(batch["attention_mask"], dtype=torch.float32)
    labels = torch.tensor(batch["labels"])
    errors = {}
    for mode in ("unstructured", "structured-sum"):
        if mode not in golden["results"]:
            continue
        theta0 = {n: tensors["theta0/" + n] for n in names}
        w = {n: tensors["w/" + n].clone().requires_grad_(True) for n in names}
        gated = [n for n in names if "log_alpha/" + n in tensors]
        la = {n: tensors["log_alpha/" + n].clone().requires_grad_(True) for n in gated}
        us = {n: tensors["u/" + n] for n in gated}
        structured = mode != "unstructured"
        gla = {n: tensors["group_log_alpha/" + n].clone().requires_grad_(True) for n in gated} if structured else {}
        gus = {n: tensors["group_u/" + n] for n in gated} if structured else {}
        theta, _ = gated_theta(theta0, w, la, gla, us, gus, l, r)
        logits = model(theta, ids, types, mask, train=False)
        task = task_loss(logits, labels, False)
        pen = penalty(la, gla, l, r)
        loss = task + lam * pen
        loss.backward()
        expected = golden["results"][mode]
        err = {
            "task_loss": abs(task.item() - expected["task_loss"]),
            "expected_l0": abs(pen.item() - expected["expected_l0"]) / max(1.0, expected["expected_l0"]),
            "loss": abs(loss.item() - expected["loss"]),
            "logits": (logits - torch.tensor(expected["logits"])).abs().max().item(),
        }
        grad = lambda kind, n, t: (t.grad - tensors[f"{mode}/{kind}/{n}"]).abs().max().item()  # noqa: E731
        err["grad_w"] = max(grad("grad_w", n, w[n]) for n in names)
        err["grad_log_alpha"] = max(grad("grad_log_alpha", n, la[n]) for n in gated)
        if structured:
            err["grad_group_log_alpha"] = max(grad("grad_group_log_alpha", n, gla[n]) for n in gated)
        errors[mode] = err
    json.dump(errors, sys.stdout)
    sys.stdout.write("\n")


def metric(task, predictions, labels):
    import numpy as np

    P, Y = np.array(predictions), np.array(labels)
    if task == "stsb":
        rank = lambda a: np.argsort(np.argsort(a))  # noqa: E731
        spearman = float(np.corrcoef(rank(P), rank(Y))[0, 1])
        pearson = float(np.corrcoef(P, Y)[0, 1])
        return "spearman", {"pearson": pearson, "spearman": spearman}
    accuracy = float((P == Y).mean())
    tp = float(((P == 1) & (Y == 1)).sum())
    tn = float(((P == 0) & (Y == 0)).sum())
    fp = float(((P == 1) & (Y == 0)).sum())
    fn = float(((P == 0) & (Y == 1)).sum())
    if task == "cola":
        den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return "matthews", {"matthews": (tp * tn - fp * fn) / den if den else 0.0, "accuracy": accuracy}
    if task in ("mrpc", "qqp"):
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        return "f1", {"f1": f1, "accuracy": accuracy}
    return "accuracy", {"accuracy": accuracy}


def start(config_path):
    """Reads a run's config; sets the threads (before torch loads BLAS) and every seed."""
    cfg = json.load(open(config_path))
    threads = int(cfg.get("threads", 1))
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(int(cfg["seed"]))
    random.seed(int(cfg["seed"]))
    np.random.seed(int(cfg["seed"]))
    return cfg


def batchify(examples, regression):
    """Encoded examples -> padded ids, token types, attention mask (int64), labels."""
    import torch

    T = max(len(e["inputIds"]) for e in examples)
    ids = torch.zeros(len(examples), T, dtype=torch.long)
    types = torch.zeros(len(examples), T, dtype=torch.long)
    mask = torch.zeros(len(examples), T, dtype=torch.long)
    for i, e in enumerate(examples):
        t = len(e["inputIds"])
        ids[i, :t] = torch.tensor(e["inputIds"])
        types[i, :t] = torch.tensor(e["tokenTypeIds"])
        mask[i, :t] = 1
    y = torch.tensor([e["label"] for e in examples], dtype=torch.float32 if regression else torch.long)
    return ids, types, mask, y


def write_record(record, out_path):
    """Atomically: temp file + rename."""
    temporary = f"{out_path}.tmp-{os.getpid()}"
    with open(temporary, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    os.replace(temporary, out_path)


def run(model_dir, data_path, config_path, out_path):
    cfg = start(config_path)
    import torch

    seed = int(cfg["seed"])
    started = time.time()
    d = model_dir.rstrip("/") + "/"
    config = json.load(open(d + "config.json"))
    model = Bert(config)
    data = json.load(open(data_path))
    task, regression, num_labels = data["task"], data["regression"], data["numLabels"]
    base = {k: v for k, v in load_safetensors(d + "model.safetensors").items() if k.startswith("bert.")}
    H = config["hidden_size"]
    std = config.get("initializer_range", 0.02)
    base["classifier.weight"] = torch.randn(num_labels, H) * std
    base["classifier.bias"] = torch.zeros(num_labels)
    names = list(base)
    heads = ["classifier.weight", "classifier.bias"]
    total = sum(t.numel() for t in base.values())
    method = cfg["method"]
    B = int(cfg["batchSize"])
    l, r = cfg["limits"]
    betas, eps, clip = tuple(cfg["adamBetas"]), cfg["adamEpsilon"], cfg["maxGradNorm"]
    train, dev = data["train"], data["dev"]

    def batches():
        order = list(range(len(train)))
        random.shuffle(order)
        for i in range(0, len(order), B):
            yield batchify([train[j] for j in order[i : i + B]], regression)

    def evaluate(theta):
        predictions, labels = [], []
        with torch.no_grad():
            for i in range(0, len(dev), 64):
                ids, types, mask, y = batchify(dev[i : i + 64], regression)
                o = model(theta, ids, types, mask, False)
                predictions += (o[:, 0] if regression else o.argmax(-1)).tolist()
                labels += y.tolist()
        return metric(task, predictions, labels)

    steps_per_epoch = math.ceil(len(train) / B)
    history = []
    steps = 0

    def adam(params, lr, epochs):
        return adam_with_decay(params, lr, epochs * steps_per_epoch, betas, eps)

    def finetune(trained, lr, epochs, make_theta, mask=None, stage="finetune"):
        """Trains `trained` (name -> leaf tensor), best dev checkpoint over the epoch ends."""
        nonlocal steps
        optimizer, scheduler = adam(list(trained.values()), lr, epochs)
        best = None
        for epoch in range(epochs):
            for batch in batches():
                finetune_step(model, trained, make_theta(), batch, regression, clip, optimizer, scheduler, mask)
                steps += 1
            with torch.no_grad():
                theta = {k: v.detach().clone() for k, v in make_theta().items()}
            headline, metrics = evaluate(theta)
            history.append({"stage": stage, "epoch": epoch + 1, **metrics})
            if best is None or metrics[headline] > best[1][headline]:
                best = (theta, metrics, headline)
        return best

    def project(delta):
        """Stage 2: exact top-k over every tensor (classifier included), k = round(target * n)."""
        flat = torch.cat([delta[n].abs().flatten() for n in names])
        k = min(flat.numel(), max(1, round(cfg["targetDensity"] * flat.numel())))
        order = torch.argsort(flat, descending=True, stable=True)
        keep = torch.zeros(flat.numel(), dtype=torch.bool)
        keep[order[:k]] = True
        masks, offset = {}, 0
        for n in names:
            size = delta[n].numel()
            masks[n] = keep[offset : offset + size].view_as(delta[n]).float()
            offset += size
        return masks

    def fixed_mask(w_init, masks):
        """Stage 3: theta = theta0 + mask * w (classifier dense), masked gradients, best dev."""
        w = {n: (w_init[n] if n in heads else w_init[n] * masks[n]).clone().requires_grad_(True) for n in names}
        gradient_mask = {n: masks[n] for n in names if n not in heads}
        theta = lambda: {n: base[n] + (w[n] if n in heads else masks[n] * w[n]) for n in names}  # noqa: E731
        return finetune(w, cfg["fixedMaskLearningRate"], int(cfg["fixedMaskEpochs"]), theta, gradient_mask, "fixed-mask")

    if method in ("full", "last-layer", "bitfit"):
        top = f"bert.encoder.layer.{config['num_hidden_layers'] - 1}."
        chosen = {
            "full": lambda n: True,
            "last-layer": lambda n: n in heads or n.startswith(top),
            "bitfit": lambda n: n in heads or n.endswith(".bias"),
        }[method]
        trained = {n: base[n].clone().requires_grad_(True) for n in names if chosen(n)}
        theta = lambda: {n: trained.get(n, base[n]) for n in names}  # noqa: E731
        best_theta, metrics, headline = finetune(trained, cfg["learningRate"], int(cfg["epochs"]), theta)
        density = sum(base[n].numel() for n in trained) / total
        search_metrics = None
    elif method == "non-adaptive":
        trained = {n: base[n].clone().requires_grad_(True) for n in names}
        epochs = int(cfg["epochs"])
        finetune(trained, cfg["learningRate"], epochs, lambda: dict(trained))
        # Stage 1 without selection (the last weights), then projection and the fixed-mask stage.
        delta = {n: (trained[n] - base[n]).detach() for n in names}
        search_metrics = history[-1]
        masks = project(delta)
        best_theta, metrics, headline = fixed_mask(delta, masks)
        density = sum(masks[n].sum().item() for n in names if n not in heads) / total
        density += sum(base[n].numel() for n in heads) / total
    elif method == "diff-pruning":
        structured = bool(cfg["structured"])
        gated = [n for n in names if n not in heads]
        w = {n: torch.zeros_like(base[n], requires_grad=True) for n in names}
        la = {n: torch.full_like(base[n], float(cfg["alphaInit"]), requires_grad=True) for n in gated}
        gla = {n: torch.full((1,), float(cfg["alphaInit"]), requires_grad=True) for n in gated} if structured else {}
        epochs = int(cfg["epochs"])
        opt_w, sched_w = adam(list(w.values()), cfg["learningRate"], epochs)
        alphas = list(la.values()) + list(gla.values())
        # The authors' log alpha scheduler is never stepped: a constant rate.
        opt_a = torch.optim.Adam(alphas, lr=cfg["alphaLearningRate"], betas=betas, eps=eps, weight_decay=0)
        lam = cfg["lambda"]
        last_z = None
        density_trace = []
        for epoch in range(epochs):
            for batch in batches():
                us = {n: torch.rand_like(la[n]).clamp_(1e-4, 0.9999) for n in gated}
                gus = {n: torch.rand(1).clamp_(1e-4, 0.9999) for n in gla}
                _, _, zs = search_step(
                    model, base, w, la, gla, us, gus, batch, regression, lam, (l, r), clip, opt_w, sched_w, opt_a
                )
                steps += 1
                last_z = {n: z.detach() for n, z in zs.items()}
            with torch.no_grad():
                element = sum(expected_l0(a, l, r).item() for a in la.values())
                density_trace.append(element / sum(base[n].numel() for n in gated))
                theta = {n: base[n] + (last_z[n] * w[n] if n in last_z else w[n]) for n in names}
            headline, m = evaluate(theta)
            history.append({"stage": "search", "epoch": epoch + 1, "expectedDensity": density_trace[-1], **m})
        search_metrics = history[-1]
        with torch.no_grad():
            delta = {n: (last_z[n] * w[n] if n in last_z else w[n]).detach() for n in names}
        masks = project(delta)
        raw_w = {n: w[n].detach() for n in names}
        best_theta, metrics, headline = fixed_mask(raw_w, masks)
        density = sum(masks[n].sum().item() for n in gated) / total + sum(base[n].numel() for n in heads) / total
    else:
        raise SystemExit(f"unknown method {method}")

    record = {
        "id": cfg["id"],
        "method": cfg.get("benchMethod", method),
        "label": cfg.get("label", method),
        "task": task,
        "seed": seed,
        "headlineMetric": headline,
        "headline": metrics[headline],
        "metrics": metrics,
        "density": density,
        "steps": steps,
        "wallTimeMs": (time.time() - started) * 1000,
        "implementation": f"torch {torch.__version__} (scripts/torch_diffprune.py)",
        "finishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "history": history,
        "searchMetrics": search_metrics,
    }
    write_record(record, out_path)


# diffprune's counter-based uniforms (@diffprune/core counter-uniform.ts), ported for `replay`:
# u_i = (k_i + 0.5) / 2^23 with k_i the top 23 bits of two MurmurHash3 finaliser rounds over i,
# keyed by the seed; a dropout mask keeps entry i where k_i >= ceil(rate * 2^23 - 0.5).
def _fmix32(h):
    import numpy as np

    m = np.uint64(0xFFFFFFFF)
    h = h.astype(np.uint64)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & m
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & m
    h ^= h >> np.uint64(16)
    return h


def counter_bits(seed, n):
    import numpy as np

    a = _fmix32(np.array([(seed ^ 0x9E3779B9) & 0xFFFFFFFF], dtype=np.uint64))[0]
    b = _fmix32(np.array([(seed + 0x6A09E667) & 0xFFFFFFFF], dtype=np.uint64))[0]
    i = np.arange(n, dtype=np.uint64)
    return _fmix32(_fmix32(((i * np.uint64(0x9E3779B9)) & np.uint64(0xFFFFFFFF)) ^ a) ^ b) >> np.uint64(9)


def counter_uniform(seed, shape):
    import numpy as np
    import torch

    n = int(np.prod(shape))
    return torch.from_numpy(((counter_bits(seed, n).astype(np.float64) + 0.5) * 2.0**-23).astype(np.float32)).view(*shape)


def counter_dropout_mask(seed, shape, rate):
    import numpy as np
    import torch

    n = int(np.prod(shape))
    keep = counter_bits(seed, n) >= max(0, math.ceil(rate * 2**23 - 0.5))
    scale = np.float32(1 / (1 - rate))
    return torch.from_numpy(np.where(keep, scale, np.float32(0)).astype(np.float32)).view(*shape)


def replay(model_dir, data_path, dump_path, torch_streams=""):
    """Stage 1 of diff pruning (or full finetuning) driven by diffprune's own random streams (`diffprune-bench replay`
    writes them: the head's initial values, every step's batch, gate-noise seeds (and group u) and
    dropout seeds per site). With the same streams, the same algorithm must give the same losses
    step for step; prints {"steps": [{"taskLoss", "expectedL0"}, ...]} (the penalty before each update).
    torch_streams: a comma-separated subset of gates, dropout, order that the reference draws itself
    instead (torch.rand, F.dropout, Python's shuffle), to measure what each stream changes."""
    import torch

    dump = json.load(open(dump_path))
    torch.set_num_threads(int(dump.get("threads", 1)))
    own = set(filter(None, torch_streams.split(",")))
    if own - {"gates", "dropout", "order"}:
        raise SystemExit(f"unknown streams {sorted(own - {'gates', 'dropout', 'order'})}: expected gates, dropout, order")
    torch.manual_seed(int(dump["seed"]))
    random.seed(int(dump["seed"]))
    s = dump["settings"]
    d = model_dir.rstrip("/") + "/"
    config = json.load(open(d + "config.json"))
    model = Bert(config)
    data = json.load(open(data_path))
    regression = data["regression"]
    base = {k: v for k, v in load_safetensors(d + "model.safetensors").items() if k.startswith("bert.")}
    for name, values in dump["head"].items():
        base[name] = torch.tensor(values["values"], dtype=torch.float32).view(*values["shape"])
    names, gated = list(base), dump["gated"]
    full = dump.get("method") == "full"
    structured = bool(s["structured"]) and not full
    limits = tuple(s["limits"])
    betas, eps, clip = tuple(s["adamBetas"]), s["adamEpsilon"], s["maxGradNorm"]
    total = int(dump["totalSteps"])
    if full:
        # As run()'s full finetuning: theta itself trains.
        trained = {n: base[n].clone().requires_grad_(True) for n in names}
        optimizer, scheduler = adam_with_decay(list(trained.values()), s["learningRate"], total, betas, eps)
    else:
        w = {n: torch.zeros_like(base[n], requires_grad=True) for n in names}
        la = {n: torch.full_like(base[n], float(s["alphaInit"]), requires_grad=True) for n in gated}
        gla = {n: torch.full((1,), float(s["alphaInit"]), requires_grad=True) for n in gated} if structured else {}
        opt_w, sched_w = adam_with_decay(list(w.values()), s["learningRate"], total, betas, eps)
        alphas = list(la.values()) + list(gla.values())
        opt_a = torch.optim.Adam(alphas, lr=s["alphaLearningRate"], betas=betas, eps=eps, weight_decay=0)
    lo, hi = dump.get("uBounds", [1e-4, 0.9999])
    B = int(s["batchSize"])
    steps_per_epoch = math.ceil(len(data["train"]) / B)
    out = []
    for k, step in enumerate(dump["steps"]):
        if "order" in own:
            if k % steps_per_epoch == 0:
                order = list(range(len(data["train"])))
                random.shuffle(order)
            indices = order[(k % steps_per_epoch) * B : (k % steps_per_epoch + 1) * B]
        else:
            indices = step["batch"]
        batch = batchify([data["train"][j] for j in indices], regression)
        sites = step["dropoutSeeds"]
        drop = None if "dropout" in own else lambda x, rate, site: x * counter_dropout_mask(sites[site], tuple(x.shape), rate)  # noqa: E731
        if full:
            loss = finetune_step(model, trained, dict(trained), batch, regression, clip, optimizer, scheduler, drop=drop)
            out.append({"taskLoss": loss.item(), "expectedL0": 0.0})
            continue
        if "gates" in own:
            us = {n: torch.rand_like(base[n]).clamp(lo, hi) for n in gated}
            gus = {n: torch.rand(1).clamp(lo, hi) for n in gla}
        else:
            us = {n: counter_uniform(seed, tuple(base[n].shape)).clamp(lo, hi) for n, seed in zip(gated, step["gateSeeds"])}
            gus = {n: torch.tensor([u], dtype=torch.float32).clamp(lo, hi) for n, u in zip(gated, step["groupU"])}
        task_term, pen, _ = search_step(
            model, base, w, la, gla, us, gus, batch, regression, s["lambda"], limits, clip, opt_w, sched_w, opt_a, drop
        )
        out.append({"taskLoss": task_term.item(), "expectedL0": pen.item()})
    print(json.dumps({"steps": out}))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "check-step" and len(sys.argv) == 3:
        check_step(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == "run":
        run(*sys.argv[2:])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "replay":
        replay(*sys.argv[2:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
