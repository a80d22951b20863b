// The browser demo: resolve → verify → download (with progress) → digest
// check → load → predict, each step shown with its time; any failure is shown
// with the check that failed. Query parameters prefill the form (registry,
// org, token, model, stage, device, root) and `autorun=1` runs at once, which
// is how the browser tests drive it.
import init, { OutpostClient, Model, clientVersion } from "./pkg/outpost_client.js";
import { cacheStore, memoryStore } from "./pkg/stores.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
$("registry").value = params.get("registry") ?? location.origin;
for (const field of ["org", "token", "model", "stage", "device", "root"]) {
  if (params.has(field)) $(field).value = params.get(field);
}
if (params.has("inputs")) $("inputs").value = params.get("inputs");

function step(label) {
  const li = document.createElement("li");
  li.className = "run";
  li.textContent = `${label} …`;
  $("steps").append(li);
  const started = performance.now();
  return {
    li,
    done(detail) {
      li.className = "ok";
      li.innerHTML = "";
      li.append(`✓ ${label}: ${detail} `);
      const ms = document.createElement("span");
      ms.className = "ms";
      ms.textContent = `(${(performance.now() - started).toFixed(1)} ms)`;
      li.append(ms);
      return performance.now() - started;
    },
    fail(err) {
      li.className = "fail";
      li.textContent = `✗ ${label}: ${err.code ?? "ERROR"}`;
    },
  };
}

function showError(err) {
  const box = $("error");
  box.hidden = false;
  box.dataset.code = err.code ?? "ERROR";
  box.innerHTML = "";
  const title = document.createElement("strong");
  title.textContent = `Refused: ${err.code ?? "error"}`;
  const message = document.createElement("p");
  message.textContent = err.message;
  box.append(title, message);
}

function table(outputs) {
  const names = Object.keys(outputs);
  const rows = Math.max(...names.map((n) => (Array.isArray(outputs[n]) ? outputs[n].length : 1)));
  const t = document.createElement("table");
  const head = t.insertRow();
  for (const h of ["row", ...names]) head.append(Object.assign(document.createElement("th"), { textContent: h }));
  for (let r = 0; r < rows; r++) {
    const tr = t.insertRow();
    tr.insertCell().textContent = r;
    for (const n of names) tr.insertCell().textContent = JSON.stringify(outputs[n]?.[r]);
  }
  return t;
}

// The classes a binary classifier's "wrong" answer means: the columns of
// its probabilities, or an anomaly detector's -1 / 1. Null otherwise (only
// "right" can be said without naming the actual class).
function binaryClasses(outputs) {
  const labels = (outputs.label ?? []).flat();
  const probabilities = outputs.probabilities;
  // Columns 0 and 1 name the classes only when the labels are those numbers.
  if (Array.isArray(probabilities) && Array.isArray(probabilities[0]) && probabilities[0].length === 2
    && labels.every((l) => l === 0 || l === 1)) return [0, 1];
  if (labels.length && labels.every((l) => l === 1 || l === -1)) return [-1, 1];
  return null;
}

