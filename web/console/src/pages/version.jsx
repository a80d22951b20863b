// One version: what was registered (metadata, inspection, safety), whether a
// release signs it, its reference profile, its drift against recent telemetry
// and its performance.
import { api, enc, query } from "../api.js";
import { href, navigate } from "../route.js";
import { bytes, metric, micros, percent, when } from "../format.js";
import { barOptions, Chart, Loaded, Problem, useLoad } from "../ui.jsx";

const WINDOWS = ["1h", "24h", "7d", "30d"];
const WINDOW_MS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };

/** Whether the organisation's newest signed release metadata names this version. */
async function releaseOf(model, version) {
  try {
    const targets = await api("GET", "/trust/targets.json");
    const entry = targets.signed?.targets?.[`${model}/${version}`];
    return { released: !!entry, release: targets.signed?.version, expires: targets.signed?.expires, entry };
  } catch (error) {
    if (error.status === 404) return { released: false, none: true };
    throw error;
  }
}

async function loadVersion(model, version) {
  const path = `/models/${enc(model)}`;
  const [record, release, reference] = await Promise.all([
    api("GET", `${path}/versions/${enc(version)}`),
    releaseOf(model, version),
    api("GET", `${path}/versions/${enc(version)}/reference`).catch((error) => (error.status === 404 ? null : Promise.reject(error))),
  ]);
  return { record, release, reference };
}

export function VersionPage({ model, version, params }) {
  const window = WINDOWS.includes(params.get("window")) ? params.get("window") : "24h";
  const state = useLoad(() => loadVersion(model, version), [model, version]);
  return (
    <section aria-labelledby="version-title">
      <p class="crumbs"><a href="#/models">Models</a> › <a href={href(["models", model])}>{model}</a> › {version}</p>
      <h1 id="version-title">{model}@{version}</h1>
      <Loaded state={state} what={`version ${version}`}>
        {(d) => (
          <>
            <Metadata record={d.record} release={d.release} />
            <Inspection record={d.record} />
            <Reference reference={d.reference} />
            <Monitoring model={model} version={version} window={window} drift={!!d.reference} />
          </>
        )}
      </Loaded>
    </section>
  );
}

/** Drift (which needs a reference profile) and performance, over the window in the URL. */
function Monitoring({ model, version, window, drift }) {
  return (
    <>
      <nav class="windows" aria-label="Window">
        Window:{" "}
        {WINDOWS.map((w) => (
          <button type="button" aria-pressed={w === window} onClick={() => navigate(["models", model, "versions", version], { window: w }, { replace: true })}>{w}</button>
        ))}
      </nav>
      {drift ? <Drift model={model} version={version} window={window} /> : null}
      <Quality model={model} version={version} window={window} />
      <Performance model={model} version={version} window={window} />
      <PerformanceOverTime model={model} version={version} window={window} />
    </>
  );
}

function Metadata({ record, release }) {
  const rows = [
    ["Status", <span class={`status ${record.status}`} data-testid="status">{record.status}{record.status_reason ? ` — ${record.status_reason}` : ""}</span>],
    ["Release", release.released
      ? <span data-testid="release">signed in release metadata v{release.release} (expires {when(Date.parse(release.expires))})</span>
      : <span data-testid="release">{release.none ? "no release metadata yet" : "not in the signed release"}</span>],
    ["Digest", <code>{record.digest}</code>],
    ["Size", bytes(record.size)],
    ["Format", record.format],
    ["Framework", record.framework ?? "—"],
    ["Registered", `${when(record.created_at)} by ${record.author}`],
    ["Parent", record.parent_version ?? "—"],
    ["Dataset", record.dataset_version ?? "—"],
    ["Tags", record.tags.map((t) => <span class="tag">{t}</span>)],
    ["Notes", record.notes || "—"],
  ];
  return (
    <section aria-labelledby="meta-title">
      <h2 id="meta-title">Metadata</h2>
      <dl class="facts">{rows.map(([k, v]) => <><dt>{k}</dt><dd>{v}</dd></>)}</dl>
      <h3>Metrics</h3>
      <dl class="facts">{Object.entries(record.metrics).map(([k, v]) => <><dt>{k}</dt><dd>{metric(v)}</dd></>)}</dl>
      {Object.keys(record.params).length ? (
        <>
          <h3>Parameters</h3>
          <dl class="facts">{Object.entries(record.params).map(([k, v]) => <><dt>{k}</dt><dd><code>{JSON.stringify(v)}</code></dd></>)}</dl>
        </>
      ) : null}
    </section>
  );
}

