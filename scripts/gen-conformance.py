#!/usr/bin/env python3
"""Generates outpost-infer's conformance fixtures: small real models and the
outputs onnxruntime gives for them.

Run by hand when the fixtures must change, never in CI:

    python3 -m venv /tmp/gen && /tmp/gen/bin/pip install scikit-learn skl2onnx onnx onnxruntime numpy
    /tmp/gen/bin/python scripts/gen-conformance.py

Writes tests/data/conformance/NAME.onnx and NAME.json; the JSON holds the
inputs (nested arrays, row-major, `null` for NaN) and onnxruntime's outputs,
plus the versions that produced them. outpost-infer's tests run every model
natively and as wasm32 under Node and compare with these outputs.

Besides what scikit-learn exports directly (isolation forest, random forests,
gradient boosting, logistic regression, StandardScaler and imputer pipelines,
an MLP), the script derives tree-ensemble variants by editing attributes, so
that every aggregate function and post transform of TreeEnsembleRegressor and
TreeEnsembleClassifier is checked against onnxruntime, and builds a small CNN
with onnx.helper.
"""

import copy
import json
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import skl2onnx
import sklearn
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "conformance"
OPSET = {"": 17, "ai.onnx.ml": 3}
ROWS = 32


def data(seed, n=400, features=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, features)).astype(np.float32)
    X[:, 0] = np.exp(X[:, 0] + 3)  # an amount-like skewed column
    y_bin = ((X[:, 1] + 0.5 * X[:, 2] + rng.normal(0, 0.5, n)) > 0.3).astype(np.int64)
    y_multi = np.digitize(X[:, 1] + X[:, 3], [-0.7, 0.7]).astype(np.int64)
    y_reg = (0.01 * X[:, 0] + X[:, 1] ** 2 - X[:, 2]).astype(np.float32)
    return X, y_bin, y_multi, y_reg


