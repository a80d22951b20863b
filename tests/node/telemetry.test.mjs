// Telemetry of the wasm client's Model: a window of calls, rows, errors,
// latency and per-feature histograms over the reference bins — summaries,
// and a bounded sample per feature, never rows — handed over and reset by report().
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

test("predictions accumulate into a telemetry window that report() hands over", () => {
  const model = client.Model.load(fs.readFileSync(path.join(dir, "isolation_forest.onnx")));
  model.setReferenceBins([[10, 100], [6, 12, 18], [1, 10], [0.5]]);
  model.predict({ X: [[42, 14, 3.5, 0.1], [2400, 3, 800, 0.9], [5, 20, null, 0.4]] });
  model.run({ X: { data: new Float32Array([50, 7, 0.5, 0.6]), shape: [1, 4] } });
  const window = model.report();
  assert.equal(window.calls, 2);
  assert.equal(window.rows, 4);
  assert.equal(window.errors, 0);
  assert.equal(window.latency.counts.reduce((a, b) => a + b, 0), 2);
  assert.deepEqual(window.features[0].histogram.counts, [1, 2, 1]); // 5 | 42, 50 | 2400
  assert.deepEqual(window.features[2].histogram.counts, [1, 1, 1]); // 0.5 | 3.5 | 800
  assert.equal(window.features[2].histogram.missing, 1);
  assert.equal(window.features[0].summary.max, 2400);
  // Each feature keeps a bounded sample of its own values (for KS and
  // Wasserstein in drift reports) — never whole rows.
  assert.deepEqual(window.features[2].sample.values, [3.5, 800, 0.5]);
  assert.equal(window.features[2].sample.capacity, 200);
  assert.ok(!JSON.stringify(window).includes("42,14"), "no raw rows in the window");
  const next = model.report();
  assert.equal(next.calls, 0, "report() starts a new window");
  assert.deepEqual(next.features[1].histogram.edges, [6, 12, 18], "with the same bins");
  assert.throws(() => model.setReferenceBins([[2, 1]]), { code: "INPUT_INVALID" });
});
