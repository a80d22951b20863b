// The wasm client (outpost-client built for wasm32 and bound with
// wasm-bindgen --target nodejs) verifying artifacts under Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import path from "node:path";

const pkg = process.env.OUTPOST_CLIENT_PKG;
assert.ok(pkg, "set OUTPOST_CLIENT_PKG to the wasm-bindgen output directory (scripts/test.sh does)");
const require = createRequire(import.meta.url);
const client = require(path.join(pkg, "outpost_client.js"));

const bytes = new TextEncoder().encode("an isolation forest, say");
const digest = "sha256:" + createHash("sha256").update(bytes).digest("hex");

test("digestOf agrees with Node's own sha256", () => {
  assert.equal(client.digestOf(bytes), digest);
  // A larger buffer, crossing many 64-byte blocks.
  const big = new Uint8Array(3_000_001).map((_, i) => i % 251);
  assert.equal(client.digestOf(big), "sha256:" + createHash("sha256").update(big).digest("hex"));
});

test("verifyArtifact accepts the right bytes", () => {
  client.verifyArtifact(bytes, digest, bytes.length);
});

function codeOf(fn) {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof Error, "throws a real Error");
    assert.ok(err.message.length > 0, "with a readable message");
    return err.code;
  }
  assert.fail("expected an error");
}

test("tampered bytes are refused with DIGEST_MISMATCH", () => {
  const tampered = bytes.slice();
  tampered[0] ^= 1;
  assert.equal(codeOf(() => client.verifyArtifact(tampered, digest, bytes.length)), "DIGEST_MISMATCH");
});

test("a wrong length is refused with LENGTH_MISMATCH", () => {
  assert.equal(codeOf(() => client.verifyArtifact(bytes, digest, bytes.length + 1)), "LENGTH_MISMATCH");
  assert.equal(codeOf(() => client.verifyArtifact(bytes, digest, -1)), "LENGTH_MISMATCH");
});

test("a malformed digest is refused with DIGEST_MALFORMED", () => {
  assert.equal(codeOf(() => client.verifyArtifact(bytes, "md5:abc", bytes.length)), "DIGEST_MALFORMED");
});

test("clientVersion reports the crate version", () => {
  assert.match(client.clientVersion(), /^\d+\.\d+\.\d+$/);
});