/** What registration found in the artifact: ONNX inputs/outputs, tensors, or a pickle scan. */
function Inspection({ record }) {
  const schema = record.schema;
  return (
    <section aria-labelledby="inspect-title">
      <h2 id="inspect-title">Inspection</h2>
      {schema === null || schema === undefined ? <p class="empty">Nothing was inspected ({record.format}).</p> : (
        <>
          {["inputs", "outputs"].map((side) => Array.isArray(schema[side]) ? (
            <table class="schema" aria-label={side}>
              <caption>{side}</caption>
              <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Shape</th></tr></thead>
              <tbody>{schema[side].map((t) => <tr><td>{t.name}</td><td>{t.dtype ?? t.type ?? "—"}</td><td>{JSON.stringify(t.shape ?? t.dims ?? null)}</td></tr>)}</tbody>
            </table>
          ) : null)}
          {Array.isArray(schema.operators) ? <p>Operators: {schema.operators.join(", ")}</p> : null}
          {Array.isArray(schema.tensors) ? (
            <table class="schema" aria-label="tensors">
              <caption>tensors</caption>
              <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Shape</th></tr></thead>
              <tbody>{schema.tensors.map((t) => <tr><td>{t.name}</td><td>{t.dtype ?? "—"}</td><td>{JSON.stringify(t.shape ?? null)}</td></tr>)}</tbody>
            </table>
          ) : null}
          {Array.isArray(schema.globals) ? <PickleScan scan={schema} /> : null}
          <details><summary>Everything inspection recorded</summary><pre>{JSON.stringify(schema, null, 2)}</pre></details>
        </>
      )}
    </section>
  );
}

/** The safety scan of a pickle (or of the pickles in an archive): what a loader would import. */
function PickleScan({ scan }) {
  const bad = new Set(scan.unsafe_globals);
  return (
    <div class="scan" data-testid="pickle-scan">
      <h3>Safety scan</h3>
      <p>
        {scan.pickles} pickle{scan.pickles === 1 ? "" : "s"}{scan.protocol !== null && scan.protocol !== undefined ? `, protocol ${scan.protocol}` : ""}
        {scan.members?.length ? `, in archive members ${scan.members.join(", ")}` : ""}.{" "}
        {bad.size ? <strong class="status unsafe">{bad.size} import{bad.size === 1 ? "" : "s"} outside the allow-list.</strong> : "Every import is on the allow-list."}
        {scan.unparsed ? <strong class="status unsafe"> Could not be followed: {scan.unparsed}.</strong> : null}
      </p>
      {scan.globals.length ? (
        <ul class="globals">
          {scan.globals.map((g) => <li class={bad.has(g) ? "status unsafe" : ""}><code>{g}</code>{bad.has(g) ? " — not allowed" : ""}</li>)}
        </ul>
      ) : <p class="empty">It imports nothing.</p>}
    </div>
  );
}

function Reference({ reference }) {
  return (
    <section aria-labelledby="reference-title">
      <h2 id="reference-title">Reference profile</h2>
      {!reference ? <p class="empty">No reference profile: drift cannot be measured for this version.</p> : (
        <>
          <p>{reference.rows} rows.</p>
          <div class="charts">
            {reference.features.map((f) => f.kind === "numerical" ? (
              <div>
                <h3>{f.name}</h3>
                <SampleHistogram feature={f} />
              </div>
            ) : (
              <div>
                <h3>{f.name}</h3>
                <Chart label={`Reference categories of ${f.name}`}
                  opts={barOptions({ names: [...Object.keys(f.categories), "other"], series: [{ label: "rows", color: "#2f6fb2" }], yLabel: "rows" })}
                  data={[[...Object.keys(f.categories), "other"].map((_, i) => i), [...Object.values(f.categories), f.other]]} />
                <ChartData caption={`Reference categories of ${f.name}`} head={["Category", "Rows"]}
                  rows={[...Object.entries(f.categories), ["other", f.other]]} />
              </div>
            ))}
          </div>
        </>
      )}
    </section>
  );
}

const BINS = 12;

