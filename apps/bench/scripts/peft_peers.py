#!/usr/bin/env python3
"""PEFT peers of diff pruning at the same budget: LoRA and SHiRA (a sparse high-rank adapter,
`peft.ShiraConfig`, random sparse mask) at ≈ 0.5 % trainable parameters on the same base model,
encoded examples, batch, learning rate, seeds and total epochs as diffprune's structured diff-pruning
runs (search + fixed-mask epochs), best dev checkpoint over the epoch ends. Never a project
dependency; `diffprune-bench peers` runs it and skips with the reason where peft is absent.

  python3 peft_peers.py MODEL_DIR DATA.json CONFIG.json OUT.json

CONFIG.json: {"id", "method": lora|shira, "label", "seed", "batchSize", "epochs", "learningRate",
"adamBetas", "adamEpsilon", "maxGradNorm", "targetShare", "threads"}. The rank r is the one whose
trainable share (adapters on every Linear of the encoder and pooler, plus the classifier head, as
diff pruning counts its dense head) is nearest to targetShare; SHiRA has r·(m + n) parameters per
m×n weight, the same count as LoRA's. Writes one JSON record atomically (temp + rename).
"""
import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(model_dir, data_path, config_path, out_path):
    from torch_diffprune import batchify, metric, start, task_loss, write_record

    cfg = start(config_path)
    import peft
    import torch
    from transformers import BertForSequenceClassification

    seed = int(cfg["seed"])
    started = time.time()
    data = json.load(open(data_path))
    task, regression, num_labels = data["task"], data["regression"], data["numLabels"]
    model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=num_labels)
    total = sum(p.numel() for p in model.parameters())
    head = sum(p.numel() for n, p in model.named_parameters() if n.startswith("classifier."))
    linears = [m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and not n.startswith("classifier")]
    per_rank = sum(m.in_features + m.out_features for m in linears)
    target = cfg["targetShare"] * total
    r = max(1, min(range(1, 64), key=lambda k: abs(k * per_rank + head - target)))
    targets = ["query", "key", "value", "dense"]
    method = cfg["method"]
    if method == "lora":
        config = peft.LoraConfig(task_type="SEQ_CLS", r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=targets)
    elif method == "shira":
        config = peft.ShiraConfig(task_type="SEQ_CLS", r=r, random_seed=seed, target_modules=targets)
    else:
        raise SystemExit(f"unknown method {method}")
    model = peft.get_peft_model(model, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    share = sum(p.numel() for p in trainable) / total
    train, dev = data["train"], data["dev"]
    B = int(cfg["batchSize"])
    epochs = int(cfg["epochs"])

    def evaluate():
        model.eval()
        predictions, labels = [], []
        with torch.no_grad():
            for i in range(0, len(dev), 64):
                ids, types, mask, y = batchify(dev[i : i + 64], regression)
                o = model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
                predictions += (o[:, 0] if regression else o.argmax(-1)).tolist()
                labels += y.tolist()
        model.train()
        return metric(task, predictions, labels)

    optimizer = torch.optim.AdamW(
        trainable, lr=cfg["learningRate"], betas=tuple(cfg["adamBetas"]), eps=cfg["adamEpsilon"], weight_decay=0
    )
    total_steps = epochs * math.ceil(len(train) / B)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total_steps))
    model.train()
    best, history, steps = None, [], 0
    for epoch in range(epochs):
        order = list(range(len(train)))
        random.shuffle(order)
        for i in range(0, len(order), B):
            ids, types, mask, y = batchify([train[j] for j in order[i : i + B]], regression)
            logits = model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
            loss = task_loss(logits, y, regression)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, cfg["maxGradNorm"])
            optimizer.step()
            scheduler.step()
            steps += 1
        headline, metrics = evaluate()
        history.append({"epoch": epoch + 1, **metrics})
        if best is None or metrics[headline] > best[1][headline]:
            best = (headline, metrics)
    headline, metrics = best
    record = {
        "id": cfg["id"],
        "method": method,
        "label": f"{cfg.get('label', method)} (r {r})",
        "task": task,
        "seed": seed,
        "headlineMetric": headline,
        "headline": metrics[headline],
        "metrics": metrics,
        "density": share,
        "rank": r,
        "steps": steps,
        "wallTimeMs": (time.time() - started) * 1000,
        "implementation": f"peft {peft.__version__}, torch {torch.__version__} (scripts/peft_peers.py)",
        "finishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "history": history,
    }
    write_record(record, out_path)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        sys.exit(2)
    main(*sys.argv[1:])
