"""The Python SDK against a real local Worker (started by
``tests/e2e/tests/python_sdk.rs``): a training script registers a fitted
scikit-learn pipeline with its sample, signs a release and promotes it; a
gateway pulls it with every trust check, runs it on numpy arrays and gets
the pipeline's answers; tampered and endless downloads install nothing;
refusals carry the registry's problem details."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import outpost
from outpost import InputError, ProblemError, TrustError

from conftest import ROOT

MODEL = "py-fraud"
FEATURES = ["amount", "hour", "distance_km", "merchant_risk"]


def transactions(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.lognormal(3.5, 1.2, n), rng.integers(0, 24, n), rng.exponential(20, n), rng.uniform(0, 1, n)]
    ).astype(np.float32)
    fraud = (x[:, 0] > 150) & ((x[:, 1] < 6) | (x[:, 3] > 0.7))
    return x, fraud.astype(np.int64)


@pytest.fixture(scope="module")
def trained():
    x, y = transactions(2000, 3)
    first = Pipeline([("scale", StandardScaler()), ("forest", RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0))]).fit(x, y)
    second = Pipeline([("scale", StandardScaler()), ("forest", RandomForestClassifier(n_estimators=40, max_depth=8, random_state=1))]).fit(x, y)
    holdout, labels = transactions(400, 4)
    return {"x": x, "first": first, "second": second, "holdout": holdout, "labels": labels}


def poll(what, read, want, bound_s=15.0):
    """Reads until ``want(value)``; the registry's stated staleness bound
    for a stage move is 5 s (per-isolate plans), this allows three times it."""
    deadline = time.monotonic() + bound_s
    while True:
        value = read()
        if want(value) or time.monotonic() > deadline:
            assert want(value), f"{what}: still {value!r} after {bound_s} s"
            return value
        time.sleep(0.25)


@pytest.fixture(scope="module")
def released(e2e, trained):
    """``py-fraud`` 1.0.0 and 1.1.0 pushed from Python, released, 1.0.0 in production."""
    keys = Path(e2e["keys"])
    with outpost.Registry(e2e["url"], e2e["org"], e2e["developer"]) as developer:
        developer.create_model(MODEL, description="card fraud, trained in Python", tags=["fraud"])
        sample = pd.DataFrame(trained["x"][:500], columns=FEATURES)
        holdout, labels = trained["holdout"], trained["labels"]
        f1 = [f1_score(labels, trained[k].predict(holdout)) for k in ("first", "second")]
        first = developer.push(
            MODEL,
            trained["first"],
            sample=sample,
            metrics={"f1": f1[0]},
            params={"n_estimators": 20},
            tags=["python", "forest"],
            version="1.0.0",
            notes="first from the SDK",
        )
        second = developer.push(
            MODEL, trained["second"], sample=sample, metrics={"f1": f1[1]}, tags=["python"], bump="minor", parent="1.0.0"
        )
    with outpost.Registry(e2e["url"], e2e["org"], e2e["admin"]) as admin:
        admin.release_sign(MODEL, ["1.0.0", "1.1.0"], keys / "release1.pk8")
        with pytest.raises(ProblemError, match="promote it to staging first") as gate:
            admin.promote(MODEL, "production", "1.0.0", reason="skipping staging")
        assert gate.value.status == 422
        admin.promote(MODEL, "staging", "1.0.0", reason="try it")
        admin.promote(MODEL, "production", "1.0.0", reason="first model from Python")
    return {"first": first, "second": second, "f1": f1, "sample": sample}


def device(e2e, state: Path, url_key: str = "url") -> outpost.Device:
    return outpost.Device(
        e2e[url_key], e2e["org"], root=Path(e2e["keys"]) / "root.json", state=state, device_id="gateway-7", token=e2e["viewer"]
    )


def test_push_registers_the_pipeline_with_its_profile(e2e, released, trained):
    first, second = released["first"], released["second"]
    assert (first["version"], first["format"]) == ("1.0.0", "onnx")
    assert first["framework"].startswith("scikit-learn ")
    assert second["version"] == "1.1.0" and second["parent_version"] == "1.0.0"
    with outpost.Registry(e2e["url"], e2e["org"], e2e["viewer"]) as viewer:
        stored = viewer.reference(MODEL, "1.0.0")
        assert stored == outpost.drift.reference_profile(released["sample"])
        assert [v["version"] for v in viewer.versions(MODEL, sort="version", order="asc")] == ["1.0.0", "1.1.0"]
        assert {v["version"] for v in viewer.search(tag="forest")} == {"1.0.0"}
        frame = viewer.compare(f"{MODEL}@1.0.0", f"{MODEL}@1.1.0", metrics=["f1"])
        best = "1.0.0" if released["f1"][0] >= released["f1"][1] else "1.1.0"
        assert list(frame["version"]) == ["1.0.0", "1.1.0"]
        assert frame.attrs["best"]["f1"] == f"{MODEL}@{best}"
    # The bytes registered are the converted pipeline the core checked.
    assert first["digest"].startswith("sha256:") and first["size"] > 1000


def test_a_device_pulls_verifies_and_predicts_like_the_pipeline(e2e, released, trained, tmp_path):
    state = tmp_path / "state"
    with device(e2e, state) as gateway:
        model = gateway.load(MODEL, "production")
        installed = gateway.verify(state / "models" / f"{MODEL}@production")
    assert installed.version == "1.0.0" and installed.digest == released["first"]["digest"]
    holdout = trained["holdout"]
    outputs = model.predict(holdout)
    np.testing.assert_array_equal(outputs["label"], trained["first"].predict(holdout))
    np.testing.assert_allclose(outputs["probabilities"], trained["first"].predict_proba(holdout), atol=1e-5)
    # The CLI's native predict on the same file and rows: the same numbers.
    rows = holdout[:50]
    (tmp_path / "rows.json").write_text(json.dumps({"X": rows.astype(float).tolist()}))
    printed = subprocess.run(
        [e2e["outpost"], "--json", "predict", str(installed.path), "--input", str(tmp_path / "rows.json")],
        capture_output=True,
        text=True,
    )
    assert printed.returncode == 0, printed.stderr
    cli = json.loads(printed.stdout)["outputs"]
    np.testing.assert_array_equal(np.asarray(cli["label"]).ravel(), outputs["label"][:50].ravel())
    np.testing.assert_allclose(np.asarray(cli["probabilities"]), outputs["probabilities"][:50], rtol=0, atol=1e-6)
    # The CLI accepts what the SDK installed: one state format.
    checked = subprocess.run(
        [e2e["outpost"], "verify", str(installed.path), "--state", str(state)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    # A tampered file on disk is caught offline.
    data = bytearray(installed.path.read_bytes())
    data[10] ^= 0xFF
    installed.path.write_bytes(bytes(data))
    with device(e2e, state) as gateway, pytest.raises(TrustError) as refused:
        gateway.verify(installed.path)
    assert refused.value.code == "DIGEST_MISMATCH"


def test_device_outcomes_give_scikit_learns_quality_once_per_window(e2e, released, trained, tmp_path):
    """A gateway predicts locally, learns the true labels later, and reports
    them aggregated (never inputs); the registry's quality for the version
    is scikit-learn's on the same rows, and a window sent twice counts once."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    holdout, labels = trained["holdout"], trained["labels"]
    with device(e2e, tmp_path / "state") as gateway:
        model = gateway.load(MODEL, "production")
    assert model.installed.version == "1.0.0"
    outputs = model.predict(holdout)
    model.record_outcomes(outputs, labels.tolist())
    with pytest.raises(InputError, match="400 predictions, 3 actual labels"):
        model.record_outcomes(outputs, [0, 1, 0])
    # A missing or fractional label is refused, not counted as a class.
    missing = labels.astype(float)
    missing[7] = np.nan
    with pytest.raises(InputError, match="NaN"):
        model.record_outcomes(outputs, missing)
    with pytest.raises(InputError, match="row 2"):
        model.record_outcomes(outputs, [1, 0, None] + [0] * (len(labels) - 3))
    # The first report cannot reach the registry: the window waits, same id.
    unreachable = outpost.Device(
        "http://127.0.0.1:9", e2e["org"], root=Path(e2e["keys"]) / "root.json", state=tmp_path / "state", token=e2e["viewer"]
    )
    with unreachable, pytest.raises(outpost.TransportError):
        unreachable.report_outcomes(model)
    window_id, window = model.pending_outcomes
    with device(e2e, tmp_path / "state") as gateway:
        answer = gateway.report_outcomes(model)
    assert answer == {"stored": True, "outcomes": len(labels)}
    assert model.pending_outcomes is None
    with outpost.Registry(e2e["url"], e2e["org"], e2e["viewer"]) as viewer:
        again = viewer._call(
            "POST", f"/models/{MODEL}/outcomes", json={"version": "1.0.0", "stage": "production", "id": window_id, "window": window}
        )
        assert again["stored"] is False
        quality = viewer.quality(MODEL, "1.0.0", window="1h")["quality"]
    predicted = trained["first"].predict(holdout)
    assert quality["outcomes"] == len(labels)
    assert quality["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-12)
    positive = next(c for c in quality["classes"] if c["class"] == "1")
    assert positive["f1"] == pytest.approx(f1_score(labels, predicted), abs=1e-12)
    exact_auc = roc_auc_score(labels, trained["first"].predict_proba(holdout)[:, 1])
    assert abs(positive["roc_auc"] - exact_auc) <= positive["roc_auc_error"] + 1e-12


def test_a_gateways_telemetry_is_in_the_performance_series(e2e, released, trained, tmp_path):
    """What a gateway reports shows up in the registry's performance over
    time: a bucket of five minutes holding its calls, as the report's rows
    of the same answer add up."""
    import time

    with device(e2e, tmp_path / "state") as gateway:
        model = gateway.load(MODEL, "production")
        model.predict(trained["holdout"][:20])
        model.predict(trained["holdout"][20:50])
        window = gateway.report(model)
    assert window["calls"] == 2
    since = int(time.time() * 1000) - 3_600_000
    with outpost.Registry(e2e["url"], e2e["org"], e2e["viewer"]) as viewer:
        answer = viewer.perf(MODEL, since=since, step="5m")
        with pytest.raises(ProblemError, match="since") as refused:
            viewer.perf(MODEL, step="5m")
    assert refused.value.status == 422
    assert answer["step_ms"] == 300_000
    client = [p for p in answer["series"] if p["version"] == "1.0.0" and p["source"] == "client"]
    assert client and all((p["start_ms"] - since) % 300_000 == 0 for p in client)
    (row,) = [r for r in answer["rows"] if r["version"] == "1.0.0" and r["stage"] == "production" and r["source"] == "client"]
    assert sum(p["calls"] for p in client if p["stage"] == "production") == row["calls"] >= 2


def test_promotion_and_rollback_reach_the_device(e2e, released, tmp_path):
    state = tmp_path / "state"
    with outpost.Registry(e2e["url"], e2e["org"], e2e["admin"]) as admin, device(e2e, state) as gateway:
        assert gateway.pull(MODEL).version == "1.0.0"
        admin.promote(MODEL, "staging", "1.1.0", reason="try the bigger forest")
        admin.promote(MODEL, "production", "1.1.0", reason="better forest")
        assert poll("after promote", lambda: gateway.pull(MODEL).version, lambda v: v == "1.1.0") == "1.1.0"
        admin.rollback(MODEL, "production", reason="back to the first")
        poll("after rollback", lambda: gateway.pull(MODEL).version, lambda v: v == "1.0.0")
        history = admin.history(MODEL, "production")
        assert [h["reason"] for h in history[:3]] == ["back to the first", "better forest", "first model from Python"]


def test_attacks_through_hostile_mirrors_install_nothing(e2e, released, tmp_path):
    state, target = tmp_path / "state", tmp_path / "model.onnx"
    with device(e2e, state) as gateway:
        before = gateway.pull(MODEL, output=target)
    kept = target.read_bytes()
    for mirror, code in (("tampered", "DIGEST_MISMATCH"), ("endless", "LENGTH_MISMATCH")):
        with device(e2e, state, mirror) as hostile, pytest.raises(TrustError) as refused:
            hostile.pull(MODEL, output=target)
        assert refused.value.code == code, refused.value
        assert refused.value.step == "the artifact"
        assert target.read_bytes() == kept
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "state"]
    # A resolution signed by a key no root names, and a fresh, valid one for
    # another device: refused at the director's step, nothing installed, and
    # the trusted state (the highest resolution seen) not moved by them.
    trusted = (state / "trusted.json").read_text()
    for mirror, code in (("impostor", "BAD_SIGNATURE"), ("other_device", "WRONG_ANSWER")):
        with device(e2e, state, mirror) as hostile, pytest.raises(TrustError) as refused:
            hostile.pull(MODEL, output=target)
        assert (refused.value.code, refused.value.step) == (code, "the resolution"), refused.value
        assert target.read_bytes() == kept
        assert (state / "trusted.json").read_text() == trusted
    with device(e2e, state) as gateway:
        assert gateway.verify(target).digest == before.digest


