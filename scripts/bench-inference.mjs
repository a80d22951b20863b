// Inference timings for scripts/bench.sh, in one Node process: outpost-infer
// (tract) built for wasm32 with simd128, through the wasm client's Model,
// beside onnxruntime-web's wasm backend with one thread, on the conformance
// fixtures. Prints the markdown section for docs/benchmarks.md.
//
// node scripts/bench-inference.mjs PKG_DIR NATIVE_JSON SIZES_JSON NAME…
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-web";

const [pkg, nativePath, sizesPath, ...names] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const client = require(path.resolve(pkg, "outpost_client.js"));
const native = JSON.parse(fs.readFileSync(nativePath, "utf8"));
const sizes = JSON.parse(fs.readFileSync(sizesPath, "utf8"));
ort.env.wasm.numThreads = 1;
ort.env.logLevel = "error";
const dir = path.resolve("tests/data/conformance");

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(call, max = 2000) {
  for (let i = 0; i < 20; i++) await call();
  const samples = [];
  const start = performance.now();
  while (samples.length < max && (samples.length < 5 || performance.now() - start < 1000)) {
    const t = performance.now();
    await call();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

const firstRow = (inputs) => Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.slice(0, 1)]));

function typed(inputs) {
  const out = {};
  for (const [name, nested] of Object.entries(inputs)) {
    const shape = [];
    for (let a = nested; Array.isArray(a); a = a[0]) shape.push(a.length);
    out[name] = { data: Float32Array.from(nested.flat(Infinity).map((v) => (v === null ? NaN : v))), shape };
  }
  return out;
}

function ortFeeds(inputs) {
  const feeds = {};
  for (const [name, nested] of Object.entries(inputs)) {
    const shape = [];
    for (let a = nested; Array.isArray(a); a = a[0]) shape.push(a.length);
    const flat = Float32Array.from(nested.flat(Infinity).map((v) => (v === null ? NaN : v)));
    feeds[name] = new ort.Tensor("float32", flat, shape);
  }
  return feeds;
}

// One session first: onnxruntime-web compiles its own wasm on first use.
await ort.InferenceSession.create(fs.readFileSync(path.join(dir, "cnn.onnx")), { executionProviders: ["wasm"] });

const rows = [];
for (const name of names) {
  const bytes = fs.readFileSync(path.join(dir, `${name}.onnx`));
  const doc = JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), "utf8"));
  const loads = { tract: [], ort: [] };
  let model, session;
  for (let i = 0; i < 5; i++) {
    let t = performance.now();
    model?.free();
    model = client.Model.load(bytes);
    loads.tract.push(performance.now() - t);
    t = performance.now();
    session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    loads.ort.push(performance.now() - t);
  }
  const batch = doc.inputs;
  const one = firstRow(batch);
  const cells = {};
  for (const [label, inputs] of [["one", one], ["batch", batch]]) {
    const feeds = ortFeeds(inputs);
    const arrays = typed(inputs);
    cells[label] = {
      tract: await time(() => model.run(arrays)),
      json: await time(() => model.predict(inputs)),
      ort: await time(() => session.run(feeds)),
    };
  }
  const batchRows = Object.values(batch)[0].length;
  rows.push({ name, batchRows, load: { tract: median(loads.tract), ort: median(loads.ort) }, cells });
  model.free();
}

const us = (ms) => (ms * 1000 < 100 ? (ms * 1000).toFixed(1) : (ms * 1000).toFixed(0)) + " µs";
const msf = (ms) => ms.toFixed(ms < 10 ? 2 : 1) + " ms";
const ratio = (a, b) => (a / b).toFixed(2) + "×";
const out = [];
out.push(`| model | rows | tract wasm (simd128), \`run\` | onnxruntime-web (wasm, 1 thread) | tract ÷ ORT-web | tract wasm, \`predict\` (JSON objects) | native tract |`);
out.push(`| --- | --- | --- | --- | --- | --- | --- |`);
for (const r of rows) {
  for (const [label, n] of [["one", 1], ["batch", r.batchRows]]) {
    const c = r.cells[label];
    const nat = native[r.name]?.[`${label}_us`];
    out.push(`| ${r.name} | ${n} | ${us(c.tract)} | ${us(c.ort)} | **${ratio(c.tract, c.ort)}** | ${us(c.json)} | ${nat === undefined ? "–" : us(nat / 1000)} |`);
  }
}
out.push("");
out.push(`Load (parse, optimise, plan; median of 5):`);
out.push("");
out.push(`| model | tract wasm | onnxruntime-web | tract ÷ ORT-web | native tract |`);
out.push(`| --- | --- | --- | --- | --- |`);
for (const r of rows) {
  const nat = native[r.name]?.load_ms;
  out.push(`| ${r.name} | ${msf(r.load.tract)} | ${msf(r.load.ort)} | **${ratio(r.load.tract, r.load.ort)}** | ${nat === undefined ? "–" : msf(nat)} |`);
}
out.push("");
const kib = (b) => (b / 1024).toFixed(0) + " KiB";
out.push(`Size of the inference build (the wasm client: verification + tract + Outpost's ai.onnx.ml operators, simd128):`);
out.push("");
out.push(`| build | raw | gzip -9 |`);
out.push(`| --- | --- | --- |`);
for (const s of sizes) out.push(`| ${s.label} | ${kib(s.raw)} | ${kib(s.gzip)} |`);
console.log(out.join("\n"));
