// Seeds the local registry with demo data through the `outpost` CLI: an
// organisation `demo`, its models, and several versions of each with metrics
// and tags (real scikit-learn → ONNX models from tests/data/models, generated
// by scripts/gen-fixtures.py). Safe to run again: what exists is kept.
//
// usage: node scripts/seed-demo.mjs URL BOOTSTRAP_SECRET TOKEN_FILE
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [url, bootstrapSecret, tokenFile] = process.argv.slice(2);
const outpost = path.join(root, "target/debug/outpost");
const models = path.join(root, "tests/data/models");
const manifest = JSON.parse(readFileSync(path.join(models, "manifest.json"), "utf8"));

function run(args, env = {}) {
  try {
    return { ok: true, out: execFileSync(outpost, args, { env: { ...process.env, ...env }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) };
  } catch (err) {
    return { ok: false, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

let token = existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : "";
if (!token) {
  const init = run(["--url", url, "--json", "admin", "init", "--new-org", "demo", "--bootstrap-secret", bootstrapSecret]);
  if (!init.ok) {
    console.error(`seed: could not create the demo organisation:\n${init.out}`);
    console.error("seed: if it exists from an earlier run without its token file, delete .wrangler/state to start over");
    process.exit(1);
  }
  token = JSON.parse(init.out).token.token;
  writeFileSync(tokenFile, token + "\n", { mode: 0o600 });
}
const env = { OUTPOST_URL: url, OUTPOST_ORG: "demo", OUTPOST_TOKEN: token };

let created = 0;
for (const [name, description] of Object.entries(manifest.descriptions)) {
  const r = run(["model", "create", name, "--description", description, "--primary-metric", manifest.primary_metric, "--tag", "cards"], env);
  if (!r.ok && !r.out.includes("already exists")) throw new Error(r.out);
}
for (const v of manifest.versions) {
  const args = ["push", v.model, path.join(models, v.file), "--version", v.version, "--framework", v.framework, "--notes", v.notes];
  for (const [k, x] of Object.entries(v.metrics)) args.push("--metric", `${k}=${x}`);
  for (const [k, x] of Object.entries(v.params)) args.push("--param", `${k}=${JSON.stringify(x)}`);
  for (const t of v.tags) args.push("--tag", t);
  const r = run(args, env);
  if (r.ok) created += 1;
  else if (!r.out.includes("already exists")) throw new Error(r.out);
}
// Stage what the demo predicts with (staging needs no release signature).
let staged = 0;
for (const [model, version] of [["transaction-anomaly", "1.1.0"], ["fraud-detector", "1.2.0"], ["fraud-mlp", "0.2.0"]]) {
  const current = run(["--json", "stages", "show", model], env);
  if (current.ok && JSON.parse(current.out).stages?.staging?.targets?.some((t) => t.version === version)) continue;
  const r = run(["promote", model, version, "--to", "staging", "--reason", "demo data"], env);
  if (!r.ok) throw new Error(r.out);
  staged += 1;
}
console.log(`seed: organisation demo ready (${created} new versions, ${manifest.versions.length} in all; ${staged} newly staged)`);