def test_an_older_resolution_and_expired_metadata_install_nothing(e2e, released, tmp_path, monkeypatch):
    """A mirror frozen at the first resolution it saw (a replay), after the
    device trusted a newer one: ROLLBACK; and a device whose clock is far
    past every expiry (a frozen registry): EXPIRED. Nothing is installed
    and the trusted state does not move."""
    state, target = tmp_path / "state", tmp_path / "model.onnx"
    with device(e2e, state, "frozen") as gateway:
        first = gateway.pull(MODEL, output=target)
    kept = target.read_bytes()
    # Answers drawn from one stage change are numbered by the whole seconds
    # since it (outpost_core::trust::resolution_version): pull until a
    # strictly newer one is trusted (about a second at most).
    newer = first.resolution_version
    with device(e2e, state) as gateway:
        for _ in range(2000):
            newer = gateway.pull(MODEL, output=target).resolution_version
            if newer > first.resolution_version:
                break
    assert newer > first.resolution_version, (newer, first.resolution_version)
    assert target.read_bytes() == kept
    trusted = (state / "trusted.json").read_text()
    with device(e2e, state, "frozen") as hostile, pytest.raises(TrustError) as refused:
        hostile.pull(MODEL, output=target)
    assert (refused.value.code, refused.value.step) == ("ROLLBACK", "the resolution"), refused.value
    assert target.read_bytes() == kept
    assert (state / "trusted.json").read_text() == trusted
    later = int(time.time() * 1000) + 400 * 86_400_000
    monkeypatch.setattr(outpost.device, "_now_ms", lambda: later)
    with device(e2e, state) as gateway, pytest.raises(TrustError) as refused:
        gateway.pull(MODEL, output=target)
    assert refused.value.code == "EXPIRED", refused.value
    assert target.read_bytes() == kept
    assert (state / "trusted.json").read_text() == trusted


