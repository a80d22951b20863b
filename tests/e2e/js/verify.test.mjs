// The verify-only package (target/outpost-client-verify-pkg,
// @outpost/client-verify) under Node against the real local Worker, as a
// device that brings its own runtime would use it: it carries no model
// runtime, resolves and fetches with every check, hands back bytes equal to
// the released artifact, and refuses tampered bytes and forged resolutions
// with the same codes as the full client. Driven by tests/e2e/tests/client.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is set by tests/e2e/tests/client.rs`);
  return value;
};
const pkg = env("OUTPOST_CLIENT_VERIFY_PKG");
const exported = await import(pathToFileURL(path.join(pkg, "outpost_client.js")));
const { default: init, OutpostClient, digestOf, verifyArtifact } = exported;
const { memoryStore } = await import(pathToFileURL(path.join(pkg, "stores.js")));
await init({ module_or_path: fs.readFileSync(path.join(pkg, "outpost_client_bg.wasm")) });

const registry = env("OUTPOST_URL");
const org = env("OUTPOST_ORG");
const token = env("OUTPOST_TOKEN");
const root = fs.readFileSync(env("OUTPOST_ROOT"), "utf8");
const model = env("OUTPOST_MODEL");
const artifact = fs.readFileSync(env("OUTPOST_ARTIFACT"));

const client = (extra = {}) => new OutpostClient({ registry, org, token, root, deviceId: "gateway-1", ...extra });

function tamperedFetch(match, edit) {
  return async (url, init) => {
    const response = await fetch(url, init);
    return url.includes(match) ? edit(response) : response;
  };
}

async function refusal(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error, "a real Error");
    return err;
  }
  assert.fail("expected a refusal");
}

test("the package carries no model runtime", () => {
  assert.equal(exported.Model, undefined);
  assert.equal(typeof OutpostClient.prototype.load, "undefined");
  assert.equal(typeof OutpostClient.prototype.resolve, "function");
  assert.equal(typeof OutpostClient.prototype.fetchModel, "function");
});

test("resolve and fetch hand back the released bytes, verified", async () => {
  const c = client({ store: memoryStore() });
  const resolution = await c.resolve(model, "production");
  const bytes = await c.fetchModel(resolution);
  assert.equal(bytes.length, artifact.length);
  assert.ok(Buffer.from(bytes).equals(artifact), "the bytes are the released artifact");
  const sha256 = `sha256:${crypto.createHash("sha256").update(artifact).digest("hex")}`;
  assert.equal(resolution.digest, sha256);
  assert.equal(digestOf(bytes), sha256);
  verifyArtifact(bytes, sha256, bytes.length);
});

test("tampered bytes are refused with DIGEST_MISMATCH", async () => {
  const flip = tamperedFetch("/blobs/", async (response) => {
    const body = new Uint8Array(await response.arrayBuffer());
    body[body.length >> 1] ^= 0x01;
    return new Response(body, { status: 200 });
  });
  const c = client({ fetch: flip });
  const err = await refusal(c.fetchModel(await c.resolve(model, "production")));
  assert.equal(err.code, "DIGEST_MISMATCH");
});

test("a resolution not signed by the director is refused with BAD_SIGNATURE", async () => {
  const forged = tamperedFetch("/resolve?", async (response) => {
    const envelope = await response.json();
    const sig = envelope.signatures[0].sig;
    envelope.signatures[0].sig = (sig[0] === "0" ? "1" : "0") + sig.slice(1);
    return Response.json(envelope);
  });
  const err = await refusal(client({ fetch: forged }).resolve(model, "production"));
  assert.equal(err.code, "BAD_SIGNATURE");
});
