// One model: what runs at each stage (since when, who put it there, how it is
// doing), the actions an operator may take there, its versions with a
// side-by-side comparison, their lineage, and the deployment history.
import { all, api, can, enc, query } from "../api.js";
import { href, navigate } from "../route.js";
import { ago, metric, micros, percent, targets, versionOrder, when } from "../format.js";
import { ActionForm, Loaded, Problem, SortableTable, useLoad } from "../ui.jsx";

export const STAGES = ["development", "staging", "canary", "production", "archived"];
const DAY_MS = 24 * 60 * 60 * 1000;

async function loadModel(name) {
  const path = `/models/${enc(name)}`;
  const [model, versions, stages, history, performance] = await Promise.all([
    api("GET", path),
    all(`${path}/versions`, { sort: "created", order: "desc" }),
    api("GET", `${path}/stages`),
    all(`${path}/history`),
    api("GET", `${path}/performance${query({ since: Date.now() - DAY_MS })}`),
  ]);
  // A canary's guardrails and their last check, where a stage runs one (a
  // canary without guardrails has none: 404).
  const guarded = Object.entries(stages.stages).filter(([, s]) => s.targets.some((t) => t.arm === "canary"));
  const guardrails = Object.fromEntries(await Promise.all(guarded.map(([stage]) =>
    api("GET", `${path}/stages/${stage}/guardrails`).then((g) => [stage, g], (error) => [stage, error.status === 404 ? null : { error }]))));
  const entries = [...history].sort((a, b) => b.at - a.at || b.seq - a.seq);
  entries.truncated = history.truncated;
  // Each deployed stage's monitor, if it has one (404: none).
  const deployed = Object.entries(stages.stages).filter(([, s]) => s.targets.length).map(([stage]) => stage);
  const monitors = Object.fromEntries(await Promise.all(deployed.map((stage) =>
    api("GET", `${path}/stages/${stage}/monitor`).then((m) => [stage, m], (error) => [stage, error.status === 404 ? null : { error }]))));
  return { model, versions, stages: stages.stages, history: entries, performance: performance.rows, guardrails, monitors };
}

export function ModelPage({ name, params }) {
  const state = useLoad(() => loadModel(name), [name]);
  const selected = params.getAll("compare");
  return (
    <section aria-labelledby="model-title">
      <p class="crumbs"><a href="#/models">Models</a> › {name}</p>
      <h1 id="model-title">{name}</h1>
      <Loaded state={state} what={`model ${name}`}>
        {(d) => (
          <>
            <p class="lead">{d.model.description || "No description."} {d.model.tags.map((t) => <span class="tag">{t}</span>)}</p>
            <StageBoard name={name} data={d} reload={state.reload} />
            {can("operator") ? <Promote name={name} versions={d.versions} reload={state.reload} /> : null}
            <Versions name={name} versions={d.versions} selected={selected} params={params} />
            {selected.length >= 2 ? <Comparison name={name} versions={selected} /> : null}
            <Lineage versions={d.versions} name={name} />
            <History entries={d.history} />
          </>
        )}
      </Loaded>
    </section>
  );
}

/** The version everything else at a stage falls back to. */
function stableOf(state) {
  return state?.targets?.find((t) => !t.arm || t.arm === "stable")?.version ?? null;
}

/**
 * The history entries behind what a stage runs: the one that put its stable
 * version there (promote or rollback), and the newest one (a rollout change,
 * say) when that is another.
 */
function moves(history, stage, state) {
  const ofStage = history.filter((e) => e.stage === stage);
  const stable = stableOf(state);
  const since = ofStage.find((e) => stableOf(e.to) === stable && stableOf(e.from) !== stable);
  const last = ofStage[0];
  return { since, last: last && last !== since ? last : null };
}

