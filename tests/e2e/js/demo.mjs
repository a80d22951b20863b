// Drives the web demo (web/demo.html, served by the Worker) in headless
// Chromium (Debian's, through playwright-core): opens each URL given, lets the
// page resolve, verify, download, load and predict, and prints one JSON line
// per page: {url, state, result, error, steps, outcomes}. On a page that
// finished, it marks row 0 "right" and row 1 "wrong" and reports the
// outcomes (outcomes: what the page shows afterwards). Saves a screenshot of each.
// tests/e2e/tests/client.rs asserts on the output.
//
// node tests/e2e/js/demo.mjs SCREENSHOT_PREFIX URL…
import { chromium } from "playwright-core";

const [prefix, ...urls] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  let n = 0;
  for (const url of urls) {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const console_ = [];
    page.on("console", (msg) => console_.push(msg.text()));
    page.on("pageerror", (err) => console_.push(String(err)));
    await page.goto(url);
    await page.waitForFunction(() => ["done", "failed"].includes(document.body.dataset.state), null, { timeout: 120_000 });
    let outcomes = null;
    if ((await page.locator('#outcomes button[data-verdict="wrong"]').count()) >= 2) {
      await page.click('#outcomes button[data-row="0"][data-verdict="right"]');
      await page.click('#outcomes button[data-row="1"][data-verdict="wrong"]');
      await page.click("#report-outcomes");
      await page.waitForFunction(() => document.getElementById("outcomes").dataset.result || !document.getElementById("error").hidden, null, { timeout: 60_000 });
      outcomes = await page.evaluate(() => {
        const box = document.getElementById("outcomes");
        return box.dataset.result ? { ...JSON.parse(box.dataset.result), text: document.getElementById("outcomes-status").innerText } : null;
      });
    }
    const report = await page.evaluate(() => ({
      state: document.body.dataset.state,
      result: document.getElementById("result").dataset.result ?? null,
      drift: document.getElementById("drift").dataset.report ?? null,
      bars: document.querySelectorAll("#drift svg rect").length,
      error: document.getElementById("error").hidden ? null : {
        code: document.getElementById("error").dataset.code,
        text: document.getElementById("error").innerText,
      },
      steps: [...document.querySelectorAll("#steps li")].map((li) => li.innerText),
    }));
    await page.screenshot({ path: `${prefix}-${++n}.png`, fullPage: true });
    console.log(JSON.stringify({ url, ...report, outcomes, result: report.result && JSON.parse(report.result), drift: report.drift && JSON.parse(report.drift), console: console_ }));
    await page.close();
  }
} finally {
  await browser.close();
}
