#!/usr/bin/env python3
"""Markdown table from `diffprune-bench step --json --vs-pytorch` lines (scripts/step-table.sh output).

Usage: step-table.py [--cpu] FILE.jsonl [FILE.jsonl ...]   (one row per size/seq/method, one column
per backend). Cells: wall ms per step (median) and, in parentheses, the ratio to PyTorch measured in the
same run (wall / CPU time); with --cpu, CPU ms per step and the CPU-time ratio. PyTorch's column is the
median over every run that measured it.
"""

import json
import statistics
import sys

cpu_mode = "--cpu" in sys.argv[1:]
rows, backends = {}, []
for path in [a for a in sys.argv[1:] if a != "--cpu"]:
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        d = json.loads(line)
        key = (d["size"], d["seq"], d["method"])
        row = rows.setdefault(key, {"torch": [], "torch_cpu": []})
        if d.get("failed"):
            row[d["backend"]] = None
            continue
        backend = d["tfjs"]["backend"]
        if backend not in backends:
            backends.append(backend)
        row[backend] = d
        p = d.get("pytorch") or {}
        if "medianMs" in p:
            row["torch"].append(p["medianMs"])
            row["torch_cpu"].append(p.get("medianCpuMs", float("nan")))

order = {"tiny": 0, "mini": 1, "base": 2}
header = ["size", "seq", "method"] + [f"tfjs {b}" for b in backends] + ["PyTorch 1.13 (OpenBLAS)"]
print("| " + " | ".join(header) + " |")
print("|" + "---|" * len(header))
for key in sorted(rows, key=lambda k: (order[k[0]], k[1], k[2] != "full")):
    row = rows[key]
    cells = [key[0].capitalize(), str(key[1]), "full FT" if key[2] == "full" else "diff pruning"]
    for b in backends:
        d = row.get(b)
        if b in row and d is None:
            cells.append("failed")
        elif d is None:
            cells.append("–")
        else:
            t = d["tfjs"]
            if cpu_mode:
                cpu_ratio = d.get("cpuRatioToPytorch")
                extra = f" ({cpu_ratio:.2f}×)" if cpu_ratio is not None else ""
                cells.append(f"{t['medianCpuMs']:,.0f}{extra}" if "medianCpuMs" in t else "–")
                continue
            ratio = d.get("ratioToPytorch")
            cpu_ratio = d.get("cpuRatioToPytorch")
            extra = ""
            if ratio is not None:
                extra = f" ({ratio:.2f}×" + (f" / {cpu_ratio:.2f}× CPU" if cpu_ratio is not None else "") + ")"
            cells.append(f"{t['medianMs']:,.0f}{extra}")
    column = [v for v in row["torch_cpu" if cpu_mode else "torch"] if v == v]
    cells.append(f"{statistics.median(column):,.0f}" if column else "–")
    print("| " + " | ".join(cells) + " |")