function MoveLine({ move, label, testId }) {
  return (
    <p class="since" data-testid={testId}>
      {label} <time datetime={new Date(move.at).toISOString()}>{when(move.at)}</time> ({ago(move.at)}),
      {" "}{move.kind} by <strong>{move.actor}</strong>{move.reason ? <>: “{move.reason}”</> : null}
      {move.forced?.length ? <> (forced: {move.forced.join(", ")})</> : null}
    </p>
  );
}

function StageBoard({ name, data, reload }) {
  const stages = STAGES.filter((s) => data.stages[s]?.targets?.length);
  return (
    <section aria-labelledby="stages-title">
      <h2 id="stages-title">Stages</h2>
      {stages.length === 0 ? <p class="empty">Nothing is deployed yet.</p> : null}
      <div class="board">
        {stages.map((stage) => {
          const s = data.stages[stage];
          const { since, last } = moves(data.history, stage, s);
          const rows = data.performance.filter((r) => r.stage === stage);
          const guard = data.guardrails[stage];
          return (
            <article key={stage} class="stage" data-stage={stage} aria-labelledby={`stage-${stage}`}>
              <h3 id={`stage-${stage}`}>{stage}</h3>
              <p class="runs" data-testid={`runs-${stage}`}>{targets(s)}</p>
              {s.shadow ? <p>Shadow: {s.shadow}</p> : null}
              {since ? <MoveLine move={since} label={`${stableOf(s)} since`} testId={`since-${stage}`} /> : (
                <p class="since hint" data-testid={`since-${stage}`}>Since before the history shown{data.history.truncated ? " (older entries not loaded)" : ""}.</p>
              )}
              {last ? <MoveLine move={last} label="Last change" testId={`last-${stage}`} /> : null}
              <Health rows={rows} stage={stage} />
              {guard ? <Guard guard={guard} /> : null}
              <MonitorLine monitor={data.monitors[stage]} />
              {can("operator") ? <StageActions key={stage} name={name} stage={stage} state={s} versions={data.versions} guard={guard} reload={reload} /> : null}
            </article>
          );
        })}
      </div>
    </section>
  );
}

function Health({ rows, stage }) {
  if (!rows.length) return <p class="health empty">No calls in the last 24 h.</p>;
  return (
    <div class="table-wrap"><table class="health" aria-label={`${stage}: last 24 hours`}>
      <thead><tr><th scope="col">Version</th><th scope="col">Source</th><th scope="col">Calls</th><th scope="col">Errors</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">p99</th></tr></thead>
      <tbody>
        {rows.map((r) => (
          <tr><td>{r.version}</td><td>{r.source}</td><td>{r.calls}</td><td>{percent(r.error_rate)}</td><td>{micros(r.p50_us)}</td><td>{micros(r.p95_us)}</td><td>{micros(r.p99_us)}</td></tr>
        ))}
      </tbody>
    </table></div>
  );
}

/** Guardrail thresholds as a line: `error rate ≤ 0.05, p95 ≤ 200 ms, at least 20 calls`. */
function thresholds(g) {
  if (!g) return "none";
  return [
    g.max_error_rate !== null && g.max_error_rate !== undefined ? `error rate ≤ ${g.max_error_rate}` : null,
    g.max_p95_ms !== null && g.max_p95_ms !== undefined ? `p95 ≤ ${g.max_p95_ms} ms` : null,
    g.max_drift_share !== null && g.max_drift_share !== undefined ? `drift share ≤ ${g.max_drift_share}` : null,
    g.min_f1 !== null && g.min_f1 !== undefined ? `F1 ≥ ${g.min_f1} after ${g.min_outcomes ?? 50} outcomes` : null,
    g.min_precision !== null && g.min_precision !== undefined ? `precision ≥ ${g.min_precision} after ${g.min_outcomes ?? 50} outcomes` : null,
    g.min_recall !== null && g.min_recall !== undefined ? `recall ≥ ${g.min_recall} after ${g.min_outcomes ?? 50} outcomes` : null,
    g.compare_with_stable ? `no worse than stable (α = ${g.compare_with_stable})` : null,
    `judged after ${g.min_calls ?? 20} calls`,
  ].filter(Boolean).join(", ");
}