/** A chart's numbers as a table, folded away: what the canvas shows, in text. */
function ChartData({ caption, head, rows }) {
  return (
    <details class="chart-data">
      <summary>Data</summary>
      <table>
        <caption>{caption}</caption>
        <thead><tr>{head.map((h) => <th scope="col">{h}</th>)}</tr></thead>
        <tbody>{rows.map(([k, n]) => <tr><th scope="row">{k}</th><td>{n}</td></tr>)}</tbody>
      </table>
    </details>
  );
}

/**
 * A numerical feature's shape: its profile's bins are deciles (equal counts
 * by construction, so their bars say nothing), so the chart bins the sample
 * the profile keeps into equal-width bins between its smallest and largest
 * value.
 */
function SampleHistogram({ feature }) {
  const values = feature.sample.filter(Number.isFinite);
  if (!values.length) return <p class="empty">No sample kept.</p>;
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const width = (hi - lo) / BINS || 1;
  const counts = new Array(BINS).fill(0);
  for (const v of values) counts[Math.min(BINS - 1, Math.floor((v - lo) / width))] += 1;
  const short = (x) => Number(x.toPrecision(3)).toString();
  const names = counts.map((_, i) => short(lo + i * width));
  return (
    <>
      <Chart label={`Reference histogram of ${feature.name}`}
        opts={barOptions({ names, series: [{ label: "values", color: "#2f6fb2" }], yLabel: "values" })}
        data={[counts.map((_, i) => i), counts]} />
      <ChartData caption={`Reference histogram of ${feature.name}`} head={["From", "Values"]}
        rows={counts.map((n, i) => [names[i], n])} />
      <p class="hint">{values.length} sampled values, {short(lo)} to {short(hi)}; median {short(feature.median)}.</p>
    </>
  );
}

function Drift({ model, version, window }) {
  const state = useLoad(() => api("GET", `/models/${enc(model)}/drift${query({ version, window })}`), [model, version, window]);
  return (
    <section aria-labelledby="drift-title" data-testid="drift">
      <h2 id="drift-title">Drift over the last {window}</h2>
      <Loaded state={state} what="the drift report">
        {(r) => {
          const tested = r.features.filter((f) => typeof f.score === "number");
          return (
            <>
              <p data-testid="drift-verdict" data-drifted={r.dataset.drifted ? "1" : "0"}>
                {r.dataset.drifted_features} of {r.dataset.features} features drifted (share {metric(r.dataset.share)};
                dataset drift above {metric(r.share_threshold)}): <strong>{r.dataset.drifted ? "drifted" : "no dataset drift"}</strong>.
                {" "}{r.calls} calls, {r.rows} rows in {r.windows} telemetry windows.
              </p>
              {tested.length ? (
                <Chart label="Drift score per feature against its threshold"
                  opts={barOptions({ names: tested.map((f) => f.name), series: [{ label: "score (p-value or distance)", color: "#8e44ad" }], yLabel: "score", threshold: true })}
                  data={[tested.map((_, i) => i), tested.map((f) => f.score), tested.map((f) => f.threshold)]} />
              ) : null}
              <div class="table-wrap"><table aria-label="Drift per feature">
                <thead><tr><th scope="col">Feature</th><th scope="col">Test</th><th scope="col">Score</th><th scope="col">Threshold</th><th scope="col">Drifted</th><th scope="col">Values (reference / current)</th></tr></thead>
                <tbody>
                  {r.features.map((f) => (
                    <tr data-drifted={f.drifted ? "1" : "0"}>
                      <td>{f.name}</td><td>{f.test ?? "—"}</td><td>{metric(f.score)}</td><td>{metric(f.threshold)}</td>
                      <td>{f.error ? f.error : f.drifted ? "yes" : "no"}</td><td>{f.reference_values} / {f.current_values}</td>
                    </tr>
                  ))}
                </tbody>
              </table></div>
            </>
          );
        }}
      </Loaded>
    </section>
  );
}

