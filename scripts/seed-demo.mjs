// Seeds the local registry with demo data through the `outpost` CLI: an
// organisation `demo`, its models, and several versions of each with metrics
// and tags (real scikit-learn → ONNX models from tests/data/models, generated
// by scripts/gen-fixtures.py). Safe to run again: what exists is kept.
//
// Each version names the one before it of the same model as its parent
// (lineage), every deployed model answers a batch of predictions in the
// Worker (rows of the reference sample) and the classifiers get outcomes for
// them, and fraud-detector's production has a monitor, so the console's
// performance, drift, quality and monitor panels have something to show.
//
// usage: node scripts/seed-demo.mjs URL BOOTSTRAP_SECRET TOKEN_FILE
// OUTPOST_DEMO_KEYS: where the demo's offline keys live (default
// .wrangler/demo-keys); tests give each registry its own.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
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

let createdOrg = false;
let token = existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : "";
// A saved token the registry does not know means its state was deleted (the
// way dev.sh says to start over): create the organisation again.
if (token && !run(["org"], { OUTPOST_URL: url, OUTPOST_ORG: "demo", OUTPOST_TOKEN: token }).ok) {
  console.error("seed: the saved demo token is unknown to this registry (fresh state); creating the demo organisation again");
  token = "";
}
if (!token) {
  const init = run(["--url", url, "--json", "admin", "init", "--new-org", "demo", "--bootstrap-secret", bootstrapSecret]);
  if (!init.ok) {
    console.error(`seed: could not create the demo organisation:\n${init.out}`);
    console.error("seed: if it exists from an earlier run without its token file, delete .wrangler/state to start over");
    process.exit(1);
  }
  token = JSON.parse(init.out).token.token;
  createdOrg = true;
  writeFileSync(tokenFile, token + "\n", { mode: 0o600 });
}
const env = { OUTPOST_URL: url, OUTPOST_ORG: "demo", OUTPOST_TOKEN: token };

