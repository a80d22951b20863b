"""The Python SDK without a registry: inference, drift and profiles are the
Rust core's, so they must give exactly the answers the other runtimes are
held to (onnxruntime's outputs on the conformance fixtures, scipy's and
Evidently's on the drift vectors, the CLI's on the same files)."""

from __future__ import annotations

import json
import math
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

import outpost
from outpost import InputError, ModelError, drift

from conftest import DATA, ROOT

CONFORMANCE = sorted((DATA / "conformance").glob("*.json"))


def test_there_are_conformance_fixtures():
    assert len(CONFORMANCE) >= 30


def _close(got, want, where):
    if isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            _close(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not float(want).is_integer():
        assert abs(got - want) <= 1e-5 * abs(want) + 1e-6, f"{where}: {got} but onnxruntime gives {want}"
    elif isinstance(want, float):
        assert got == want or abs(got - want) <= 1e-6, f"{where}: {got} != {want}"
    else:
        assert got == want, f"{where}: {got} != {want}"


@pytest.mark.parametrize("fixture", CONFORMANCE, ids=lambda p: p.stem)
def test_conformance_fixture_matches_onnxruntime(fixture):
    doc = json.loads(fixture.read_text())
    model = outpost.Model.load(fixture.with_suffix(".onnx"))
    inputs = {
        name: np.array([[math.nan if v is None else v for v in row] for row in rows], dtype=float)
        if rows and isinstance(rows[0], list)
        else np.array(rows)
        for name, rows in doc["inputs"].items()
    }
    outputs = model.predict(inputs)
    for name, want in doc["outputs"].items():
        got = outputs[name]
        if got.dtype == object:
            _close(got.tolist(), want, name)
        else:
            _close(got.astype(float).tolist() if got.dtype.kind == "f" else got.tolist(), want, name)


def test_bad_inputs_name_the_input_and_are_counted_as_the_wasm_client_counts_them():
    model = outpost.Model.load(DATA / "conformance" / "isolation_forest.onnx")
    (name, element_type, shape) = model.inputs[0]
    assert (name, element_type) == ("X", "float") and shape[-1] == 4
    with pytest.raises(InputError, match="input `X`"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(InputError, match="input `X`"):
        model.predict(np.zeros(4))
    with pytest.raises(InputError, match="input `X` cannot be read as float"):
        model.predict([["a", "b", "c", "d"]])
    with pytest.raises(InputError, match="no input named"):
        model.predict({"X": np.zeros((1, 4)), "extra": np.zeros(1)})
    # As in the wasm client: a call the model's schema refuses (the wrong
    # width, the wrong rank) is a failed call; one refused before it reaches
    # the model (text, an unknown input) is not a call at all.
    window = model.report()
    assert (window["calls"], window["errors"]) == (2, 2), window
    model.predict(np.zeros((2, 4)))
    window = model.report()
    assert (window["calls"], window["errors"], window["rows"]) == (1, 0, 2), window


def _int64_identity() -> bytes:
    """A one-node model taking int64[N, 2]: Y = Cast<float>(X)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Cast", ["X"], ["Y"], to=TensorProto.FLOAT)],
        "ints",
        [helper.make_tensor_value_info("X", TensorProto.INT64, ["N", 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_lossy_conversions_are_refused():
    model = outpost.Model.load(_int64_identity())
    assert model.inputs == [("X", "int64", ["N", 2])]
    # Whole numbers convert, whatever their numpy type.
    assert model.predict(np.array([[1.0, -3.0]]))["Y"].tolist() == [[1.0, -3.0]]
    assert model.predict([[2, 5]])["Y"].tolist() == [[2.0, 5.0]]
    with pytest.raises(InputError, match="whole numbers"):
        model.predict(np.array([[1.7, 2.0]]))
    with pytest.raises(InputError, match="whole numbers"):
        model.predict(np.array([[np.nan, 2.0]]))
    with pytest.raises(InputError, match="whole numbers"):
        model.predict([["1.5", "2"]])


def test_a_malformed_model_is_a_model_error_with_its_stage():
    with pytest.raises(ModelError) as refused:
        outpost.Model.load(b"\x08\x07 not onnx at all")
    assert refused.value.stage in {"parse", "validate"}
    # The hostile ONNX cases every runtime must decide alike: refused with the
    # native build's reason, and a tree with shared children accepted.
    hostile = ROOT / "crates" / "outpost-infer" / "tests" / "data" / "hostile"
    for case, words in (("onnx-dim-beyond-u32", "4294967297"), ("onnx-external-data-dotdot", "external")):
        with pytest.raises(ModelError, match=words):
            outpost.Model.load(hostile / f"{case}.onnx")
    assert outpost.Model.load(hostile / "tree-shared-child.onnx").output_names


def test_numeric_drift_matches_scipy():
    vectors = json.loads((ROOT / "crates/outpost-core/tests/data/drift-vectors.json").read_text())
    checked = 0
    for case in vectors["numeric"]:
        result = drift.compare({"x": case["reference"]}, {"x": case["current"]})
        feature = result.features[0]
        want = {"ks": case["ks_pvalue"], "wasserstein": case["wasserstein_normed"], "jensen_shannon": case["jensenshannon"]}.get(feature.test)
        if want is None:
            continue
        assert math.isclose(feature.score, want, rel_tol=1e-9, abs_tol=1e-12), (case["name"], feature, want)
        checked += 1
    assert checked >= 5


def test_categorical_drift_matches_evidently():
    vectors = json.loads((ROOT / "crates/outpost-core/tests/data/drift-vectors.json").read_text())
    for case in vectors["categorical"]:
        result = drift.compare({"c": case["reference"]}, {"c": case["current"]})
        feature = result.features[0]
        assert (feature.test, feature.drifted) == (case["default_test"], case["drifted"]), case["name"]


def test_dataframe_drift_is_the_clis_on_the_same_files(tmp_path):
    rng = np.random.default_rng(7)
    reference = pd.DataFrame(
        {"amount": rng.lognormal(3, 1, 400), "hour": rng.integers(0, 24, 400), "merchant": rng.choice(["food", "travel", "games"], 400)}
    )
    current = pd.DataFrame(
        {"amount": rng.lognormal(3.6, 1, 300), "hour": rng.integers(0, 24, 300), "merchant": rng.choice(["food", "travel"], 300)}
    )
    reference.loc[3, "amount"] = np.nan
    # Nullable and boolean columns: pandas' NA is missing, True/False categories.
    reference["weekend"] = rng.choice([True, False], 400)
    current["weekend"] = rng.choice([True, False], 300)
    reference["risk_band"] = pd.array(rng.choice([1, 2, 3], 400), dtype="Int64")
    reference.loc[5, "risk_band"] = pd.NA
    current["risk_band"] = pd.array(rng.choice([1, 2, 3], 300), dtype="Int64")
    ours = drift.compare(reference, current)
    reference.to_csv(tmp_path / "reference.csv", index=False)
    current.to_csv(tmp_path / "current.csv", index=False)
    binary = os.environ.get("OUTPOST_BIN", str(ROOT / "target" / "debug" / "outpost"))
    printed = subprocess.run(
        [binary, "--json", "drift", "compare", str(tmp_path / "reference.csv"), str(tmp_path / "current.csv")],
        capture_output=True,
        text=True,
    )
    assert printed.returncode == 0, printed.stderr
    cli = json.loads(printed.stdout)
    assert [f.__dict__ for f in ours.features] == cli["features"]
    assert (ours.drifted, ours.drifted_features) == (cli["dataset"]["drifted"], cli["dataset"]["drifted_features"])
    assert ours.features[0].drifted and ours.features[0].test == "ks"


def test_drift_refusals_name_the_feature():
    with pytest.raises(InputError, match="feature `b`"):
        drift.compare({"a": [1.0, 2.0], "b": [1.0, 2.0]}, {"a": [1.0, 2.0]})
    with pytest.raises(InputError, match="feature `a`"):
        drift.compare({"a": [1.0, 2.0]}, {"a": [math.nan, math.nan]})
    with pytest.raises(InputError, match="share"):
        drift.compare({"a": [1.0]}, {"a": [1.0]}, share=2)
    # Arrays compare by column index.
    result = drift.compare(np.arange(40.0).reshape(20, 2), np.arange(40.0).reshape(20, 2))
    assert [f.feature for f in result.features] == ["0", "1"] and not result.drifted


def test_reference_profile_types_and_refusals():
    frame = pd.DataFrame({"amount": [12.5, 99.0, 3.25, np.nan, 7.0], "merchant": ["food", "travel", "food", "food", None]})
    ours = drift.reference_profile(frame)
    assert ours["rows"] == 5 and [f["name"] for f in ours["features"]] == ["amount", "merchant"]
    assert [(f["kind"], f["count"], f["missing"]) for f in ours["features"]] == [
        ("numerical", 4, 1),
        ("categorical", 4, 1),
    ]
    with pytest.raises(InputError):
        drift.reference_profile(pd.DataFrame({"a": []}))


def test_an_estimator_that_converts_differently_is_refused():
    from sklearn.ensemble import RandomForestClassifier

    from outpost._sklearn import convert

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(x, y)
    data, framework = convert(forest, x, 1e-5)
    assert framework.startswith("scikit-learn ") and len(data) > 100
    # An estimator whose own answers differ from its conversion (here its
    # probabilities moved by 1e-3 after fitting) is refused, rows named.
    honest = forest.predict_proba
    forest.predict_proba = lambda rows: honest(rows) + 1e-3
    with pytest.raises(InputError, match=r"row 0: `probabilities`"):
        convert(forest, x[:3], 1e-5)
    # NaN on one side only is a difference, not a pass.
    forest.predict_proba = lambda rows: np.where(np.arange(rows.shape[0])[:, None] == 1, np.nan, honest(rows))
    with pytest.raises(InputError, match=r"row 1: `probabilities`"):
        convert(forest, x[:3], 1e-5)
    del forest.predict_proba
    with pytest.raises(InputError, match="tolerance"):
        convert(forest, x[:3], -1.0)
    with pytest.raises(InputError, match="numeric sample"):
        convert(forest, [["a", "b", "c", "d"]], 1e-5)
