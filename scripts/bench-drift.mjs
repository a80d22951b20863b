// The wasm side of the drift part of scripts/bench.sh: driftCompare of the
// wasm client (outpost-core's drift statistics built for wasm32) on the data
// set bench-drift.py wrote, with the same five statistics per feature as the
// native and scipy runs. Prints {seconds, values} as JSON.
//
// node scripts/bench-drift.mjs PKG_DIR DATA.json [RUNS]
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const [pkg, dataPath, runsArg] = process.argv.slice(2);
const client = createRequire(import.meta.url)(path.resolve(pkg, "outpost_client.js"));
const data = JSON.parse(fs.readFileSync(dataPath, "utf8"));
const runs = Number(runsArg ?? 5);
const reference = data.features.map((f) => new Float64Array(f.reference));
const current = data.features.map((f) => new Float64Array(f.current));
const tests = ["ks", "wasserstein", "psi", "kl", "jensen_shannon"];

const report = () => client.driftCompare(reference, current, tests);
const first = report(); // warm-up
const times = [];
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  report();
  times.push((performance.now() - t) / 1000);
}
times.sort((a, b) => a - b);
const values = first.features.map((feature) => feature.map((r) => r.score));
console.log(JSON.stringify({ seconds: times[Math.floor(times.length / 2)], runs, values, node: process.version }));
