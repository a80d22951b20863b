// The wasm client package (target/outpost-client-pkg, as a web developer
// would import it) under Node against the real local Worker: an honest
// resolve → fetch → load → predict equal to the native result, the store's
// cache re-verified on every read, and the attacks that apply to a client —
// tampered and endless bytes, a bad signature, a replayed resolution for
// another device, expired metadata, and rollback, also across client
// instances sharing a store. Driven by tests/e2e/tests/client.rs, which sets
// up the registry and passes it in the environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is set by tests/e2e/tests/client.rs`);
  return value;
};
const pkg = env("OUTPOST_CLIENT_PKG");
const { default: init, OutpostClient, Model } = await import(pathToFileURL(path.join(pkg, "outpost_client.js")));
const { memoryStore } = await import(pathToFileURL(path.join(pkg, "stores.js")));
await init({ module_or_path: fs.readFileSync(path.join(pkg, "outpost_client_bg.wasm")) });

const registry = env("OUTPOST_URL");
const org = env("OUTPOST_ORG");
const token = env("OUTPOST_TOKEN");
const root = fs.readFileSync(env("OUTPOST_ROOT"), "utf8");
const model = env("OUTPOST_MODEL");
const expected = JSON.parse(fs.readFileSync(env("OUTPOST_EXPECTED"), "utf8"));

/** A fetch that lets a test rewrite answers: `rewrite(url, response) → Response`. */
function hostileFetch(rewrite, log = []) {
  return async (url, init) => {
    log.push(url);
    const response = await fetch(url, init);
    return (await rewrite(url, response)) ?? response;
  };
}

const client = (extra = {}) => new OutpostClient({ registry, org, token, root, deviceId: "node-1", ...extra });

async function refusal(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error, "a real Error");
    assert.ok(err.message.length > 10, "with a readable message");
    return err;
  }
  assert.fail("expected a refusal");
}

function close(got, want, where = "outputs") {
  if (Array.isArray(want)) {
    assert.equal(got.length, want.length, where);
    want.forEach((w, i) => close(got[i], w, `${where}[${i}]`));
  } else if (typeof want === "number") {
    assert.ok(Math.abs(got - want) <= 1e-6 * Math.max(1, Math.abs(want)), `${where}: ${got} vs native ${want}`);
  } else {
    assert.deepEqual(got, want, where);
  }
}

test("an honest registry: resolve, fetch, load and predict as natively", async () => {
  const log = [];
  const store = memoryStore();
  // Which coding each artifact download came in (Node's fetch asks for
  // gzip and decodes it; the artifacts here have gzip copies).
  const codings = [];
  const c = client({
    store,
    fetch: hostileFetch((url, response) => {
      if (url.includes("/blobs/")) codings.push(response.headers.get("content-encoding") ?? "identity");
    }, log),
  });
  const resolution = await c.resolve(model, "production");
  assert.equal(resolution.version, expected.version);
  assert.equal(resolution.device, "node-1");
  assert.match(resolution.digest, /^sha256:[0-9a-f]{64}$/);
  const progress = [];
  const bytes = await c.fetchModel(resolution, (got, total) => progress.push([got, total]));
  assert.equal(bytes.length, resolution.length);
  assert.deepEqual(progress.at(-1), [resolution.length, resolution.length]);
  const outputs = Model.load(bytes).predict(expected.inputs);
  close(outputs, expected.outputs);
  // A second fetch reads the store (re-verified), not the network.
  const blobs = () => log.filter((u) => u.includes("/blobs/")).length;
  assert.equal(blobs(), 1);
  assert.deepEqual(codings, ["gzip"], "the artifact came gzip-coded, and verified once decoded");
  const again = await c.fetchModel(resolution);
  assert.deepEqual(again, bytes);
  assert.equal(blobs(), 1, "served from the store");
  // load() does all of it in one call.
  const loaded = await c.load(model, "production");
  close(loaded.predict(expected.inputs), expected.outputs);
  // The handle's telemetry goes to the registry and shows in its performance report.
  await c.report(resolution, loaded.report());
  const perf = await (await fetch(`${registry}/v1/orgs/${org}/models/${model}/performance`, {
    headers: { authorization: `Bearer ${token}` },
  })).json();
  const row = perf.rows.find((r) => r.source === "client" && r.version === resolution.version && r.stage === "production");
  assert.ok(row && row.calls >= 1 && row.rows >= expected.inputs.X.length, JSON.stringify(perf));
});

