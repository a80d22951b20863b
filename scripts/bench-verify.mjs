// Device-side verification for scripts/bench-registry.sh: throughput of
// @outpost/client-verify's verifyArtifact (SHA-256 in wasm32 plus the
// digest and length check) on FILE, best of 3, in MiB/s on stdout.
// node scripts/bench-verify.mjs PKG_DIR FILE DIGEST
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, file, digest] = process.argv.slice(2);
const { default: init, verifyArtifact } = await import(pathToFileURL(path.join(pkg, "outpost_client.js")));
await init({ module_or_path: fs.readFileSync(path.join(pkg, "outpost_client_bg.wasm")) });

const bytes = new Uint8Array(fs.readFileSync(file));
let best = Infinity;
for (let i = 0; i < 3; i++) {
  const t0 = process.hrtime.bigint();
  verifyArtifact(bytes, digest, bytes.length);
  best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
}
console.log((bytes.length / 1048576 / best).toFixed(1));
