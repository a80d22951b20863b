// Models: every model of the organisation with what runs where, filtered by
// text, tag, metric thresholds, format and stage. Version-level filters are
// answered by the registry's search (GET …/versions); the filters live in the
// URL.
import { useState } from "preact/hooks";
import { all, api, enc } from "../api.js";
import { href, navigate } from "../route.js";
import { ago, targets } from "../format.js";
import { Loaded, SortableTable, useLoad } from "../ui.jsx";

const STAGES = ["development", "staging", "canary", "production"];
const FORMATS = ["", "onnx", "safetensors", "pickle", "opaque"];

async function loadModels(filters) {
  const models = await all("/models");
  // A model whose stages could not be read says so (never "nothing deployed").
  const stages = await Promise.all(models.map((m) => api("GET", `/models/${enc(m.name)}/stages`).then((s) => s.stages, () => null)));
  const versionFilter = filters.tag.length || filters.metric.length || filters.format || filters.q;
  let matches = null;
  if (versionFilter) {
    const found = await all("/versions", { tag: filters.tag, metric: filters.metric, format: filters.format, q: filters.q });
    matches = new Map();
    for (const v of found) matches.set(v.model, [...(matches.get(v.model) ?? []), v.version]);
  }
  const rows = models.map((m, i) => ({ ...m, stages: stages[i], matching: matches ? matches.get(m.name) ?? [] : null }));
  rows.truncated = models.truncated;
  return rows;
}

function keep(model, filters) {
  if (filters.stage && !model.stages?.[filters.stage]?.targets?.length) return false;
  if (model.matching === null) return true;
  if (model.matching.length) return true;
  // A model-level tag or text match counts when no version-level filter but those is set.
  const onlyModelLevel = !filters.metric.length && !filters.format;
  const text = filters.q.toLowerCase();
  const tagged = filters.tag.every((t) => model.tags.includes(t));
  const named = !text || model.name.toLowerCase().includes(text) || model.description.toLowerCase().includes(text);
  return onlyModelLevel && tagged && named;
}

export function ModelsPage({ params }) {
  const filters = {
    q: params.get("q") ?? "",
    tag: params.getAll("tag"),
    metric: params.getAll("metric"),
    format: params.get("format") ?? "",
    stage: params.get("stage") ?? "",
  };
  const key = JSON.stringify(filters);
  const state = useLoad(() => loadModels(filters), [key]);
  return (
    <section aria-labelledby="models-title">
      <h1 id="models-title">Models</h1>
      <Filters key={key} filters={filters} />
      <Loaded state={state} what="models">
        {(models) => {
          const shown = models.filter((m) => keep(m, filters));
          return (
            <SortableTable
              urlKey="sort"
              testId="models"
              caption={`${shown.length} of ${models.length}${models.truncated ? "+ (the first pages only)" : ""} models`}
              rowKey={(m) => m.name}
              rows={shown}
              initial={{ key: "name", desc: false }}
              columns={[
                { key: "name", label: "Model", render: (m) => <a href={href(["models", m.name])}>{m.name}</a> },
                { key: "description", label: "Description" },
                { key: "tags", label: "Tags", value: (m) => m.tags.join(","), render: (m) => m.tags.map((t) => <span class="tag">{t}</span>) },
                { key: "version_count", label: "Versions" },
                { key: "latest_version", label: "Latest", render: (m) => m.latest_version ?? "—" },
                ...STAGES.filter((s) => s === "production" || s === "staging").map((s) => ({
                  key: s, label: s[0].toUpperCase() + s.slice(1), value: (m) => targets(m.stages?.[s]),
                  render: (m) => (m.stages === null ? <span title="the stages of this model could not be read">unavailable</span> : targets(m.stages[s])),
                })),
                ...(models.some((m) => m.matching) ? [{ key: "matching", label: "Matching versions", value: (m) => m.matching?.length ?? 0, render: (m) => (m.matching ?? []).join(", ") || "—" }] : []),
                { key: "created_at", label: "Created", render: (m) => <time datetime={new Date(m.created_at).toISOString()}>{ago(m.created_at)}</time> },
              ]}
            />
          );
        }}
      </Loaded>
    </section>
  );
}

function Filters({ filters }) {
  const [draft, setDraft] = useState({ ...filters, tag: filters.tag.join(", "), metric: filters.metric.join(", ") });
  const set = (k) => (e) => setDraft({ ...draft, [k]: e.currentTarget.value });
  const apply = (event) => {
    event.preventDefault();
    const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
    navigate(["models"], { q: draft.q.trim(), tag: list(draft.tag), metric: list(draft.metric), format: draft.format, stage: draft.stage });
  };
  return (
    <form class="filters" onSubmit={apply} role="search" aria-label="Filter models">
      <label>Text<input name="q" value={draft.q} onInput={set("q")} placeholder="name, description or notes" /></label>
      <label>Tags<input name="tag" value={draft.tag} onInput={set("tag")} placeholder="prod-ready, cards" /></label>
      <label>Metrics<input name="metric" value={draft.metric} onInput={set("metric")} placeholder="f1>=0.95" /></label>
      <label>Format
        <select name="format" value={draft.format} onChange={set("format")}>{FORMATS.map((f) => <option value={f}>{f || "any"}</option>)}</select>
      </label>
      <label>Deployed at
        <select name="stage" value={draft.stage} onChange={set("stage")}>{["", ...STAGES].map((s) => <option value={s}>{s || "any stage"}</option>)}</select>
      </label>
      <button type="submit">Filter</button>
      <a class="button-link" href="#/models">Clear</a>
    </form>
  );
}