test("a cached artifact that no longer verifies is fetched again", async () => {
  const store = memoryStore();
  const c = client({ store });
  const resolution = await c.resolve(model, "production");
  await c.fetchModel(resolution);
  const cached = await store.get(resolution.digest);
  cached[100] ^= 0xff;
  await store.put(resolution.digest, cached);
  const bytes = await c.fetchModel(resolution);
  assert.notEqual(bytes[100], cached[100], "the tampered copy was not used");
  close(Model.load(bytes).predict(expected.inputs), expected.outputs);
});

test("tampered bytes are refused with DIGEST_MISMATCH and nothing is cached", async () => {
  const store = memoryStore();
  const flip = hostileFetch(async (url, response) => {
    if (!url.includes("/blobs/")) return;
    const body = new Uint8Array(await response.arrayBuffer());
    body[body.length >> 1] ^= 0x01;
    return new Response(body, { status: 200 });
  });
  const c = client({ store, fetch: flip });
  const resolution = await c.resolve(model, "production");
  const err = await refusal(c.fetchModel(resolution));
  assert.equal(err.code, "DIGEST_MISMATCH");
  assert.match(err.message, /refused at the artifact/);
  assert.equal(await store.get(resolution.digest), undefined);
});

test("large artifacts are hashed with WebCrypto, and tampering is still refused", async () => {
  let digests = 0;
  const original = crypto.subtle.digest.bind(crypto.subtle);
  crypto.subtle.digest = (...args) => {
    digests += 1;
    return original(...args);
  };
  try {
    const honest = client({ webCryptoAbove: 0 });
    const resolution = await honest.resolve(model, "production");
    close(Model.load(await honest.fetchModel(resolution)).predict(expected.inputs), expected.outputs);
    assert.equal(digests, 1, "the artifact went through crypto.subtle.digest");
    const flip = hostileFetch(async (url, response) => {
      if (!url.includes("/blobs/")) return;
      const body = new Uint8Array(await response.arrayBuffer());
      body[7] ^= 0x80;
      return new Response(body, { status: 200 });
    });
    const tampered = client({ webCryptoAbove: 0, fetch: flip });
    const err = await refusal(tampered.fetchModel(await tampered.resolve(model, "production")));
    assert.equal(err.code, "DIGEST_MISMATCH");
    assert.equal(digests, 2);
    // Below the threshold the Rust hasher is used.
    const small = client();
    await small.fetchModel(await small.resolve(model, "production"));
    assert.equal(digests, 2);
  } finally {
    crypto.subtle.digest = original;
  }
});

test("endless data stops at the signed length with LENGTH_MISMATCH", async () => {
  const endless = hostileFetch(async (url, response) => {
    if (!url.includes("/blobs/")) return;
    const body = new Uint8Array(await response.arrayBuffer());
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(body);
      },
      pull(controller) {
        controller.enqueue(new Uint8Array(65536));
      },
    });
    return new Response(stream, { status: 200 });
  });
  const c = client({ fetch: endless });
  const err = await refusal(c.fetchModel(await c.resolve(model, "production")));
  assert.equal(err.code, "LENGTH_MISMATCH");
});

test("a resolution not signed by the director is refused with BAD_SIGNATURE", async () => {
  const forged = hostileFetch(async (url, response) => {
    if (!url.includes("/resolve?")) return;
    const envelope = await response.json();
    const sig = envelope.signatures[0].sig;
    envelope.signatures[0].sig = (sig[0] === "0" ? "1" : "0") + sig.slice(1);
    return Response.json(envelope);
  });
  const err = await refusal(client({ fetch: forged }).resolve(model, "production"));
  assert.equal(err.code, "BAD_SIGNATURE");
  assert.match(err.message, /refused at the resolution/);
});