function Guard({ guard }) {
  if (guard.error) return <Problem error={guard.error} what="Guardrails" />;
  const v = guard.verdict;
  const verdict = !v ? "not checked yet" : v.verdict === "healthy" ? "healthy"
    : v.verdict === "not_enough_data" ? `not enough data (${v.calls} of ${v.needed} calls)`
    : `tripped: ${v.breaches.map((b) => `${b.metric} ${metric(b.measured)} > ${metric(b.threshold)}`).join("; ")}`;
  return (
    <p class="guard" data-verdict={v?.verdict ?? "none"}>
      Guardrails for {guard.canary} ({thresholds(guard.guardrails)}): {verdict}{guard.checked_at ? ` (checked ${ago(guard.checked_at)})` : ""}
    </p>
  );
}

const EVENTS = { drift: "drift", quality: "quality degraded", confidence: "low confidence", service: "errors or latency", retraining: "retraining recommended" };

/** A stage's monitor: its open episodes per version and when it last looked. */
function MonitorLine({ monitor }) {
  if (monitor === undefined || monitor === null) return <p class="hint" data-testid="monitor">No monitor (<code>outpost monitor set</code>).</p>;
  if (monitor.error) return <Problem error={monitor.error} what="Monitor" />;
  const open = Object.entries(monitor.episodes).filter(([, kinds]) => kinds.length);
  return (
    <p class={`monitor ${open.length ? "alerting" : ""}`} data-testid="monitor">
      Monitor{monitor.checked_at ? `, checked ${ago(monitor.checked_at)}` : ", not checked yet"}:{" "}
      {open.length ? open.map(([version, kinds]) => `${version}: ${kinds.map((k) => EVENTS[k] ?? k).join(", ")}`).join("; ") : "no signal"}
      {monitor.last?.some((c) => c.evaluation.waiting.length) ? ` (waiting: ${monitor.last.flatMap((c) => c.evaluation.waiting).join("; ")})` : ""}
    </p>
  );
}

function StageActions({ name, stage, state, versions, guard, reload }) {
  const path = `/models/${enc(name)}/stages/${stage}`;
  const stable = stableOf(state);
  const canary = state.targets.find((t) => t.arm === "canary");
  const ready = versions.filter((v) => v.status === "ready" && v.version !== stable).map((v) => v.version);
  // A rollout request replaces the whole rollout: what the stage has besides
  // the canary (variants, shadow, guardrails) is sent again unchanged.
  const setCanary = async ({ version, percent: share, max_error_rate, reason }) => {
    const { rollout } = await api("GET", `${path}/rollout`);
    const kept = guard && !guard.error ? guard.guardrails : null;
    const guardrails = max_error_rate ? { ...(kept ?? {}), max_error_rate: Number(max_error_rate) } : kept;
    return api("PUT", `${path}/rollout`, {
      stable: rollout?.stable ?? stable,
      variants: rollout?.variants ?? [],
      shadow: rollout?.shadow ?? null,
      canary: { version, weight: Math.round(Number(share) * 100) },
      guardrails,
      reason,
    });
  };
  return (
    <details class="actions">
      <summary>Act on {stage}</summary>
      <ActionForm title={`Roll back ${stage}`} testId={`rollback-${stage}`}
        fields={[{ name: "version", label: "To version (empty: the previous state)" }]}
        submit={({ version, reason }) => api("POST", `${path}/rollback`, { version: version || null, reason })}
        onDone={reload} />
      {ready.length ? <ActionForm title={canary ? `Change the canary at ${stage}` : `Start a canary at ${stage}`} testId={`canary-${stage}`}
        fields={[
          { name: "version", label: "Canary version", options: ready, initial: canary?.version },
          { name: "percent", label: "Traffic (%)", type: "number", initial: "10", min: "0.01", max: "100", step: "0.01" },
          { name: "max_error_rate", label: "Roll back above this error rate (0–1, optional; other guardrails are kept)" },
        ]}
        submit={setCanary}
        onDone={reload} /> : <p class="hint">No other ready version to run as a canary.</p>}
      {canary || state.shadow || state.targets.length > 1 ? (
        <ActionForm title={`Clear the rollout at ${stage}`} testId={`clear-${stage}`} fields={[]}
          submit={({ reason }) => api("DELETE", `${path}/rollout${query({ reason })}`)}
          onDone={reload} />
      ) : null}
    </details>
  );
}

