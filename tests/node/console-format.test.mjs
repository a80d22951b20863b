// The web console's version order (web/console/src/format.js): SemVer 2.0.0
// §11 precedence, as the registry orders versions — pre-releases before their
// release, numeric identifiers compared as numbers.
import { test } from "node:test";
import assert from "node:assert/strict";

import { versionOrder } from "../../web/console/src/format.js";

test("versions sort by SemVer precedence", () => {
  const shuffled = ["1.0.0", "1.0.0-beta.10", "0.9.12", "1.0.0-alpha", "1.0.0-beta.2", "1.10.0", "1.2.0", "1.0.0-alpha.1"];
  assert.deepEqual([...shuffled].sort(versionOrder), [
    "0.9.12",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-beta.2",
    "1.0.0-beta.10",
    "1.0.0",
    "1.2.0",
    "1.10.0",
  ]);
  assert.equal(versionOrder("1.0.0", "1.0.0"), 0);
  // Not a version: text order, never a throw.
  assert.equal(versionOrder("latest", "1.0.0"), 1);
});
