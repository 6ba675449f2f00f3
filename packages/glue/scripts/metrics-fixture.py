#!/usr/bin/python3
"""Second implementation of the GLUE metrics, for src/metrics.test.ts.

Computes accuracy, F1, Matthews correlation (scikit-learn) and Pearson / Spearman (scipy) on a set
of prediction/label cases and writes them to src/fixtures/metrics.json. Run with Debian's python
(apt-get install python3-sklearn python3-scipy):

    /usr/bin/python3 packages/glue/scripts/metrics-fixture.py

NaN (undefined correlations) is stored as null.
"""

import json
import math
import os
import sys
import warnings

import numpy as np
import scipy
import sklearn
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

warnings.simplefilter("ignore")  # constant-input and zero-division warnings are part of the cases

rng = np.random.RandomState(20210801)


def noisy_labels(n, classes, agreement):
    labels = rng.randint(0, classes, size=n)
    predictions = labels.copy()
    flip = rng.rand(n) > agreement
    predictions[flip] = rng.randint(0, classes, size=int(flip.sum()))
    return predictions.tolist(), labels.tolist()


classification = [
    ("binary-random-200", *noisy_labels(200, 2, 0.7)),
    ("binary-random-1043", *noisy_labels(1043, 2, 0.8)),
    ("binary-all-correct", [0, 1, 1, 0, 1], [0, 1, 1, 0, 1]),
    ("binary-all-wrong", [1, 0, 0, 1, 0], [0, 1, 1, 0, 1]),
    ("binary-constant-prediction-0", [0] * 8, [0, 1, 0, 1, 1, 0, 0, 1]),
    ("binary-constant-prediction-1", [1] * 8, [0, 1, 0, 1, 1, 0, 0, 1]),
    ("binary-constant-labels", [0, 1, 0, 1, 1], [1] * 5),
    ("binary-no-positives-anywhere", [0, 0, 0, 0], [0, 0, 0, 0]),
    ("binary-single-example", [1], [1]),
    ("binary-imbalanced", [0] * 90 + [1] * 5 + [0] * 5, [0] * 90 + [1] * 10),
    ("three-class-random-300", *noisy_labels(300, 3, 0.6)),
    ("three-class-missing-class", [0, 1, 1, 0, 2, 1], [0, 1, 0, 0, 1, 1]),
]

scores_x = rng.uniform(0, 5, size=150)
scores_y = np.clip(scores_x + rng.normal(0, 1.2, size=150), 0, 5)
regression = [
    ("regression-random-150", scores_y.tolist(), scores_x.tolist()),
    # Heavy ties: scores on a 0.2 grid, as STS-B's gold scores are.
    ("regression-ties-grid", np.round(scores_y * 5) / 5, np.round(scores_x * 5) / 5),
    ("regression-ties-small", [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 5.0], [0.5, 2.5, 1.5, 3.5, 3.5, 2.5, 4.0]),
    ("regression-perfect-monotone-nonlinear", [1.0, 8.0, 27.0, 64.0, 125.0], [1.0, 2.0, 3.0, 4.0, 5.0]),
    ("regression-anticorrelated", [5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]),
    ("regression-constant-prediction", [2.5] * 6, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
]


def clean(value):
    value = float(value)
    return None if math.isnan(value) else value


cases = []
for name, predictions, labels in classification:
    classes = sorted(set(predictions) | set(labels))
    entry = {
        "name": name,
        "kind": "classification",
        "predictions": [int(v) for v in predictions],
        "labels": [int(v) for v in labels],
        "accuracy": clean(accuracy_score(labels, predictions)),
        "matthews": clean(matthews_corrcoef(labels, predictions)),
    }
    if max(classes) <= 1:
        entry["f1"] = clean(f1_score(labels, predictions, pos_label=1, average="binary"))
    cases.append(entry)

for name, predictions, labels in regression:
    predictions = [float(v) for v in predictions]
    labels = [float(v) for v in labels]
    cases.append(
        {
            "name": name,
            "kind": "regression",
            "predictions": predictions,
            "labels": labels,
            "pearson": clean(pearsonr(predictions, labels)[0]),
            "spearman": clean(spearmanr(predictions, labels)[0]),
        }
    )

output = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "fixtures", "metrics.json")
os.makedirs(os.path.dirname(output), exist_ok=True)
document = {
    "generator": "packages/glue/scripts/metrics-fixture.py",
    "python": sys.version.split()[0],
    "sklearn": sklearn.__version__,
    "scipy": scipy.__version__,
    "numpy": np.__version__,
    "cases": cases,
}
# One case per line, so a regenerated fixture diffs readably.
header = {key: value for key, value in document.items() if key != "cases"}
lines = [json.dumps(case) for case in cases]
with open(output, "w", encoding="utf8") as handle:
    handle.write(json.dumps(header)[:-1] + ', "cases": [\n ' + ",\n ".join(lines) + "\n]}\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(output)}")