function Promote({ name, versions, reload }) {
  const ready = versions.filter((v) => v.status === "ready").map((v) => v.version);
  return (
    <section aria-labelledby="promote-title" class="promote">
      <h2 id="promote-title">Promote</h2>
      {ready.length === 0 ? <p class="hint">No version is ready to promote (unsafe versions never are).</p> : <ActionForm title="Promote" testId="promote"
        fields={[
          { name: "version", label: "Version", options: ready, initial: ready[0] },
          { name: "stage", label: "To stage", options: STAGES, initial: "staging" },
        ]}
        submit={({ version, stage, reason }) => api("POST", `/models/${enc(name)}/stages/${stage}/promote`, { version, reason })}
        onDone={reload} />}
    </section>
  );
}

function Versions({ name, versions, selected, params }) {
  const metrics = [...new Set(versions.flatMap((v) => Object.keys(v.metrics)))].sort();
  const toggle = (version) => {
    const next = selected.includes(version) ? selected.filter((v) => v !== version) : [...selected, version];
    navigate(["models", name], { ...Object.fromEntries(params), compare: next }, { replace: true });
  };
  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      <p class="hint">Select two or more to compare them side by side.</p>
      <SortableTable
        urlKey="sort"
        testId="versions"
        rowKey={(v) => v.version}
        rows={versions}
        initial={{ key: "created_at", desc: true }}
        columns={[
          { key: "select", label: "Compare", sortable: false, render: (v) => (
            <input type="checkbox" aria-label={`compare ${v.version}`} checked={selected.includes(v.version)} onChange={() => toggle(v.version)} />
          ) },
          { key: "version", label: "Version", compare: (a, b) => versionOrder(a.version, b.version),
            render: (v) => <a href={href(["models", name, "versions", v.version])}>{v.version}</a> },
          ...metrics.map((m) => ({ key: `metric:${m}`, label: m, value: (v) => v.metrics[m] ?? null, render: (v) => metric(v.metrics[m]) })),
          { key: "format", label: "Format" },
          { key: "status", label: "Status", render: (v) => <span class={`status ${v.status}`}>{v.status}</span> },
          { key: "tags", label: "Tags", value: (v) => v.tags.join(","), render: (v) => v.tags.map((t) => <span class="tag">{t}</span>) },
          { key: "author", label: "Author" },
          { key: "created_at", label: "Registered", render: (v) => when(v.created_at) },
        ]}
      />
    </section>
  );
}

