// driftCompare of the wasm client against the reference values of
// scripts/gen-drift-vectors.py (scipy and Evidently's formulas): the wasm32
// build of outpost-core's drift statistics, statistics within 1e-9 and
// p-values within 1e-6 relative, as the native tests require.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = process.env.OUTPOST_CLIENT_PKG;
assert.ok(pkg, "set OUTPOST_CLIENT_PKG to the wasm-bindgen output directory (scripts/test.sh does)");
const client = createRequire(import.meta.url)(path.join(pkg, "outpost_client.js"));
const here = path.dirname(fileURLToPath(import.meta.url));
const vectors = JSON.parse(
  fs.readFileSync(path.join(here, "..", "..", "crates", "outpost-core", "tests", "data", "drift-vectors.json"), "utf8"),
);

const close = (got, want, rel, what) => {
  if (want === "inf" || want === "nan") return assert.equal(got, null, what); // JSON has neither
  assert.ok(Math.abs(got - want) <= rel * Math.max(Math.abs(want), 1e-300) || Math.abs(got - want) <= 1e-300,
    `${what}: ${got} vs ${want}`);
};

test("numeric drift statistics in wasm match scipy", () => {
  const tests = ["ks", "wasserstein", "psi", "kl", "jensen_shannon"];
  const cases = vectors.numeric;
  const report = client.driftCompare(
    cases.map((c) => new Float64Array(c.reference)),
    cases.map((c) => new Float64Array(c.current)),
    tests,
  );
  assert.equal(report.features.length, cases.length);
  cases.forEach((c, i) => {
    const [ks, wd, psi, kl, js] = report.features[i];
    close(ks.score, c.ks_pvalue, 1e-6, `${c.name} KS p-value`);
    close(wd.score, c.wasserstein_normed, 1e-9, `${c.name} normed Wasserstein`);
    close(psi.score, c.psi, 1e-9, `${c.name} PSI`);
    close(kl.score, c.kl, 1e-9, `${c.name} KL`);
    close(js.score, c.jensenshannon, 1e-9, `${c.name} Jensen-Shannon`);
    assert.equal(ks.drifted, c.ks_pvalue < 0.05, `${c.name} KS verdict`);
  });
});

test("categorical features take chi-square and the Z-test", () => {
  for (const c of vectors.categorical) {
    const names = c.z_pvalue === undefined ? ["chi_square"] : ["chi_square", "z_test"];
    const report = client.driftCompare([c.reference], [c.current], names);
    close(report.features[0][0].score, c.chi2_pvalue, 1e-6, `${c.name} chi-square p-value`);
    if (c.z_pvalue !== undefined) close(report.features[0][1].score, c.z_pvalue, 1e-6, `${c.name} Z p-value`);
  }
});

test("tiny exact KS p-values keep their digits in wasm too", () => {
  // scipy 1.17.1 ks_2samp(arange(100), arange(101) + 60.5): p = 1.68e-18, once 0.
  const tiny = vectors.numeric.filter((c) => c.name.startsWith("tiny p"));
  assert.ok(tiny.length >= 5);
  for (const c of tiny) {
    const report = client.driftCompare([new Float64Array(c.reference)], [new Float64Array(c.current)], ["ks"]);
    const got = report.features[0][0].score;
    assert.ok(c.ks_pvalue > 0 && Math.abs(got - c.ks_pvalue) <= 1e-6 * c.ks_pvalue, `${c.name}: ${got} vs ${c.ks_pvalue}`);
  }
});

test("the default test counts both samples' categories, as Evidently and the CLI do", () => {
  for (const c of vectors.categorical) {
    const report = client.driftCompare([c.reference], [c.current]);
    const [verdict] = report.features[0];
    assert.equal(verdict.test, c.default_test, `${c.name} test`);
    const want = c.default_test === "z_test" ? c.z_pvalue : c.chi2_pvalue;
    close(verdict.score, want, 1e-6, `${c.name} default p-value`);
    assert.equal(verdict.drifted, c.drifted, `${c.name} verdict`);
    assert.deepEqual(report.not_compared, [], c.name);
  }
});

test("reference a, b against current a, c is chi-square drift, not a dropped column", () => {
  const c = vectors.categorical.find((v) => v.name === "a, b against a, c");
  assert.deepEqual([c.reference, c.current], [["a", "b"], ["a", "c"]]);
  const report = client.driftCompare([c.reference], [c.current]);
  assert.deepEqual(report.features[0][0], { test: "chi_square", score: 0, threshold: 0.05, drifted: true });
  assert.deepEqual(report.dataset, { features: 1, drifted_features: 1, share: 1, drifted: true });
  assert.deepEqual(report.not_compared, []);
});

test("a feature that cannot be compared is listed with its reason", () => {
  const report = client.driftCompare([["a", "b"], [1, 2, 3]], [["a", "c"], []], ["z_test"]);
  assert.match(report.features[0][0].error, /at most two categories, got 3/);
  assert.equal(report.features[0][0].test, "z_test");
  assert.deepEqual(
    report.not_compared.map(({ feature, test }) => [feature, test]),
    [[0, "z_test"], [1, "z_test"]],
  );
  assert.match(report.not_compared[1].error, /current sample is empty/);
  assert.equal(report.dataset.features, 0);
});

test("the default report picks Evidently's tests and judges the dataset", () => {
  const ref = Float64Array.from({ length: 500 }, (_, i) => (i % 50) + 0.5);
  const same = Float64Array.from({ length: 400 }, (_, i) => ((i * 7) % 50) + 0.5);
  const moved = Float64Array.from({ length: 400 }, (_, i) => ((i * 7) % 50) + 30.5);
  const report = client.driftCompare([ref, ref, ["a", "b", "a", "c"]], [same, moved, ["a", "b", "b", "c"]]);
  assert.equal(report.features[0][0].test, "ks");
  assert.equal(report.features[0][0].drifted, false);
  assert.equal(report.features[1][0].drifted, true);
  assert.equal(report.features[2][0].test, "chi_square");
  assert.equal(report.dataset.features, 3);
  assert.equal(report.dataset.drifted_features, 1);
  assert.equal(report.dataset.drifted, false);
});

test("bad input is an INPUT_INVALID error, never a crash", () => {
  const throwsCode = (fn, code, text) => {
    assert.throws(fn, (err) => err.code === code && err.message.includes(text));
  };
  throwsCode(() => client.driftCompare([[1, 2]], []), "INPUT_INVALID", "1 reference features against 0");
  throwsCode(() => client.driftCompare([[1, 2]], [[3]], ["t-test"]), "INPUT_INVALID", "unknown test");
  throwsCode(() => client.driftCompare([{ a: 1 }], [[3]]), "INPUT_INVALID", "not an array");
  const empty = client.driftCompare([[1, 2, 3]], [[]]);
  assert.match(empty.features[0][0].error, /current sample is empty/);
});
