// Drives the web console (web/console, served by the Worker) in headless
// Chromium (Debian's, through playwright-core) through what its users do:
// sign in with the demo token, find a model by tag, compare three versions,
// promote one to staging and see the history update, roll it back, see a
// refused gate's detail, open the drift chart, check the audit chain, then
// sign in as a viewer (keyboard only) and find no action. Prints one JSON
// report; tests/e2e/tests/console.rs asserts on it. Screenshots go to
// SCREENSHOT_PREFIX-*.png (git-ignored tests/artifacts).
//
// node tests/e2e/js/console.mjs BASE_URL ADMIN_TOKEN VIEWER_TOKEN SCREENSHOT_PREFIX [audit]
// With `audit`, it only signs in and reports the audit page's chain verdict.
import { chromium } from "playwright-core";

const [base, adminToken, viewerToken, prefix, mode = "full"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const report = { errors: [], failed: [], requests: [], steps: {} };
const TIMEOUT = 60_000;
let shot = 0;
const snap = async (page, name) => page.screenshot({ path: `${prefix}-${String(++shot).padStart(2, "0")}-${name}.png`, fullPage: true });
// Every request of the page has answered (nothing loading, nothing busy).
const settled = (page) => page.waitForFunction(() => !document.querySelector(".loading, [aria-busy=true]"));
const text = async (page, selector) => (await page.locator(selector).first().innerText()).trim();

async function newPage(viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (err) => report.errors.push(String(err)));
  // Chromium logs every non-2xx answer as an error too; those are recorded
  // with their request instead (the refused gate is one, on purpose).
  page.on("console", (msg) => msg.type() === "error" && !msg.text().startsWith("Failed to load resource") && report.errors.push(msg.text()));
  page.on("response", (res) => res.status() >= 400 && report.failed.push(`${res.request().method()} ${new URL(res.url()).pathname} ${res.status()}`));
  // Every URL the page asks for: the token must never be in one.
  page.on("request", (req) => report.requests.push(req.url()));
  return page;
}

/** The audit page's verdict on the chain, nothing else. */
async function auditOnly(page) {
  await page.goto(`${base}/console/#/audit`);
  await page.locator("[data-testid=chain]").waitFor();
  report.steps.audit = {
    chain: await text(page, "[data-testid=chain]"),
    intact: await page.locator("[data-testid=chain]").getAttribute("data-intact"),
  };
  await snap(page, "audit-tampered");
}