def test_a_canary_rollout_is_set_and_cleared_from_python(e2e, tmp_path):
    name = "py-rollout"
    onnx = ROOT / "tests/data/conformance/random_forest_binary.onnx"
    with outpost.Registry(e2e["url"], e2e["org"], e2e["admin"]) as admin:
        admin.create_model(name)
        admin.push(name, onnx, version="1.0.0")
        admin.push(name, onnx, version="1.1.0", parent="1.0.0")
        admin.promote(name, "staging", "1.0.0", reason="stable")
        with pytest.raises(ProblemError) as refused:
            admin.rollout(name, "staging", stable="1.0.0", canary={"version": "1.1.0", "weight": 20_000})
        assert refused.value.status == 422 and "weight" in refused.value.detail, refused.value
        outcome = admin.rollout(
            name,
            "staging",
            stable="1.0.0",
            canary={"version": "1.1.0", "weight": 2000},
            guardrails={"max_error_rate": 0.05, "min_recall": 0.5},
            reason="a fifth on the new forest",
        )
        # The stage's new history entry.
        assert (outcome["kind"], outcome["reason"]) == ("rollout", "a fifth on the new forest"), outcome
        assert {t["version"] for t in outcome["to"]["targets"]} == {"1.0.0", "1.1.0"}, outcome
        # A target's arm is left out when it is the stable one.
        arms = {t["version"]: (t.get("arm", "stable"), t["weight"]) for t in admin.stage(name, "staging")["state"]["targets"]}
        assert arms == {"1.0.0": ("stable", 8000), "1.1.0": ("canary", 2000)}, arms
        assert admin.history(name, "staging")[0]["reason"] == "a fifth on the new forest"
        admin.clear_rollout(name, "staging", reason="enough")
        assert admin.stage(name, "staging")["state"]["targets"] == [{"version": "1.0.0", "weight": 10000}]


