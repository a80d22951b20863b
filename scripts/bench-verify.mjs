// Device-side figures for scripts/bench-registry.sh, in one Node process:
//  - verification throughput of @outpost/client-verify's verifyArtifact
//    (SHA-256 in wasm32 plus the digest and length check) on FILE, best of 3;
//  - compile time of each WASM module given (new WebAssembly.Module, the
//    bulk of an isolate's start-up), median of 5.
// node scripts/bench-verify.mjs PKG_DIR FILE DIGEST WASM… → JSON on stdout
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, file, digest, ...modules] = process.argv.slice(2);
const { default: init, verifyArtifact } = await import(pathToFileURL(path.join(pkg, "outpost_client.js")));
await init({ module_or_path: fs.readFileSync(path.join(pkg, "outpost_client_bg.wasm")) });

const bytes = new Uint8Array(fs.readFileSync(file));
let best = Infinity;
for (let i = 0; i < 3; i++) {
  const t0 = process.hrtime.bigint();
  verifyArtifact(bytes, digest, bytes.length);
  best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
}
const compile = {};
for (const wasm of modules) {
  const code = fs.readFileSync(wasm);
  const times = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    new WebAssembly.Module(code);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  compile[wasm] = times[2];
}
console.log(JSON.stringify({ verify_mib_s: bytes.length / 1048576 / best, compile_ms: compile }));
