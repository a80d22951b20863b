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

async function pinnedRoot(registry, org, token) {
  const url = $("root").value || `${registry}/v1/orgs/${org}/trust/1.root.json`;
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!response.ok) throw Object.assign(new Error(`could not fetch the pinned root from ${url} (HTTP ${response.status})`), { code: "MISSING" });
  return response.text();
}

async function run() {
  $("steps").innerHTML = "";
  $("result").innerHTML = "";
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

    current = step("predict");
    const inputs = JSON.parse($("inputs").value);
    const outputs = handle.predict(inputs);
    timings.predict = current.done(`${Object.keys(outputs).join(", ")}`);
    $("result").append(table(outputs));
    const result = { version: resolution.version, digest: resolution.digest, arm: resolution.arm, outputs, timings };
    $("result").dataset.result = JSON.stringify(result);
    document.body.dataset.state = "done";
    handle.free();
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