/** Performance of this version, at every stage and source, over each window ending now. */
function Performance({ model, version, window }) {
  const state = useLoad(async () => {
    const now = Date.now();
    const reports = await Promise.all(WINDOWS.map((w) =>
      api("GET", `/models/${enc(model)}/performance${query({ since: now - WINDOW_MS[w] })}`).then((r) => [w, r.rows.filter((x) => x.version === version)])));
    return reports;
  }, [model, version]);
  return (
    <section aria-labelledby="perf-title">
      <h2 id="perf-title">Performance</h2>
      <Loaded state={state} what="performance">
        {(reports) => {
          const current = reports.find(([w]) => w === window)?.[1] ?? [];
          return (
            <>
              <div class="table-wrap"><table aria-label="Performance by window">
                <thead><tr><th scope="col">Window</th><th scope="col">Stage</th><th scope="col">Source</th><th scope="col">Calls</th><th scope="col">Error rate</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">p99</th></tr></thead>
                <tbody>
                  {reports.flatMap(([w, rows]) => rows.map((r) => (
                    <tr class={w === window ? "current" : ""}>
                      <td>{w}</td><td>{r.stage}</td><td>{r.source}</td><td>{r.calls}</td><td>{percent(r.error_rate)}</td><td>{micros(r.p50_us)}</td><td>{micros(r.p95_us)}</td><td>{micros(r.p99_us)}</td>
                    </tr>
                  )))}
                </tbody>
              </table></div>
              {current.length ? (
                <Chart label={`Latency quantiles over the last ${window}`}
                  opts={barOptions({ names: current.map((r) => `${r.stage}/${r.source}`), series: [
                    { label: "p99 (ms)", color: "#c0392b" }, { label: "p95 (ms)", color: "#a65200" }, { label: "p50 (ms)", color: "#1e7a3c" }], yLabel: "ms" })}
                  data={[current.map((_, i) => i), ...["p99_us", "p95_us", "p50_us"].map((k) => current.map((r) => (r[k] ?? null) && r[k] / 1000))]} />
              ) : <p class="empty">No calls over the last {window}.</p>}
            </>
          );
        }}
      </Loaded>
    </section>
  );
}


/** Bucket width of the performance series per window: 12 to 30 points each. */
const STEP = { "1h": "5m", "24h": "1h", "7d": "6h", "30d": "1d" };
// At least 3:1 against a light background (WCAG 1.4.11).
const SERIES_COLORS = ["#a65200", "#2f6fb2", "#8e44ad", "#1e7a3c", "#c0392b", "#5b6672"];

/**
 * This version's calls and p95 latency over the window, one line per stage
 * and source, from the registry's series (`?step=`): each bucket's quantile is
 * that of its merged latency histogram, never an average of averages.
 */
function PerformanceOverTime({ model, version, window }) {
  const state = useLoad(() => {
    const since = Date.now() - WINDOW_MS[window];
    return api("GET", `/models/${enc(model)}/performance${query({ since, step: STEP[window] })}`)
      .then((r) => ({ step: STEP[window], points: r.series.filter((p) => p.version === version) }));
  }, [model, version, window]);
  return (
    <section aria-labelledby="perf-time-title" data-testid="performance-series">
      <h2 id="perf-time-title">Performance over the last {window}, per {STEP[window]}</h2>
      <Loaded state={state} what="the performance series">
        {({ step, points }) => {
          if (!points.length) return <p class="empty">No calls over the last {window}.</p>;
          const keys = [...new Set(points.map((p) => `${p.stage}/${p.source}`))].sort();
          const starts = [...new Set(points.map((p) => p.start_ms))].sort((a, b) => a - b);
          const at = new Map(points.map((p) => [`${p.start_ms} ${p.stage}/${p.source}`, p]));
          const column = (key, pick) => starts.map((t) => {
            const p = at.get(`${t} ${key}`);
            return p ? pick(p) : null;
          });
          const calls = points.reduce((sum, p) => sum + p.calls, 0);
          const color = (i) => SERIES_COLORS[i % SERIES_COLORS.length];
          const lines = (yLabel) => ({
            height: 200,
            scales: { x: { time: true } },
            axes: [{}, { label: yLabel }],
            series: [{}, ...keys.map((k, i) => ({ label: k, stroke: color(i), width: 2, spanGaps: false }))],
            legend: { show: true },
          });
          const xs = starts.map((t) => t / 1000);
          return (
            <>
              <p data-testid="performance-series-summary" data-calls={calls} data-buckets={starts.length}>
                {calls} calls in {starts.length} buckets of {step} with calls (times in your time zone).
              </p>
              <div class="charts">
                <div>
                  <h3>p95 latency</h3>
                  <Chart label={`p95 latency per ${step} over the last ${window}, per stage and source`}
                    opts={lines("ms")} data={[xs, ...keys.map((k) => column(k, (p) => (p.p95_us ?? null) && p.p95_us / 1000))]} />
                </div>
                <div>
                  <h3>Calls</h3>
                  <Chart label={`Calls per ${step} over the last ${window}, per stage and source`}
                    opts={lines("calls")} data={[xs, ...keys.map((k) => column(k, (p) => p.calls))]} />
                </div>
              </div>
              <div class="table-wrap"><table aria-label="Performance per bucket">
                <thead><tr><th scope="col">From</th><th scope="col">Stage</th><th scope="col">Source</th><th scope="col">Calls</th><th scope="col">Error rate</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">p99</th></tr></thead>
                <tbody>
                  {points.slice().reverse().map((p) => (
                    <tr>
                      <td>{when(p.start_ms)}</td><td>{p.stage}</td><td>{p.source}</td><td>{p.calls}</td><td>{percent(p.error_rate)}</td><td>{micros(p.p50_us)}</td><td>{micros(p.p95_us)}</td><td>{micros(p.p99_us)}</td>
                    </tr>
                  ))}
                </tbody>
              </table></div>
            </>
          );
        }}
      </Loaded>
    </section>
  );
}

