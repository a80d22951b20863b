// The trust scenarios of crates/outpost-core/tests/data/trust (written by
// the generator in crates/outpost-core/tests/trust_scenarios.rs) through the
// wasm client under Node: the same pinned root, saved state and served
// bytes must end exactly as they do natively — the same version installed,
// or the same code refused at the same step.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = process.env.OUTPOST_CLIENT_PKG;
assert.ok(pkg, "set OUTPOST_CLIENT_PKG to the wasm-bindgen output directory (scripts/test.sh does)");
const require = createRequire(import.meta.url);
const { OutpostClient } = require(path.join(pkg, "outpost_client.js"));

const here = path.dirname(fileURLToPath(import.meta.url));
const data = path.join(here, "../../crates/outpost-core/tests/data/trust");
const registry = "https://registry.invalid";

/** A registry that serves one scenario's folder and answers 404 otherwise. */
function servedBy(dir) {
  const file = (name) => {
    const at = path.join(dir, "served", name);
    return fs.existsSync(at) ? fs.readFileSync(at) : null;
  };
  return async (url) => {
    const { pathname } = new URL(url);
    let bytes = null;
    if (pathname.includes("/trust/")) bytes = file(pathname.split("/trust/")[1]);
    else if (pathname.endsWith("/resolve")) bytes = file("resolve.json");
    else if (pathname.includes("/blobs/sha256/")) bytes = file("artifact");
    return bytes === null ? new Response("{}", { status: 404 }) : new Response(bytes, { status: 200 });
  };
}

/** Runs one scenario folder; the installed version, or {code, step}. */
async function run(dir) {
  const read = (name) => fs.readFileSync(path.join(dir, name), "utf8");
  const expected = JSON.parse(read("expected.json"));
  const { org, model, stage, device } = expected.question;
  const saved = new Map();
  if (fs.existsSync(path.join(dir, "state.json"))) {
    saved.set(`outpost:trusted-state:${registry}:${org}`, new TextEncoder().encode(read("state.json")));
  }
  const store = { get: (key) => saved.get(key), put: (key, bytes) => void saved.set(key, bytes) };
  try {
    const client = new OutpostClient({
      registry, org, root: read("pinned.json"), deviceId: device, store,
      fetch: servedBy(dir), now: () => expected.now,
    });
    const resolution = await client.resolve(model, stage);
    await client.fetchModel(resolution);
    return { ok: true, version: resolution.version };
  } catch (err) {
    const step = /refused at (.+?):/.exec(err.message)?.[1];
    return { ok: false, code: err.code, step, message: err.message };
  }
}

const scenarios = fs.readdirSync(data).sort();

test("every committed scenario is here", () => {
  assert.ok(scenarios.length >= 25, `${scenarios.length} scenarios`);
});

for (const name of scenarios) {
  test(`trust scenario ${name} ends as natively`, async () => {
    const dir = path.join(data, name);
    const want = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf8")).outcome;
    const got = await run(dir);
    if (want.ok) {
      assert.deepEqual(got, { ok: true, version: want.version }, got.message);
    } else {
      assert.deepEqual({ code: got.code, step: got.step }, { code: want.code, step: want.step }, got.message);
    }
  });
}
