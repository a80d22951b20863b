#!/usr/bin/env python3
"""Generates Outpost's committed test and demo models (scikit-learn -> ONNX).

Run by hand when the fixtures must change, never in CI:

    python3 -m venv /tmp/gen && /tmp/gen/bin/pip install scikit-learn skl2onnx onnx numpy
    /tmp/gen/bin/python scripts/gen-fixtures.py

Writes tests/data/models/: a few small, real fraud/anomaly models in several
versions (different seeds and hyper-parameters, so their metrics differ), an
unsafe pickle for the safety scan, and manifest.json describing each version
(model, version, file, metrics measured on a held-out set, tags, params). The
data is synthetic card transactions: amount, hour, distance from home, merchant
risk; about 3 % are fraud.
"""

import json
import pathlib
import pickle

import numpy as np
from skl2onnx import to_onnx
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "models"
OPSET = {"": 17, "ai.onnx.ml": 3}
FEATURES = ["amount", "hour", "distance_km", "merchant_risk"]


def transactions(n, seed):
    rng = np.random.default_rng(seed)
    fraud = rng.random(n) < 0.03
    amount = np.where(fraud, rng.lognormal(5.5, 1.0, n), rng.lognormal(3.5, 0.8, n))
    hour = np.where(fraud, rng.normal(3, 2, n) % 24, rng.normal(14, 4, n) % 24)
    distance = np.where(fraud, rng.exponential(400, n), rng.exponential(12, n))
    risk = np.where(fraud, rng.beta(5, 2, n), rng.beta(2, 5, n))
    x = np.column_stack([amount, hour, distance, risk]).astype(np.float32)
    return x, fraud.astype(np.int64)


def scores(y_true, y_pred, y_score):
    return {
        "f1": round(float(f1_score(y_true, y_pred)), 4),
        "precision": round(float(precision_score(y_true, y_pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y_true, y_pred)), 4),
        "auc": round(float(roc_auc_score(y_true, y_score)), 4),
    }


def write_reference(x):
    """The first 1 000 training rows as CSV: the reference sample the demo
    pushes with the transaction models (`outpost push --reference`)."""
    lines = [",".join(FEATURES)] + [",".join(f"{v:.4f}" for v in row) for row in x]
    (OUT / "transactions-reference.csv").write_text("\n".join(lines) + "\n")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    x, y = transactions(6000, seed=7)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=7, stratify=y)
    write_reference(x_train[:1000])
    entries = []

    def save(model, name, version, onnx_model, metrics, params, tags, framework, notes):
        file = f"{name}-{version}.onnx"
        (OUT / file).write_bytes(onnx_model.SerializeToString())
        entries.append(
            {
                "model": name,
                "version": version,
                "file": file,
                "format": "onnx",
                "framework": framework,
                "metrics": metrics,
                "params": params,
                "tags": tags,
                "notes": notes,
            }
        )

    # Isolation forests: unsupervised anomaly scores (lower = more anomalous).
    for version, (trees, samples, seed, tags) in {
        "1.0.0": (20, 64, 1, ["baseline"]),
        "1.1.0": (40, 128, 2, ["candidate"]),
    }.items():
        model = IsolationForest(n_estimators=trees, max_samples=samples, contamination=0.03, random_state=seed)
        model.fit(x_train)
        pred = (model.predict(x_test) == -1).astype(int)
        metrics = scores(y_test, pred, -model.score_samples(x_test))
        onnx_model = to_onnx(model, x_train[:1], target_opset=OPSET)
        save(model, "transaction-anomaly", version, onnx_model, metrics,
             {"n_estimators": trees, "max_samples": samples, "random_state": seed},
             tags, "scikit-learn IsolationForest", "unsupervised; trained without labels")

    # Random forests: the fraud detector.
    for version, (trees, depth, seed, tags) in {
        "1.0.0": (8, 3, 1, ["baseline"]),
        "1.1.0": (16, 5, 2, ["prod-ready", "eu"]),
        "1.2.0": (24, 6, 3, ["prod-ready"]),
    }.items():
        model = RandomForestClassifier(n_estimators=trees, max_depth=depth, random_state=seed)
        model.fit(x_train, y_train)
        metrics = scores(y_test, model.predict(x_test), model.predict_proba(x_test)[:, 1])
        onnx_model = to_onnx(model, x_train[:1], target_opset=OPSET, options={id(model): {"zipmap": False}})
        save(model, "fraud-detector", version, onnx_model, metrics,
             {"n_estimators": trees, "max_depth": depth, "random_state": seed},
             tags, "scikit-learn RandomForestClassifier", f"{trees} trees of depth {depth}")

    # Small neural nets behind a scaler.
    for version, (hidden, seed, tags) in {
        "0.1.0": ((8,), 4, ["experimental"]),
        "0.2.0": ((16, 8), 5, ["experimental", "candidate"]),
    }.items():
        model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=hidden, max_iter=400, random_state=seed))
        model.fit(x_train, y_train)
        metrics = scores(y_test, model.predict(x_test), model.predict_proba(x_test)[:, 1])
        onnx_model = to_onnx(model, x_train[:1], target_opset=OPSET, options={id(model): {"zipmap": False}})
        save(model, "fraud-mlp", version, onnx_model, metrics,
             {"hidden_layer_sizes": list(hidden), "max_iter": 400}, tags,
             "scikit-learn MLPClassifier", f"StandardScaler + MLP{hidden}")

    # A pickle that runs a shell command when loaded: the safety scan must
    # flag it (it is never loaded by Outpost or by this repository's tests).
    class RunsShell:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    (OUT / "unsafe-os-system.pkl").write_bytes(pickle.dumps(RunsShell(), protocol=4))
    # A harmless pickle of plain data.
    (OUT / "plain-data.pkl").write_bytes(pickle.dumps({"threshold": 0.7, "features": FEATURES}, protocol=4))

    manifest = {
        "features": FEATURES,
        "primary_metric": "f1",
        "descriptions": {
            "transaction-anomaly": "Isolation forest over card transactions; flags unusual ones for review",
            "fraud-detector": "Random-forest fraud classifier for card transactions",
            "fraud-mlp": "Small neural net fraud classifier (experimental)",
        },
        "versions": entries,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for entry in entries:
        print(f"{entry['model']}@{entry['version']}: {entry['metrics']}")


if __name__ == "__main__":
    main()