/** Everything, from a signed-in admin's page. */
async function fullRun(page) {
  report.steps.signedIn = {
    who: await text(page, "[data-testid=who]"),
    models: await page.locator("table[data-testid=models] tbody tr").count(),
    url: page.url(),
    stored: await page.evaluate(() => Object.keys(sessionStorage)),
    local: await page.evaluate(() => Object.keys(localStorage).length),
  };
  await snap(page, "models");

  // --- Find a model by tag ----------------------------------------------------
  await page.locator("form.filters input[name=tag]").fill("prod-ready");
  await page.locator("form.filters button[type=submit]").click();
  await page.waitForFunction(() => location.hash.includes("tag=prod-ready"));
  await settled(page);
  report.steps.byTag = {
    hash: await page.evaluate(() => location.hash),
    names: await page.locator("table[data-testid=models] tbody tr td:first-child").allInnerTexts(),
    matching: await page.locator("table[data-testid=models] tbody td[data-label='Matching versions']").allInnerTexts(),
  };
  await snap(page, "by-tag");

  // --- The model: what runs in production, since when, by whom, how ----------
  await page.locator("table[data-testid=models] a", { hasText: "fraud-detector" }).click();
  await page.locator("[data-testid=runs-production]").waitFor();
  await settled(page);
  const stage = async (s) => ({
    runs: await text(page, `[data-testid=runs-${s}]`),
    since: await text(page, `[data-testid=since-${s}]`),
    health: await page.locator(`.stage[data-stage=${s}] table.health tbody tr`).allInnerTexts(),
  });
  report.steps.production = await stage("production");
  report.steps.monitor = await text(page, ".stage[data-stage=production] [data-testid=monitor]");
  report.steps.lineageEdges = await page.locator("svg[data-testid=lineage] line.edge").count();
  await snap(page, "model");

  // --- Compare three versions ---------------------------------------------------
  for (const v of ["1.0.0", "1.1.0", "1.2.0"]) {
    await page.getByRole("checkbox", { name: `compare ${v}` }).check();
  }
  await page.locator("table[data-testid=comparison] tbody tr").first().waitFor();
  await settled(page);
  // Sorting by a metric puts the order in the URL too.
  await page.locator("table[data-testid=versions] thead button", { hasText: "f1" }).click();
  const sortedBy = await page.evaluate(() => location.hash);
  report.steps.compare = {
    hash: await page.evaluate(() => location.hash),
    columns: await page.locator("table[data-testid=comparison] thead th").allInnerTexts(),
    rows: await page.locator("table[data-testid=comparison] tbody tr").allInnerTexts(),
    best: await page.locator("table[data-testid=comparison] td[data-best]").count(),
    sortedBy,
  };
  await snap(page, "compare");

  // --- Promote 1.1.0 to staging, see the history update --------------------------
  const historyBefore = await page.locator("ol[data-testid=history] li").count();
  const promote = page.locator("form[data-testid=promote]");
  await promote.locator("select[name=version]").selectOption("1.1.0");
  await promote.locator("select[name=stage]").selectOption("staging");
  await promote.locator("input[name=reason]").fill("console: try 1.1.0 in staging");
  await promote.locator("button[type=submit]").click();
  await page.waitForFunction((n) => document.querySelectorAll("ol[data-testid=history] li").length > n, historyBefore);
  await settled(page);
  report.steps.promoted = {
    historyBefore,
    historyAfter: await page.locator("ol[data-testid=history] li").count(),
    top: await text(page, "ol[data-testid=history] li"),
    staging: await text(page, "[data-testid=runs-staging]"),
  };
  await snap(page, "promoted");

  // --- Roll staging back ---------------------------------------------------------
  await page.locator(".stage[data-stage=staging] details.actions summary").click();
  const rollback = page.locator("form[data-testid=rollback-staging]");
  await rollback.locator("input[name=reason]").fill("console: back to what ran before");
  await rollback.locator("button[type=submit]").click();
  await page.waitForFunction(() => document.querySelector("ol[data-testid=history] li")?.dataset.kind === "rollback");
  await settled(page);
  report.steps.rolledBack = {
    top: await text(page, "ol[data-testid=history] li"),
    staging: await text(page, "[data-testid=runs-staging]"),
  };
  await snap(page, "rolled-back");

  // --- A canary at production with a guardrail, then cleared -------------------
  await page.locator(".stage[data-stage=production] details.actions summary").click();
  const canary = page.locator("form[data-testid=canary-production]");
  await canary.locator("select[name=version]").selectOption("1.1.0");
  await canary.locator("input[name=percent]").fill("10");
  await canary.locator("input[name=max_error_rate]").fill("0.05");
  await canary.locator("input[name=reason]").fill("console: 10 % canary");
  await canary.locator("button[type=submit]").click();
  await page.waitForFunction(() => document.querySelector("[data-testid=runs-production]")?.innerText.includes("canary"));
  await settled(page);
  report.steps.canary = {
    production: await text(page, "[data-testid=runs-production]"),
    guard: await text(page, ".stage[data-stage=production] .guard"),
  };
  await snap(page, "canary");
  // Changed to 20 % without naming a guardrail: the one set stays.
  const change = page.locator("form[data-testid=canary-production]");
  await change.locator("input[name=percent]").fill("20");
  await change.locator("input[name=reason]").fill("console: 20 % canary");
  await change.locator("button[type=submit]").click();
  await page.waitForFunction(() => document.querySelector("[data-testid=runs-production]")?.innerText.includes("20 %"));
  await settled(page);
  report.steps.canary20 = {
    production: await text(page, "[data-testid=runs-production]"),
    guard: await text(page, ".stage[data-stage=production] .guard"),
  };
  const clear = page.locator("form[data-testid=clear-production]");
  await clear.locator("input[name=reason]").fill("console: canary done");
  await clear.locator("button[type=submit]").click();
  await page.waitForFunction(() => !document.querySelector("[data-testid=runs-production]")?.innerText.includes("canary"));
  await settled(page);
  report.steps.cleared = { production: await text(page, "[data-testid=runs-production]"), top: await text(page, "ol[data-testid=history] li") };

  // --- A refused gate shows the registry's detail -------------------------------
  await promote.locator("select[name=version]").selectOption("1.0.0");
  await promote.locator("select[name=stage]").selectOption("production");
  await promote.locator("input[name=reason]").fill("console: skip staging");
  await promote.locator("button[type=submit]").click();
  await promote.locator(".problem").waitFor();
  report.steps.refused = {
    title: await text(promote, ".problem strong"),
    detail: await text(promote, ".problem .detail"),
    production: await text(page, "[data-testid=runs-production]"),
  };
  await snap(page, "refused");

  // --- The version page's drift chart ------------------------------------------
  await page.locator("table[data-testid=versions] a", { hasText: "1.2.0" }).click();
  await page.locator("[data-testid=drift-verdict]").waitFor();
  await settled(page);
  report.steps.drift = {
    verdict: await text(page, "[data-testid=drift-verdict]"),
    canvases: await page.locator("[data-testid=drift] figure.chart canvas").count(),
    features: await page.locator("table[aria-label='Drift per feature'] tbody tr").count(),
    release: await text(page, "[data-testid=release]"),
    status: await text(page, "[data-testid=status]"),
    referenceCharts: await page.locator("figure.chart[aria-label^='Reference histogram'] canvas").count(),
    quality: await text(page, "[data-testid=quality-summary]"),
    registered: await page.locator("table[data-testid=registered] tbody tr").count(),
    series: {
      calls: await page.locator("[data-testid=performance-series-summary]").getAttribute("data-calls"),
      buckets: await page.locator("[data-testid=performance-series-summary]").getAttribute("data-buckets"),
      canvases: await page.locator("[data-testid=performance-series] figure.chart canvas").count(),
      rows: await page.locator("table[aria-label='Performance per bucket'] tbody tr").count(),
    },
  };
  await snap(page, "version");

  // --- An unsafe pickle's safety scan -------------------------------------------
  await page.goto(`${base}/console/#/models/legacy-scorer/versions/0.1.0`);
  await page.locator("[data-testid=pickle-scan]").waitFor();
  await settled(page);
  report.steps.pickle = {
    scan: await text(page, "[data-testid=pickle-scan]"),
    status: await text(page, "[data-testid=status]"),
  };
  await snap(page, "pickle");

  // --- The audit chain -------------------------------------------------------------
  await page.locator("header nav a", { hasText: "Audit" }).click();
  await page.locator("[data-testid=chain]").waitFor();
  await settled(page);
  report.steps.audit = {
    chain: await text(page, "[data-testid=chain]"),
    intact: await page.locator("[data-testid=chain]").getAttribute("data-intact"),
    entries: await page.locator("table[data-testid=audit] tbody tr").count(),
  };
  await snap(page, "audit");

  // --- Settings: tokens listed, never their secrets -----------------------------
  await page.locator("header nav a", { hasText: "Settings" }).click();
  await page.locator("table[data-testid=tokens] tbody tr").first().waitFor();
  await settled(page);
  const tokensBefore = await page.locator("table[data-testid=tokens] tbody tr").count();
  const showsSecret = (await page.content()).includes(adminToken);
  const create = page.locator("form[data-testid=create-token]");
  await create.locator("input[name=name]").fill("made-in-console");
  await create.locator("select[name=role]").selectOption("viewer");
  await create.locator("button[type=submit]").click();
  await page.locator("[data-testid=new-token] code").waitFor();
  await settled(page);
  const created = await text(page, "[data-testid=new-token] code");
  const shown = await text(page, "[data-testid=new-token]");
  await page.locator("[data-testid=new-token] button", { hasText: "Done" }).click();
  const afterDone = (await page.content()).includes(created);
  report.steps.settings = { tokens: tokensBefore, showsSecret, created, shown, afterDone };
  await snap(page, "settings");
  const whoami = await fetch(`${base}/v1/orgs/demo/whoami`, { headers: { authorization: `Bearer ${created}` } });
  report.steps.settings.createdWorks = whoami.status;
  await page.locator("table[data-testid=tokens] button", { hasText: "Revoke made-in-console" }).click();
  // Revoking asks once more; the session's own token offers no revoke at all.
  await page.locator("table[data-testid=tokens] button", { hasText: "Yes, revoke made-in-console now" }).click();
  report.steps.settings.ownRevocable = await page.locator("table[data-testid=tokens] tr", { hasText: "this session's token" }).count();
  await page.waitForFunction(() => [...document.querySelectorAll("table[data-testid=tokens] tbody tr")]
    .some((tr) => tr.innerText.includes("made-in-console") && tr.innerText.includes("revoked")));
  report.steps.settings.revokedToken = created;
  // --- Settings: policies as a form: a rule and a retention count saved, a bad rule refused ---
  const policy = page.locator("form.policy[data-model=legacy-scorer]");
  await policy.locator("button", { hasText: "Add a rule" }).click();
  await policy.locator(".rule input[placeholder='f1>=0.85']").last().fill("f1>=0.5");
  await policy.locator(".rule").last().locator("label.inline", { hasText: "production" }).locator("input").check();
  await policy.locator("input[name=keep_last]").fill("5");
  await policy.locator("button[type=submit]").click();
  await policy.locator("[role=status][data-saved=\"1\"]").waitFor();
  const storedPolicy = await (await fetch(`${base}/v1/orgs/demo/models/legacy-scorer/policy`, { headers: { authorization: `Bearer ${adminToken}` } })).json();
  await policy.locator(".rule input[placeholder='f1>=0.85']").last().fill("f1 is good");
  await policy.locator("button[type=submit]").click();
  await policy.locator("[role=alert]").waitFor();
  report.steps.policy = { stored: storedPolicy, refused: await text(page, "form.policy[data-model=legacy-scorer] [role=alert]") };
  await page.locator("header button", { hasText: "Sign out" }).click();
  await page.locator("[data-testid=signin]").waitFor();
  report.steps.signedOut = { stored: await page.evaluate(() => Object.keys(sessionStorage)) };
  await page.close();

  // --- A viewer, by keyboard, at 360 px wide: no action anywhere --------------------
  const narrow = await newPage({ width: 360, height: 740 });
  current = narrow;
  await narrow.goto(`${base}/console/#/models/fraud-detector`);
  await narrow.locator("[data-testid=signin] input[name=org]").focus();
  await narrow.keyboard.type("demo");
  await narrow.keyboard.press("Tab");
  await narrow.keyboard.type(viewerToken);
  await narrow.keyboard.press("Enter");
  await narrow.locator("[data-testid=runs-production]").waitFor();
  await settled(narrow);
  report.steps.viewer = {
    who: await text(narrow, "[data-testid=who]"),
    actionForms: await narrow.locator("form.action").count(),
    actionDetails: await narrow.locator("details.actions").count(),
    settingsLink: await narrow.locator("header nav a", { hasText: "Settings" }).count(),
    auditLink: await narrow.locator("header nav a", { hasText: "Audit" }).count(),
    production: await text(narrow, "[data-testid=runs-production]"),
    overflow: await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
  };
  await snap(narrow, "viewer-360");
  await narrow.close();
}

let current = null;
try {
  // --- Admin: sign in -------------------------------------------------------
  const page = await newPage();
  current = page;
  await page.goto(`${base}/console/`);
  await page.locator("[data-testid=signin] input[name=org]").fill("demo");
  await page.locator("[data-testid=signin] input[name=token]").fill(adminToken);
  await page.locator("[data-testid=signin] button[type=submit]").click();
  await page.locator("table[data-testid=models] tbody tr").first().waitFor();
  await (mode === "audit" ? auditOnly(page) : fullRun(page));
} catch (err) {
  report.failure = String(err?.stack ?? err);
  // What the page showed when it stopped.
  if (current && !current.isClosed()) {
    report.shownAtFailure = await current.evaluate(() => document.body.innerText.slice(0, 3000)).catch(String);
    await snap(current, "failure").catch(() => {});
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
