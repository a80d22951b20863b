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

// Nested arrays → {data: Float32Array, shape} for Model.run.
function typed(inputs) {
  const out = {};
  for (const [name, nested] of Object.entries(inputs)) {
    const shape = [];
    for (let a = nested; Array.isArray(a); a = a[0]) shape.push(a.length);
    out[name] = { data: Float32Array.from(nested.flat(Infinity).map((v) => (v === null ? NaN : v))), shape };
  }
  return out;
}

// {data, shape} → nested arrays, BigInts as numbers, like predict's output.
function nested({ data, shape }) {
  const flat = Array.from(data, (v) => (typeof v === "bigint" ? Number(v) : v));
  const build = (dims, offset) => {
    if (dims.length === 0) return flat[offset];
    const step = dims.slice(1).reduce((a, b) => a * b, 1);
    return Array.from({ length: dims[0] }, (_, i) => build(dims.slice(1), offset + i * step));
  };
  return build(shape, 0);
}

for (const file of fixtures) {
  const name = file.replace(/\.json$/, "");
  test(`wasm32: ${name} matches onnxruntime`, () => {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
    const model = client.Model.load(fs.readFileSync(path.join(dir, `${name}.onnx`)));
    const outputs = model.predict(doc.inputs);
    const run = model.run(typed(doc.inputs));
    for (const [output, want] of Object.entries(doc.outputs)) {
      compare(output, outputs[output], want);
      compare(`run: ${output}`, nested(run[output]), want);
    }
    model.free();
  });
}

test("run refuses the wrong typed array, naming the input", () => {
  const model = client.Model.load(fs.readFileSync(path.join(dir, "isolation_forest.onnx")));
  assert.throws(() => model.run({ X: { data: new Float64Array(4), shape: [1, 4] } }), {
    code: "INPUT_INVALID",
    message: "input `X` (float) takes its data as a Float32Array",
  });
  assert.throws(() => model.run({ X: { data: new Float32Array(3), shape: [1, 4] } }), {
    code: "INPUT_INVALID",
    message: "input `X`: shape [1, 4] holds 4 elements but 3 were given",
  });
  const out = model.run({ X: { data: new Float32Array([42, 14, 3.5, 0.1]), shape: [1, 4] } });
  assert.ok(out.label.data instanceof BigInt64Array && out.scores.data instanceof Float32Array);
  assert.deepEqual(out.scores.shape, [1, 1]);
});

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

// The hostile corpus native tests read too (crates/outpost-infer/tests/hostile.rs):
// the wasm32 build refuses the same files with the same message, and runs the
// accepted ones to the same outputs.
const hostileDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "crates", "outpost-infer", "tests", "data", "hostile");
const hostile = JSON.parse(fs.readFileSync(path.join(hostileDir, "cases.json"), "utf8")).cases;

for (const c of hostile) {
  test(`wasm32: hostile ${c.file} gives the native verdict`, () => {
    const bytes = fs.readFileSync(path.join(hostileDir, c.file));
    if (c.error !== undefined) {
      assert.throws(() => client.Model.load(bytes), { code: "MODEL_INVALID", message: `validate: ${c.error}` });
      return;
    }
    const model = client.Model.load(bytes);
    assert.deepEqual(model.predict(c.inputs), c.outputs);
    model.free();
  });
}

test("bytes that are not a model throw MODEL_INVALID", () => {
  assert.throws(() => client.Model.load(new TextEncoder().encode("not a model")), { code: "MODEL_INVALID" });
});
