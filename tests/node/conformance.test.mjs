// outpost-infer built for wasm32 (through the wasm client's Model) runs every
// conformance fixture under Node and gives onnxruntime's outputs, with the
// tolerance of the native test (crates/outpost-infer/tests/conformance.rs):
// labels exactly, floats within 1e-5 relative plus 1e-6 absolute.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = process.env.OUTPOST_CLIENT_PKG;
assert.ok(pkg, "set OUTPOST_CLIENT_PKG to the wasm-bindgen output directory (scripts/test.sh does)");
const require = createRequire(import.meta.url);
const client = require(path.join(pkg, "outpost_client.js"));

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "data", "conformance");
const fixtures = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort();

function compare(where, got, want) {
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${where}: expected an array, got ${JSON.stringify(got)}`);
    assert.equal(got.length, want.length, `${where}: length`);
    want.forEach((w, i) => compare(`${where}[${i}]`, got[i], w));
  } else if (typeof want === "number" && !Number.isInteger(want)) {
    const ok = Math.abs(got - want) <= 1e-5 * Math.abs(want) + 1e-6;
    assert.ok(ok, `${where}: ${got} but onnxruntime gives ${want}`);
  } else {
    assert.deepEqual(got, want, where);
  }
}

test("there are conformance fixtures", () => {
  assert.ok(fixtures.length >= 30, `only ${fixtures.length} fixtures`);
});

for (const file of fixtures) {
  const name = file.replace(/\.json$/, "");
  test(`wasm32: ${name} matches onnxruntime`, () => {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
    const model = client.Model.load(fs.readFileSync(path.join(dir, `${name}.onnx`)));
    const outputs = model.predict(doc.inputs);
    for (const [output, want] of Object.entries(doc.outputs)) {
      compare(output, outputs[output], want);
    }
    model.free();
  });
}

test("a wrong input throws INPUT_INVALID naming it, and the model stays usable", () => {
  const model = client.Model.load(fs.readFileSync(path.join(dir, "isolation_forest.onnx")));
  assert.deepEqual(model.outputNames, ["label", "scores"]);
  assert.equal(model.inputs[0].name, "X");
  let error;
  try {
    model.predict({ X: [[1, 2, 3]] });
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof Error);
  assert.equal(error.code, "INPUT_INVALID");
  assert.equal(error.message, "input `X`: dimension 1 must be 4, given 3");
  assert.equal(model.predict({ X: [[1, 2, 3, 4]] }).label.length, 1);
});

test("bytes that are not a model throw MODEL_INVALID", () => {
  assert.throws(() => client.Model.load(new TextEncoder().encode("not a model")), { code: "MODEL_INVALID" });
});