let created = 0;
for (const [name, description] of Object.entries(manifest.descriptions)) {
  const r = run(["model", "create", name, "--description", description, "--primary-metric", manifest.primary_metric, "--tag", "cards"], env);
  if (!r.ok && !r.out.includes("already exists")) throw new Error(r.out);
}
const previous = {};
for (const v of manifest.versions) {
  const args = ["push", v.model, path.join(models, v.file), "--version", v.version, "--framework", v.framework, "--notes", v.notes];
  if (previous[v.model]) args.push("--parent", previous[v.model]);
  previous[v.model] = v.version;
  for (const [k, x] of Object.entries(v.metrics)) args.push("--metric", `${k}=${x}`);
  for (const [k, x] of Object.entries(v.params)) args.push("--param", `${k}=${JSON.stringify(x)}`);
  for (const t of v.tags) args.push("--tag", t);
  // Every demo model reads the same four transaction features: their training
  // sample is the reference drift reports and guardrails compare against.
  args.push("--reference", path.join(models, "transactions-reference.csv"));
  const r = run(args, env);
  if (r.ok) created += 1;
  else if (!r.out.includes("already exists")) throw new Error(r.out);
}
// A pickle from before the team moved to ONNX: registered, scanned and marked
// unsafe (loading it would call os.system), so no gate lets it be promoted.
{
  const r = run(["model", "create", "legacy-scorer", "--description", "Pickled scorer from before ONNX (kept for reference; unsafe to load)", "--tag", "legacy"], env);
  if (!r.ok && !r.out.includes("already exists")) throw new Error(r.out);
  const p = run(["push", "legacy-scorer", path.join(models, "unsafe-os-system.pkl"), "--version", "0.1.0", "--notes", "pickle found on an old file share"], env);
  if (p.ok) created += 1;
  else if (!p.out.includes("already exists")) throw new Error(p.out);
}
// Signed distribution for the demo: a key ceremony (keys kept, git-ignored,
// in .wrangler/demo-keys; a real operator keeps them offline), a release
// naming every version, and the demo models in staging and production.
const keys = process.env.OUTPOST_DEMO_KEYS ?? path.join(root, ".wrangler", "demo-keys");
const key = (name) => path.join(keys, name);
const must = (args) => {
  const r = run(args, env);
  if (!r.ok) throw new Error(`outpost ${args.join(" ")}: ${r.out}`);
  return r.out;
};
if (!existsSync(key("root.json"))) {
  mkdirSync(keys, { recursive: true, mode: 0o700 });
  must(["keys", "generate", "--out", key("root")]);
  must(["keys", "generate", "--out", key("release")]);
  must(["trust", "fetch-keys", "--out-dir", key("deployment")]);
  must(["trust", "init", "--root-key", key("root.pk8"), "--release-key", key("release.pub.json"), "--release-threshold", "1",
    "--online-key", key("deployment/online.pub.json"), "--director-key", key("deployment/director.pub.json"), "-o", key("root.json")]);
  must(["trust", "upload", key("root.json")]);
} else if (createdOrg) {
  // Keys from an earlier run, a fresh organisation: its root is the same.
  must(["trust", "upload", key("root.json")]);
}
const byModel = {};
for (const v of manifest.versions) (byModel[v.model] ??= []).push(v.version);
for (const [model, versions] of Object.entries(byModel)) must(["release", "sign", model, ...versions, "--key", key("release.pk8")]);
let deployed = 0;
for (const [model, version] of [["transaction-anomaly", "1.1.0"], ["fraud-detector", "1.2.0"], ["fraud-mlp", "0.2.0"]]) {
  const stages = JSON.parse(must(["--json", "stages", "show", model])).stages ?? {};
  for (const stage of ["staging", "production"]) {
    if (stages[stage]?.targets?.some((t) => t.version === version)) continue;
    must(["promote", model, version, "--to", stage, "--reason", "demo data"]);
    deployed += 1;
  }
}
// A batch of predictions per deployed model from each of the devices
// demo-1…demo-3, each device sending its own 60 rows of the reference sample
// (so no drift is expected).
const reference = readFileSync(path.join(models, "transactions-reference.csv"), "utf8").trim().split("\n").slice(1)
  .map((line) => line.split(",").map(Number));
let predicted = 0;
for (const model of ["transaction-anomaly", "fraud-detector", "fraud-mlp"]) {
  for (const [i, device] of ["demo-1", "demo-2", "demo-3"].entries()) {
    const input = path.join(keys, `demo-predictions-${device}.json`);
    writeFileSync(input, JSON.stringify({ X: reference.slice(60 * i, 60 * (i + 1)) }));
    const answer = JSON.parse(must(["predict", `demo/${model}@production`, "--input", input, "--device-id", device, "--json"]));
    predicted += 60;
    // What actually happened to these transactions (an analyst's rule, not
    // the model), given back as outcomes: the console's quality panel.
    if (answer.prediction_id && model !== "transaction-anomaly") {
      const outcomes = reference.slice(60 * i, 60 * (i + 1)).map((r, row) => ({
        prediction_id: answer.prediction_id, row,
        label: (r[0] > 400 && r[3] > 0.5) || r[3] > 0.85 ? 1 : 0,
      }));
      const file = path.join(keys, `demo-outcomes-${model}-${device}.json`);
      writeFileSync(file, JSON.stringify({ outcomes }));
      must(["feedback", model, "--file", file]);
    }
  }
}
// fraud-detector's production is watched: a quality floor and a drift line,
// checked by the cron (run once now, as it runs every five minutes).
must(["monitor", "set", "fraud-detector", "--stage", "production", "--min-f1", "0.5", "--max-drift-share", "0.5",
  "--min-calls", "5", "--min-outcomes", "20", "--window", "7d"]);
await fetch(`${url}/__scheduled?cron=*/5+*+*+*+*`).catch(() => {});
console.log(`seed: organisation demo ready (${created} new versions, ${manifest.versions.length + 1} in all; ${deployed} new deployments; ${predicted} rows predicted; root in .wrangler/demo-keys/root.json)`);