// securesystemslib's canonical JSON for the resolution (strings and integers).
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${canonical(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  if (typeof value === "string") return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  return String(value);
}

test("a resolution validly signed by a key that is not the director's is refused with BAD_SIGNATURE", async () => {
  const { createPublicKey, generateKeyPairSync, sign, verify } = await import("node:crypto");
  const { privateKey } = generateKeyPairSync("ed25519");
  const directorKeys = JSON.parse(root).signed.keys;
  let checkedCanonicalForm = false;
  const wrongKey = hostileFetch(async (url, response) => {
    if (!url.includes("/resolve?")) return;
    const envelope = await response.json();
    // Control: the director's own signature verifies over canonical(signed),
    // so the forgery below is a valid signature over the right bytes, by the wrong key.
    const { keyid, sig: real } = envelope.signatures[0];
    const raw = Buffer.from(directorKeys[keyid].keyval.public, "hex");
    const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]);
    const director = createPublicKey({ key: spki, format: "der", type: "spki" });
    assert.ok(verify(null, Buffer.from(canonical(envelope.signed)), director, Buffer.from(real, "hex")));
    checkedCanonicalForm = true;
    envelope.signed.version = "9.9.9"; // what an attacker with its own key would serve
    const sig = sign(null, Buffer.from(canonical(envelope.signed)), privateKey).toString("hex");
    envelope.signatures = [{ keyid: envelope.signatures[0].keyid, sig }];
    return Response.json(envelope);
  });
  const err = await refusal(client({ fetch: wrongKey }).resolve(model, "production"));
  assert.ok(checkedCanonicalForm);
  assert.equal(err.code, "BAD_SIGNATURE");
});

test("a replayed resolution for another device is refused with WRONG_ANSWER", async () => {
  const captured = await (await fetch(`${registry}/v1/orgs/${org}/models/${model}/resolve?stage=production&device=someone-else`, {
    headers: { authorization: `Bearer ${token}` },
  })).json();
  const replay = hostileFetch((url) => (url.includes("/resolve?") ? Response.json(captured) : undefined));
  const err = await refusal(client({ fetch: replay }).resolve(model, "production"));
  assert.equal(err.code, "WRONG_ANSWER");
});

test("expired metadata is refused with EXPIRED (a frozen registry)", async () => {
  const later = Date.now() + 400 * 86_400_000;
  const err = await refusal(client({ now: () => later }).resolve(model, "production"));
  assert.equal(err.code, "EXPIRED");
});

test("an older resolution after a newer one is refused with ROLLBACK, also by a new client on the same store", async () => {
  const store = memoryStore();
  let first;
  const keepFirst = hostileFetch(async (url, response) => {
    if (!url.includes("/resolve?")) return;
    const envelope = await response.json();
    first ??= envelope;
    return Response.json(envelope);
  });
  const c = client({ store, fetch: keepFirst });
  const firstNumber = (await c.resolve(model, "production")).resolutionVersion;
  // Answers drawn from one stage change are numbered by the whole seconds
  // since it (outpost_core::trust::resolution_version): resolve until a
  // strictly newer answer is trusted (about a second at most).
  let newer = firstNumber;
  for (let tries = 0; newer === firstNumber && tries < 2000; tries++) {
    newer = (await c.resolve(model, "production")).resolutionVersion;
  }
  assert.ok(newer > firstNumber, `a newer resolution is now trusted (${newer} > ${firstNumber})`);
  const replayFirst = hostileFetch((url) => (url.includes("/resolve?") ? Response.json(first) : undefined));
  const err = await refusal(client({ store, fetch: replayFirst }).resolve(model, "production"));
  assert.equal(err.code, "ROLLBACK");
  // Without the persisted state, the same old answer would pass: the store is what protects.
  await client({ fetch: replayFirst }).resolve(model, "production");
});

test("configuration mistakes are CONFIG_INVALID errors that say what is missing", () => {
  assert.throws(() => new OutpostClient({ org, root }), { code: "CONFIG_INVALID", message: /registry/ });
  assert.throws(() => new OutpostClient({ registry, org, root: "{}" }), { code: "CONFIG_INVALID" });
});