function Comparison({ name, versions }) {
  const state = useLoad(() => api("GET", `/compare${query({ v: versions.map((v) => `${name}@${v}`) })}`), [name, versions.join()]);
  return (
    <section aria-labelledby="compare-title">
      <h2 id="compare-title">Comparison</h2>
      <Loaded state={state} what="the comparison">
        {(c) => (
          <div class="table-wrap">
            <table data-testid="comparison" aria-label="Comparison">
              <thead>
                <tr><th scope="col">Metric</th>{c.versions.map((v) => <th scope="col">{v.version}</th>)}</tr>
              </thead>
              <tbody>
                {c.metrics.map((m) => (
                  <tr>
                    <th scope="row">{m}</th>
                    {c.versions.map((v) => {
                      // Every version that reaches the best value is marked (ties).
                      const winner = c.versions.find((w) => `${w.model}@${w.version}` === c.best[m]);
                      const best = winner !== undefined && v.metrics[m] != null && v.metrics[m] === winner.metrics[m];
                      return <td class={best ? "best" : ""} data-best={best ? "1" : undefined}>{metric(v.metrics[m])}{best ? <span class="best-mark"><span aria-hidden="true"> ★</span><span class="visually-hidden"> (best)</span></span> : null}</td>;
                    })}
                  </tr>
                ))}
                <tr><th scope="row">format</th>{c.versions.map((v) => <td>{v.format}</td>)}</tr>
                <tr><th scope="row">registered</th>{c.versions.map((v) => <td>{when(v.created_at)}</td>)}</tr>
              </tbody>
            </table>
            <p class="hint">★ marks the best value of each metric (every version that reaches it).</p>
          </div>
        )}
      </Loaded>
    </section>
  );
}

/** Versions as a small graph: one node per version in registration order, an edge from each parent. */
function Lineage({ versions, name }) {
  const ordered = [...versions].sort((a, b) => a.created_at - b.created_at);
  const index = new Map(ordered.map((v, i) => [v.version, i]));
  const depth = new Map();
  const depthOf = (v, seen = new Set()) => {
    if (depth.has(v.version)) return depth.get(v.version);
    const parent = v.parent_version && versions.find((p) => p.version === v.parent_version);
    const d = parent && !seen.has(parent.version) ? depthOf(parent, new Set([...seen, v.version])) + 1 : 0;
    depth.set(v.version, d);
    return d;
  };
  ordered.forEach((v) => depthOf(v));
  const step = 110;
  const lane = 46;
  const width = Math.max(1, ordered.length) * step;
  const height = (Math.max(0, ...depth.values()) + 1) * lane + 10;
  const x = (v) => index.get(v) * step + 50;
  const y = (v) => depth.get(v) * lane + 24;
  const edges = ordered.filter((v) => v.parent_version && index.has(v.parent_version));
  return (
    <section aria-labelledby="lineage-title">
      <h2 id="lineage-title">Lineage</h2>
      {edges.length === 0 ? <p class="hint">No version names a parent.</p> : null}
      <div class="lineage-wrap">
        <svg width={width} height={height} role="group" aria-label="Version lineage" data-testid="lineage">
          {edges.map((v) => <line x1={x(v.parent_version)} y1={y(v.parent_version)} x2={x(v.version)} y2={y(v.version)} class="edge" />)}
          {ordered.map((v) => (
            <a href={href(["models", name, "versions", v.version])}
               aria-label={`version ${v.version}${v.parent_version ? `, from ${v.parent_version}` : ""}${v.status === "unsafe" ? ", unsafe" : ""}`}>
              <circle cx={x(v.version)} cy={y(v.version)} r="7" class={`node ${v.status}`} />
              <text x={x(v.version)} y={y(v.version) + 20} text-anchor="middle">{v.version}{v.status === "unsafe" ? " (unsafe)" : ""}</text>
            </a>
          ))}
        </svg>
      </div>
    </section>
  );
}

function History({ entries }) {
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">Deployment history</h2>
      {entries.length === 0 ? <p class="empty">No deployments yet.</p> : null}
      {entries.truncated ? <p class="hint">Showing the newest {entries.length} entries.</p> : null}
      <ol class="timeline" data-testid="history">
        {entries.map((e) => (
          <li data-kind={e.kind} data-stage={e.stage}>
            <time datetime={new Date(e.at).toISOString()}>{when(e.at)}</time>
            <span class="what"><strong>{e.kind}</strong> at <strong>{e.stage}</strong>: {targets(e.from)} → {targets(e.to)}</span>
            <span class="who">by {e.actor}{e.reason ? <> — “{e.reason}”</> : null}{e.forced?.length ? <> (forced: {e.forced.join(", ")})</> : null}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