def test_a_pinned_root_with_a_broken_signature_is_refused(e2e, released, tmp_path):
    other = json.loads((Path(e2e["keys"]) / "root.json").read_text())
    other["signed"]["version"] = 1
    other["signed"]["expires"] = "2099-01-01T00:00:00Z"
    (tmp_path / "root.json").write_text(json.dumps(other))
    gateway = outpost.Device(e2e["url"], e2e["org"], root=tmp_path / "root.json", state=tmp_path / "s", token=e2e["viewer"])
    with gateway, pytest.raises(TrustError) as refused:
        gateway.pull(MODEL)
    assert refused.value.step == "the pinned root"
    assert not (tmp_path / "s" / "trusted.json").exists()


def test_the_profile_is_the_one_the_cli_makes_from_the_same_rows(e2e, released, tmp_path):
    """``outpost reference add`` on the sample written as CSV stores exactly
    the profile the SDK makes from the DataFrame."""
    sample = released["sample"]
    sample.to_csv(tmp_path / "sample.csv", index=False)
    env = {**os.environ, "OUTPOST_URL": e2e["url"], "OUTPOST_ORG": e2e["org"], "OUTPOST_TOKEN": e2e["developer"]}
    env["OUTPOST_CONFIG"] = str(tmp_path / "none.toml")
    with outpost.Registry(e2e["url"], e2e["org"], e2e["developer"]) as developer:
        developer.create_model("py-profile")
        developer.push("py-profile", ROOT / "tests/data/conformance/isolation_forest.onnx", version="1.0.0")
    added = subprocess.run(
        [e2e["outpost"], "reference", "add", "py-profile", "1.0.0", str(tmp_path / "sample.csv")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert added.returncode == 0, added.stderr
    with outpost.Registry(e2e["url"], e2e["org"], e2e["viewer"]) as viewer:
        assert viewer.reference("py-profile", "1.0.0") == outpost.drift.reference_profile(sample)


def test_refusals_are_problem_errors_with_the_registrys_detail(e2e, released, trained):
    with outpost.Registry(e2e["url"], e2e["org"], e2e["viewer"]) as viewer, pytest.raises(ProblemError) as refused:
        viewer.create_model("not-allowed")
    assert refused.value.status == 403 and refused.value.detail
    with outpost.Registry(e2e["url"], e2e["org"], e2e["developer"]) as developer:
        with pytest.raises(ProblemError) as missing:
            developer.push("no-such-model", b"\x08\x07", version="1.0.0")
        assert missing.value.status == 404 and "no-such-model" in missing.value.detail
        with pytest.raises(ProblemError) as exists:
            developer.push(MODEL, trained["first"], sample=released["sample"], version="1.0.0")
        assert exists.value.status == 409, exists.value
        with pytest.raises(InputError, match="bump"):
            developer.push(MODEL, b"weights")
        with pytest.raises(ProblemError) as denied:
            developer.promote(MODEL, "production", "1.1.0")
        assert denied.value.status == 403
    with outpost.Registry(e2e["url"], e2e["org"], "op_not-a-token") as stranger, pytest.raises(ProblemError) as unknown:
        stranger.models()
    assert unknown.value.status == 401
    with outpost.Registry(e2e["url"], e2e["org"], e2e["admin"]) as admin:
        versions = [v["version"] for v in admin.versions(MODEL)]
    assert sorted(versions) == ["1.0.0", "1.1.0"], "a refused push registered something"


def _estimators(x, y):
    from sklearn.ensemble import IsolationForest
    from sklearn.linear_model import LogisticRegression

    return {
        "py-iforest": IsolationForest(n_estimators=20, random_state=0).fit(x),
        "py-forest": RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(x, y),
        "py-logistic": Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression())]).fit(x, y),
    }