// A window id the registry accepts (1 to 64 of [A-Za-z0-9._:-]): the
// device's name, cleaned and cut, then a random part.
function windowId(device) {
  const prefix = (device || "demo").replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 27) || "demo";
  const random = crypto.getRandomValues(new Uint8Array(16));
  return `${prefix}:${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// The rows of `outputs` (label and probabilities) at `rows`.
function pick(outputs, rows) {
  const out = {};
  for (const name of ["label", "probabilities"]) if (Array.isArray(outputs[name])) out[name] = rows.map((r) => outputs[name][r]);
  return out;
}

// "Right" / "wrong" per predicted row, then one report of the outcomes
// (model.recordOutcomes → takeOutcomes → client.reportOutcomes) and the
// registry's quality for the version.
function outcomesPanel(session) {
  const box = $("outcomes");
  box.innerHTML = "";
  const labels = (session.outputs.label ?? []).map((l) => (Array.isArray(l) ? l[0] : l));
  if (!labels.length) {
    box.textContent = "This model has no label output: outcomes are for classifiers.";
    return;
  }
  const classes = binaryClasses(session.outputs);
  const verdicts = new Map();
  const list = document.createElement("ol");
  list.start = 0;
  labels.forEach((label, row) => {
    const li = document.createElement("li");
    li.append(`predicted ${JSON.stringify(label)} `);
    const choices = [["right", label]];
    if (classes) choices.push(["wrong", classes.find((c) => c !== label)]);
    for (const [name, actual] of choices) {
      const button = Object.assign(document.createElement("button"), { type: "button", textContent: name });
      button.dataset.row = row;
      button.dataset.verdict = name;
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => {
        verdicts.set(row, actual);
        for (const b of li.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
      });
      li.append(button, " ");
    }
    list.append(li);
  });
  const send = Object.assign(document.createElement("button"), { type: "button", id: "report-outcomes", textContent: "Report outcomes" });
  const status = Object.assign(document.createElement("p"), { id: "outcomes-status", role: "status" });
  // A window taken but not yet acknowledged: sent again, under its id, by
  // the next click (the registry counts each id once).
  let pending = null;
  send.addEventListener("click", async () => {
    if (!pending) {
      const rows = [...verdicts.keys()].sort((a, b) => a - b);
      if (!rows.length) {
        status.textContent = "Mark at least one prediction right or wrong first.";
        return;
      }
      try {
        session.handle.recordOutcomes(pick(session.outputs, rows), rows.map((r) => verdicts.get(r)));
      } catch (err) {
        showError(err);
        return;
      }
      pending = { id: windowId(session.device), window: session.handle.takeOutcomes() };
      // The rows are in the window now: they cannot be counted again.
      verdicts.clear();
      for (const b of list.querySelectorAll("button")) b.disabled = true;
    }
    send.disabled = true;
    let answer;
    try {
      answer = await session.client.reportOutcomes(session.resolution, pending.id, pending.window);
      pending = null;
    } catch (err) {
      send.disabled = false;
      status.textContent = "The report failed; press the button again to send the same window.";
      showError(err);
      return;
    }
    const version = encodeURIComponent(session.resolution.version);
    const response = await fetch(`${session.api}/quality?version=${version}&window=24h`, { headers: session.headers });
    if (!response.ok) {
      status.textContent = `reported ${answer.outcomes} outcomes; the quality report failed (HTTP ${response.status})`;
      return;
    }
    const { quality } = await response.json();
    status.textContent = `reported ${answer.outcomes} outcomes; ${session.resolution.model}@${session.resolution.version} is right ${(100 * quality.accuracy).toFixed(1)} % of ${quality.outcomes} outcomes in the last 24 h`;
    box.dataset.result = JSON.stringify({ ...answer, accuracy: quality.accuracy, total: quality.outcomes });
  });
  box.append(list, send, status);
}

// One bar per feature, scaled so that the test's threshold sits in the
// middle: p-value tests by −log10(p) / −log10(threshold), distances by
// score / threshold. Past the middle line the feature drifted.
function driftChart(report) {
  const box = $("drift");
  box.innerHTML = "";
  box.dataset.report = JSON.stringify(report);
  const svgNs = "http://www.w3.org/2000/svg";
  const rowHeight = 26, labelWidth = 150, barWidth = 340, width = labelWidth + barWidth + 300;
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", rowHeight * report.features.length + 24);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "drift per feature against its threshold");
  const el = (name, attrs, text) => {
    const node = document.createElementNS(svgNs, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  report.features.forEach((f, i) => {
    const y = 8 + i * rowHeight;
    el("text", { x: 0, y: y + 14, "font-size": 13 }, f.name);
    if (f.score === null || f.score === undefined) {
      el("text", { x: labelWidth, y: y + 14, "font-size": 12, fill: "#5b6475" }, f.error ?? "not tested");
      return;
    }
    const pvalue = ["ks", "chi_square", "z_test"].includes(f.test);
    const ratio = pvalue ? Math.log10(Math.max(f.score, 1e-300)) / Math.log10(f.threshold) : f.score / f.threshold;
    const w = Math.max(2, Math.min(ratio, 2) / 2 * barWidth);
    el("rect", { x: labelWidth, y, width: w, height: rowHeight - 8, fill: f.drifted ? "#d92d20" : "#12b76a", "data-feature": f.name });
    const score = pvalue ? `p = ${f.score.toExponential(2)}` : `${f.score.toFixed(4)}`;
    el("text", { x: labelWidth + barWidth + 8, y: y + 14, "font-size": 12 }, `${f.test} ${score} (threshold ${f.threshold}) ${f.drifted ? "DRIFT" : "ok"}`);
  });
  el("line", { x1: labelWidth + barWidth / 2, x2: labelWidth + barWidth / 2, y1: 0, y2: rowHeight * report.features.length + 8, stroke: "#1d2430", "stroke-dasharray": "4 3" });
  const caption = document.createElement("p");
  caption.textContent = `Dataset: ${report.dataset.drifted_features} of ${report.dataset.features} features drifted (share ${report.dataset.share.toFixed(2)}, threshold ${report.share_threshold}) — ${report.dataset.drifted ? "DRIFT" : "no drift"}. The dashed line is each test's threshold.`;
  box.append(svg, caption);
}