/** Quality from outcomes (feedback on Worker predictions, device windows) over the window. */
function Quality({ model, version, window }) {
  const state = useLoad(() => api("GET", `/models/${enc(model)}/quality${query({ version, window })}`), [model, version, window]);
  return (
    <section aria-labelledby="quality-title" data-testid="quality">
      <h2 id="quality-title">Quality over the last {window}</h2>
      <Loaded state={state} what="quality">
        {(v) => {
          const q = v.quality;
          if (q.outcomes === 0) {
            return <p class="empty" data-testid="quality-summary">No outcomes yet: give them for predictions with <code>outpost feedback {model} --prediction ID --label LABEL</code>, or report device windows.</p>;
          }
          return (
            <>
              <p data-testid="quality-summary">
                {q.outcomes} outcomes ({v.feedback} for Worker predictions, {v.reported_windows} device windows):
                accuracy <strong>{metric(q.accuracy)}</strong>
                {q.positive_class ? <>, positive class {q.positive_class} predicted for {percent(q.positive_rate)}</> : null}
                {q.calibration_error !== null && q.calibration_error !== undefined ? <>, calibration error {metric(q.calibration_error)}</> : null}.
              </p>
              <div class="table-wrap"><table aria-label="Quality per class">
                <thead><tr><th scope="col">Class</th><th scope="col">Support</th><th scope="col">Predicted</th><th scope="col">Precision</th><th scope="col">Recall</th><th scope="col">F1</th><th scope="col">ROC AUC (± bound)</th></tr></thead>
                <tbody>
                  {q.classes.map((c) => (
                    <tr><td>{c.class}</td><td>{c.support}</td><td>{c.predicted}</td><td>{metric(c.precision)}</td><td>{metric(c.recall)}</td><td>{metric(c.f1)}</td>
                      <td>{c.roc_auc === null || c.roc_auc === undefined ? "—" : `${metric(c.roc_auc)} ± ${metric(c.roc_auc_error)}`}</td></tr>
                  ))}
                  {q.macro_avg ? <tr><th scope="row">macro</th><td /><td /><td>{metric(q.macro_avg.precision)}</td><td>{metric(q.macro_avg.recall)}</td><td>{metric(q.macro_avg.f1)}</td><td>{metric(q.macro_avg.roc_auc)}</td></tr> : null}
                </tbody>
              </table></div>
              {q.confidence ? (
                <p>Confidence: mean top score {metric(q.confidence.mean_top_score)}; {percent(q.confidence.low_rate)} below {q.confidence.low_threshold}; mean entropy {metric(q.confidence.mean_entropy)} nats.</p>
              ) : null}
              {v.registered.length ? (
                <div class="table-wrap"><table aria-label="Against registration" data-testid="registered">
                  <thead><tr><th scope="col">Metric</th><th scope="col">Registered</th><th scope="col">Measured</th><th scope="col">Change</th></tr></thead>
                  <tbody>{v.registered.map((r) => <tr class={r.change < 0 ? "worse" : ""}><td>{r.metric}</td><td>{metric(r.registered)}</td><td>{metric(r.measured)}</td><td>{r.change >= 0 ? "+" : ""}{metric(r.change)}</td></tr>)}</tbody>
                </table></div>
              ) : null}
            </>
          );
        }}
      </Loaded>
    </section>
  );
}