def plain(value):
    """numpy → JSON-able nested lists, NaN as null."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value] if value.dtype.kind == "f" else value.tolist()
    if isinstance(value, np.floating):
        value = float(value)
        return None if value != value else value
    return value


def save(name, model, inputs):
    OUT.mkdir(parents=True, exist_ok=True)
    if not isinstance(model, onnx.ModelProto):
        raise TypeError(name)
    onnx.checker.check_model(model)
    path = OUT / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, inputs)
    doc = {
        "producer": f"scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}, onnx {onnx.__version__}",
        "onnxruntime": ort.__version__,
        "inputs": {k: plain(v) for k, v in inputs.items()},
        "outputs": {n: plain(r) for n, r in zip(names, results)},
    }
    (OUT / f"{name}.json").write_text(json.dumps(doc) + "\n")
    print(f"{name}: {path.stat().st_size} bytes, outputs {names}")


def sk(model, X, **options):
    return to_onnx(model, X[:1], target_opset=OPSET, options=options or None)


def with_attrs(model, op_type, **attrs):
    """A copy of `model` with attributes of its `op_type` nodes replaced."""
    model = copy.deepcopy(model)
    for node in model.graph.node:
        if node.op_type != op_type:
            continue
        keep = [a for a in node.attribute if a.name not in attrs]
        del node.attribute[:]
        node.attribute.extend(keep)
        for key, value in attrs.items():
            if value is not None:
                node.attribute.append(helper.make_attribute(key, value))
    return model


def main():
    X, y_bin, y_multi, y_reg = data(7)
    rows = {"X": X[-ROWS:]}

    iso = IsolationForest(n_estimators=12, max_samples=64, random_state=1).fit(X)
    save("isolation_forest", sk(iso, X), rows)

    rfc = RandomForestClassifier(n_estimators=6, max_depth=5, random_state=2)
    labels = np.array(["legit", "review", "fraud"])[y_multi]
    rfc.fit(X, labels)
    save("random_forest_classifier", sk(rfc, X, zipmap=False), rows)
    rfc_bin = RandomForestClassifier(n_estimators=6, max_depth=5, random_state=3).fit(X, y_bin)
    save("random_forest_binary", sk(rfc_bin, X, zipmap=False), rows)

    rfr = RandomForestRegressor(n_estimators=6, max_depth=5, random_state=4).fit(X, y_reg)
    save("random_forest_regressor", sk(rfr, X), rows)

    gbc = GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=5).fit(X, y_bin)
    save("gradient_boosting_classifier", sk(gbc, X, zipmap=False), rows)
    gbc3 = GradientBoostingClassifier(n_estimators=8, max_depth=2, random_state=5).fit(X, y_multi)
    save("gradient_boosting_multiclass", sk(gbc3, X, zipmap=False), rows)
    gbr = GradientBoostingRegressor(n_estimators=15, max_depth=3, random_state=6).fit(X, y_reg)
    save("gradient_boosting_regressor", sk(gbr, X), rows)

    logreg = LogisticRegression(max_iter=500).fit(X[:, 1:], y_bin)
    save("logistic_regression", sk(logreg, X[:, 1:], zipmap=False), {"X": X[-ROWS:, 1:]})

    scaled = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y_multi)
    save("standard_scaler_pipeline", sk(scaled, X, zipmap=False), rows)

    mlp = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=400, random_state=8)
    ).fit(X, y_bin)
    save("mlp", sk(mlp, X, zipmap=False), rows)

    # Missing values: SimpleImputer → Imputer, then trees with NaN-free inputs.
    Xm = X.copy()
    Xm[::5, 1] = np.nan
    Xm[::7, 3] = np.nan
    imputed = make_pipeline(
        SimpleImputer(strategy="mean"), GradientBoostingRegressor(n_estimators=5, max_depth=2)
    ).fit(Xm, y_reg)
    save("imputer_pipeline", sk(imputed, Xm), {"X": Xm[-ROWS:]})

    tree_variants(X, y_bin, y_multi, rows)
    unsupported(X, y_reg)
    save("cnn", cnn(), {"image": np.random.default_rng(9).normal(0, 1, (4, 1, 8, 8)).astype(np.float32)})


def tree_variants(X, y_bin, y_multi, rows):
    """Every aggregate function and post transform, checked against onnxruntime."""
    # Probabilities as two regression targets keep PROBIT's domain (0, 1).
    targets = np.stack([y_bin * 0.8 + 0.1, (1 - y_bin) * 0.6 + 0.2], axis=1).astype(np.float32)
    rf2 = RandomForestRegressor(n_estimators=4, max_depth=3, random_state=10).fit(X, targets)
    base = sk(rf2, X)
    # skl2onnx declares [N, 1] for a two-target forest; the graph yields [N, 2].
    base.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 2
    rf1 = RandomForestRegressor(n_estimators=4, max_depth=3, random_state=11).fit(X, targets[:, 0])
    base1 = sk(rf1, X)
    for aggregate in ["SUM", "AVERAGE", "MIN", "MAX"]:
        for transform in ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"]:
            if aggregate != "AVERAGE" and transform not in ("NONE", "LOGISTIC"):
                continue
            name = f"tree_regressor_{aggregate.lower()}_{transform.lower()}"
            model = with_attrs(base, "TreeEnsembleRegressor", aggregate_function=aggregate, post_transform=transform)
            save(name, model, rows)
        model = with_attrs(
            base1, "TreeEnsembleRegressor", aggregate_function=aggregate, base_values=[0.05]
        )
        save(f"tree_regressor_1_{aggregate.lower()}", model, rows)
    model = with_attrs(base1, "TreeEnsembleRegressor", aggregate_function="AVERAGE", post_transform="PROBIT")
    save("tree_regressor_1_probit", model, rows)

    rfc = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=12).fit(X, y_multi)
    basec = sk(rfc, X, zipmap=False)
    for transform in ["LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"]:
        model = with_attrs(basec, "TreeEnsembleClassifier", post_transform=transform)
        save(f"tree_classifier_{transform.lower()}", model, rows)
    model = with_attrs(basec, "TreeEnsembleClassifier", base_values=[0.1, -0.2, 0.3])
    save("tree_classifier_base_values", model, rows)


def unsupported(X, y_reg):
    """A real model Outpost cannot run (SVMRegressor is not implemented): the
    promotion runtime gate must refuse it, naming the operator."""
    from sklearn.svm import SVR

    svr = SVR().fit(X[:100], y_reg[:100])
    path = OUT.parent / "models" / "svm-regressor.onnx"
    path.write_bytes(sk(svr, X).SerializeToString())
    print(f"{path.name}: {path.stat().st_size} bytes")


def cnn():
    rng = np.random.default_rng(13)
    w = numpy_helper.from_array(rng.normal(0, 0.5, (4, 1, 3, 3)).astype(np.float32), "conv_w")
    b = numpy_helper.from_array(rng.normal(0, 0.1, (4,)).astype(np.float32), "conv_b")
    fc = numpy_helper.from_array(rng.normal(0, 0.3, (64, 3)).astype(np.float32), "fc_w")
    fcb = numpy_helper.from_array(rng.normal(0, 0.1, (3,)).astype(np.float32), "fc_b")
    nodes = [
        helper.make_node("Conv", ["image", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "small_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        initializer=[w, b, fc, fcb],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="outpost")
    model.ir_version = 8
    return model


if __name__ == "__main__":
    main()