@pytest.mark.parametrize("name", ["py-iforest", "py-forest", "py-logistic"])
def test_each_estimator_kind_predicts_on_the_device_as_itself(e2e, trained, tmp_path, name):
    x, y = trained["x"][:600], (trained["x"][:600, 0] > 40).astype(np.int64)
    estimator = _estimators(x, y)[name]
    keys = Path(e2e["keys"])
    with outpost.Registry(e2e["url"], e2e["org"], e2e["admin"]) as admin:
        admin.create_model(name)
        admin.push(name, estimator, sample=pd.DataFrame(x, columns=FEATURES), version="1.0.0")
        admin.release_sign(name, "1.0.0", keys / "release1.pk8")
        admin.promote(name, "staging", "1.0.0", reason="estimator kinds")
        admin.promote(name, "production", "1.0.0", reason="estimator kinds")
    with device(e2e, tmp_path / "state") as gateway:
        model = gateway.load(name, "production")
    holdout = trained["holdout"]
    outputs = model.predict(holdout)
    if name == "py-iforest":
        scores = outputs["scores"].ravel()
        np.testing.assert_allclose(scores, estimator.decision_function(holdout), rtol=0, atol=1e-6)
        np.testing.assert_allclose(scores + estimator.offset_, estimator.score_samples(holdout), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(outputs["label"].ravel(), estimator.predict(holdout))
    else:
        np.testing.assert_allclose(outputs["probabilities"], estimator.predict_proba(holdout), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(outputs["label"].ravel(), estimator.predict(holdout))