async function pinnedRoot(registry, org, token) {
  const url = $("root").value || `${registry}/v1/orgs/${org}/trust/1.root.json`;
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!response.ok) throw Object.assign(new Error(`could not fetch the pinned root from ${url} (HTTP ${response.status})`), { code: "MISSING" });
  return response.text();
}

// The model handle of the last run, kept for the outcomes it may still record.
let session = null;

async function run() {
  session?.handle.free();
  session = null;
  $("outcomes").innerHTML = "";
  delete $("outcomes").dataset.result;
  $("steps").innerHTML = "";
  $("result").innerHTML = "";
  $("drift").innerHTML = "";
  $("error").hidden = true;
  document.body.dataset.state = "running";
  const registry = $("registry").value.replace(/\/$/, "");
  const org = $("org").value;
  const token = $("token").value;
  const model = $("model").value;
  const stage = $("stage").value;
  let current;
  const timings = {};
  try {
    current = step("pin the root");
    const root = await pinnedRoot(registry, org, token);
    current.done($("root").value ? "from the given URL" : "the registry's first root (trust on first use; ship root.json with your page instead)");
    const store = typeof caches === "undefined" ? memoryStore() : cacheStore(`outpost:${registry}`);
    const client = new OutpostClient({ registry, org, token, root, deviceId: $("device").value, store });

    current = step("resolve and check signatures (root, timestamp, snapshot, release, director)");
    const resolution = await client.resolve(model, stage);
    timings.resolve = current.done(`${model}@${stage} → ${resolution.version} (${resolution.arm} arm), release-signed ${resolution.digest.slice(0, 19)}…`);

    current = step("download and check the digest and length");
    const bar = document.createElement("progress");
    bar.max = resolution.length;
    current.li.append(" ", bar);
    const bytes = await client.fetchModel(resolution, (got, total) => {
      bar.value = got;
      bar.max = total;
    });
    timings.download = current.done(`${bytes.length} bytes, sha256 matches the signed digest`);

    current = step("load and optimise (tract)");
    const handle = Model.load(bytes);
    timings.load = current.done(`inputs ${handle.inputs.map((i) => `${i.name} ${i.element_type}[${i.shape.join(", ")}]`).join(", ")}`);

    // The version's reference profile, when it has one: telemetry is
    // binned over its edges, and drift is tested against it.
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const api = `${registry}/v1/orgs/${org}/models/${encodeURIComponent(model)}`;
    const reference = await fetch(`${api}/versions/${resolution.version}/reference`, { headers });
    const profile = reference.ok ? await reference.json() : null;
    if (profile) handle.setReferenceBins(profile.features.map((f) => f.edges ?? []));

    current = step("predict");
    const inputs = JSON.parse($("inputs").value);
    const outputs = handle.predict(inputs);
    timings.predict = current.done(`${Object.keys(outputs).join(", ")}`);
    $("result").append(table(outputs));
    const result = { version: resolution.version, digest: resolution.digest, arm: resolution.arm, outputs, timings };
    $("result").dataset.result = JSON.stringify(result);
    session = { handle, client, resolution, api, headers, outputs, device: $("device").value };
    outcomesPanel(session);

    if (profile) {
      current = step("report telemetry and test drift against the reference");
      const window = handle.report();
      await client.report(resolution, window);
      const response = await fetch(`${api}/drift?version=${resolution.version}&stage=${stage}&window=24h`, { headers });
      if (!response.ok) throw Object.assign(new Error(`the drift report failed (HTTP ${response.status}): ${await response.text()}`), { code: "REGISTRY" });
      const report = await response.json();
      timings.drift = current.done(`${report.dataset.drifted_features} of ${report.dataset.features} features drifted over ${report.calls} calls in the last 24 h`);
      driftChart(report);
    } else {
      $("drift").textContent = `${model}@${resolution.version} has no reference profile: push it with --reference to see drift here.`;
    }
    document.body.dataset.state = "done";
  } catch (err) {
    current?.fail(err);
    showError(err);
    document.body.dataset.state = "failed";
  }
}

$("randomise").addEventListener("click", () => {
  const rows = Array.from({ length: 4 }, () => [
    +(Math.exp(Math.random() * 6 + 1)).toFixed(2),
    +(Math.random() * 24).toFixed(1),
    +(Math.random() * 300).toFixed(1),
    +Math.random().toFixed(2),
  ]);
  $("inputs").value = JSON.stringify({ X: rows });
});
$("run").addEventListener("click", run);

await init();
document.title += ` (client ${clientVersion()})`;
if (params.get("autorun") === "1") run();
