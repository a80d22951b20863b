#!/usr/bin/env python3
"""Generates the reference values outpost-core's quality metrics are tested
against: scikit-learn's accuracy_score, precision_recall_fscore_support
(zero_division=0) and roc_auc_score, and, with numpy, the expected
calibration error (Guo et al. 2017, 10 equal-width bins of the top score),
the mean top score and the mean entropy of the scores.

Two files:
- crates/outpost-core/tests/data/quality-vectors.json: synthetic cases
  (binary and multi-class with probabilities, labels only, text labels,
  a class never predicted).
- tests/data/quality/fraud-detector.json: an end-to-end case. The inputs are
  200 rows of tests/data/models/transactions-reference.csv, the actual
  labels a fixed rule on them, and the predictions those of
  tests/data/models/fraud-detector-1.2.0.onnx run natively by
  `target/debug/outpost predict` (tract); the expected metrics are
  scikit-learn's on those labels and predictions.

Run by hand when the vectors must change, never in CI (after
`cargo build --bin outpost`):

    python3 -m venv /tmp/gen && /tmp/gen/bin/pip install numpy scikit-learn
    /tmp/gen/bin/python scripts/gen-quality-vectors.py
"""

import csv
import json
import pathlib
import subprocess
import tempfile

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

ROOT = pathlib.Path(__file__).resolve().parent.parent
CALIBRATION_BINS = 10


def expected(actual, predicted, scores=None, classes_of_scores=None):
    """scikit-learn's metrics (and numpy's calibration/confidence figures)."""
    labels = sorted(set(actual) | set(predicted))
    p, r, f, s = precision_recall_fscore_support(actual, predicted, labels=labels, zero_division=0)
    out = {
        "accuracy": accuracy_score(actual, predicted),
        "classes": {
            c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, c in enumerate(labels)
        },
        "macro": {"precision": float(np.mean(p)), "recall": float(np.mean(r)), "f1": float(np.mean(f))},
    }
    if scores is not None:
        scores = np.asarray(scores, dtype=float)
        aucs = []
        for j, c in enumerate(classes_of_scores):
            y = np.array([a == c for a in actual])
            if c in out["classes"] and 0 < y.sum() < len(y):
                auc = float(roc_auc_score(y, scores[:, j]))
                out["classes"][c]["roc_auc"] = auc
                aucs.append(auc)
        out["macro"]["roc_auc"] = float(np.mean(aucs))
        top = scores.max(axis=1)
        correct = np.array([a == b for a, b in zip(actual, predicted)], dtype=float)
        bins = np.minimum((top * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
        ece = 0.0
        for b in range(CALIBRATION_BINS):
            mask = bins == b
            if mask.any():
                ece += mask.sum() / len(top) * abs(correct[mask].mean() - top[mask].mean())
        q = scores / scores.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.where(q > 0, q * np.log(q), 0.0).sum(axis=1)
        out["calibration_error"] = float(ece)
        out["mean_top_score"] = float(top.mean())
        out["mean_entropy"] = float(entropy.mean())
    return out


def case(name, actual, predicted, scores=None, classes_of_scores=None):
    outcomes = []
    for i, (a, p) in enumerate(zip(actual, predicted)):
        o = {"actual": a, "predicted": p}
        if scores is not None:
            o["scores"] = {c: float(scores[i][j]) for j, c in enumerate(classes_of_scores)}
        outcomes.append(o)
    return {"name": name, "outcomes": outcomes, "expected": expected(actual, predicted, scores, classes_of_scores)}


def synthetic():
    rng = np.random.default_rng(20261130)
    cases = []
    # Binary with probabilities: a noisy score, thresholded at 0.5.
    n = 500
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.5 + (y - 0.5) * rng.uniform(0.0, 0.9, n) + rng.normal(0, 0.2, n), 0.0, 1.0)
    pred = (p1 >= 0.5).astype(int)
    scores = np.stack([1 - p1, p1], axis=1)
    cases.append(case("binary-scored", [str(v) for v in y], [str(v) for v in pred], scores, ["0", "1"]))
    # Three classes with softmax probabilities.
    n = 600
    y = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), y] += rng.uniform(0, 2.5, n)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    cases.append(case("three-classes", [str(v) for v in y], [str(v) for v in pred], probs, ["0", "1", "2"]))
    # Labels only, text classes, one class never predicted (zero division).
    actual = ["fraud"] * 7 + ["ok"] * 30 + ["review"] * 3
    predicted = ["fraud"] * 4 + ["ok"] * 3 + ["ok"] * 28 + ["fraud"] * 2 + ["ok"] * 3
    cases.append(case("text-labels-unpredicted-class", actual, predicted))
    # A predicted class that never actually occurs.
    cases.append(case("predicted-only-class", ["a", "a", "b", "b"], ["a", "c", "b", "b"]))
    return cases


def fraud_detector():
    rows = []
    with open(ROOT / "tests/data/models/transactions-reference.csv") as f:
        reader = csv.reader(f)
        next(reader)
        for i, row in enumerate(reader):
            if i >= 200:
                break
            rows.append([float(x) for x in row])
    # The "truth": an analyst's rule, deliberately not the model.
    actual = ["1" if (r[0] > 400 and r[3] > 0.5) or r[3] > 0.85 else "0" for r in rows]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as tmp:
        json.dump({"X": rows}, tmp)
        tmp.flush()
        ran = subprocess.run(
            [str(ROOT / "target/debug/outpost"), "--json", "predict",
             str(ROOT / "tests/data/models/fraud-detector-1.2.0.onnx"), "--input", tmp.name],
            check=True, capture_output=True, text=True)
    outputs = json.loads(ran.stdout)["outputs"]
    predicted = [str(int(v)) for v in outputs["label"]]
    scores = np.array(outputs["probabilities"], dtype=float)
    c = case("fraud-detector-1.2.0", actual, predicted, scores, ["0", "1"])
    return {"inputs": {"X": rows}, "actual": actual, "predicted": predicted, "expected": c["expected"]}


def main():
    out = ROOT / "crates/outpost-core/tests/data/quality-vectors.json"
    out.write_text(json.dumps({"calibration_bins": CALIBRATION_BINS, "cases": synthetic()}, indent=1) + "\n")
    e2e = ROOT / "tests/data/quality/fraud-detector.json"
    e2e.parent.mkdir(exist_ok=True)
    e2e.write_text(json.dumps(fraud_detector(), indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)} and {e2e.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
