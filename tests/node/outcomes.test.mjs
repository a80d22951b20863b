// Outcomes a page records for predictions it made itself: aggregated into
// the model handle's outcome window (confusion counts, score histograms, never
// inputs) by the core's OutcomeWindow::observe_batch — the Python SDK's code —
// and handed over by takeOutcomes().
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = process.env.OUTPOST_CLIENT_PKG;
assert.ok(pkg, "set OUTPOST_CLIENT_PKG to the wasm-bindgen output directory (scripts/test.sh does)");
const client = createRequire(import.meta.url)(path.join(pkg, "outpost_client.js"));
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "data", "conformance");

test("outcomes of a classifier's predictions aggregate into a window", () => {
  const doc = JSON.parse(fs.readFileSync(path.join(dir, "random_forest_binary.json"), "utf8"));
  const model = client.Model.load(fs.readFileSync(path.join(dir, "random_forest_binary.onnx")));
  const outputs = model.predict(doc.inputs);
  const labels = outputs.label.map((l) => (Array.isArray(l) ? l[0] : l));
  // Every prediction right but the first.
  const actual = labels.map((l, i) => (i === 0 ? 1 - l : l));
  model.recordOutcomes(outputs, actual, labels.map(() => 2.5));
  const window = model.takeOutcomes();
  const count = (a, p) => window.confusion[String(a)]?.[String(p)] ?? 0;
  const total = Object.values(window.confusion).flatMap((row) => Object.values(row)).reduce((a, b) => a + b, 0);
  assert.equal(total, labels.length);
  assert.ok(count(1 - labels[0], labels[0]) >= 1, "the first row counted as wrong");
  const right = labels.length - 1;
  assert.equal(count(0, 0) + count(1, 1), right);
  assert.equal(window.value.count, labels.length);
  assert.equal(window.value.sum, 2.5 * labels.length);
  // Probabilities became per-class score histograms.
  const scored = window.scores["1"].positive.reduce((a, b) => a + b, 0) + window.scores["1"].negative.reduce((a, b) => a + b, 0);
  assert.equal(scored, labels.length);
  assert.ok(!JSON.stringify(window).includes(String(doc.inputs.X[0][0])), "no inputs in the window");
  assert.equal(Object.keys(model.takeOutcomes().confusion).length, 0, "takeOutcomes() starts a new window");
});

test("a batch is recorded whole or not at all, with the reason", () => {
  const model = client.Model.load(fs.readFileSync(path.join(dir, "random_forest_binary.onnx")));
  const doc = JSON.parse(fs.readFileSync(path.join(dir, "random_forest_binary.json"), "utf8"));
  const outputs = model.predict(doc.inputs);
  assert.throws(() => model.recordOutcomes(outputs, [0, 1]), { code: "INPUT_INVALID", message: /actual labels/ });
  assert.throws(() => model.recordOutcomes({ variable: [[1.5]] }, [1]), { code: "INPUT_INVALID", message: /not a classifier's/ });
  const n = outputs.label.length;
  // Every row valid but the last: none is recorded.
  const values = Array(n).fill(1.0);
  values[n - 1] = Number.NaN;
  assert.throws(() => model.recordOutcomes(outputs, Array(n).fill(1), values), { code: "INPUT_INVALID", message: new RegExp(`row ${n - 1}`) });
  assert.equal(Object.keys(model.takeOutcomes().confusion).length, 0, "nothing was recorded");
});

test("an outcome given later by prediction id counts once, only for predictions kept", () => {
  const model = client.Model.load(fs.readFileSync(path.join(dir, "random_forest_binary.onnx")));
  const doc = JSON.parse(fs.readFileSync(path.join(dir, "random_forest_binary.json"), "utf8"));
  const first = model.predictTracked(doc.inputs);
  const second = model.predictTracked({ X: [doc.inputs.X[0]] });
  assert.match(first.predictionId, /^[0-9a-f]{16}-1$/);
  assert.notEqual(first.predictionId, second.predictionId);
  assert.deepEqual(first.outputs, model.predict(doc.inputs), "the same outputs as predict");
  const labels = first.outputs.label.map((l) => (Array.isArray(l) ? l[0] : l));
  // Every row of the first prediction right.
  assert.equal(model.recordOutcome(first.predictionId, labels), true);
  // Given again (a retry): a duplicate, counted nothing.
  assert.equal(model.recordOutcome(first.predictionId, labels), false);
  // Rows that do not match, and an id never made here: refused with the reason.
  assert.throws(() => model.recordOutcome(second.predictionId, [0, 1]), { code: "INPUT_INVALID", message: /1 predictions, 2 actual labels/ });
  assert.throws(() => model.recordOutcome("0000000000000000-1", [0]), { code: "INPUT_INVALID", message: /no prediction `0000000000000000-1` is kept here/ });
  const window = model.takeOutcomes();
  const total = Object.values(window.confusion).flatMap((row) => Object.values(row)).reduce((a, b) => a + b, 0);
  assert.equal(total, labels.length, "the first prediction's rows, once");
  assert.equal((window.confusion["0"]?.["0"] ?? 0) + (window.confusion["1"]?.["1"] ?? 0), labels.length);
  // Another model handle keeps its own ids.
  const other = client.Model.load(fs.readFileSync(path.join(dir, "random_forest_binary.onnx")));
  assert.throws(() => other.recordOutcome(first.predictionId, labels), { code: "INPUT_INVALID" });
  // A model without labels has no outcome to track.
  const regressor = client.Model.load(fs.readFileSync(path.join(dir, "gradient_boosting_regressor.onnx")));
  const rdoc = JSON.parse(fs.readFileSync(path.join(dir, "gradient_boosting_regressor.json"), "utf8"));
  assert.throws(() => regressor.predictTracked(rdoc.inputs), { code: "INPUT_INVALID", message: /not a classifier's/ });
});
