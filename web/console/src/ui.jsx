// Small pieces every page uses: a request's three states (loading, failed,
// loaded), sortable tables, a chart and a form that asks for a reason.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";

/**
 * Runs `load` (an async function) whenever one of `deps` changes:
 * {data, error, loading, reload}. A response that arrives after a newer
 * request started is dropped.
 */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => mine === generation.current && setState({ data, error: null, loading: false }),
      (error) => mine === generation.current && setState({ data: null, error, loading: false }),
    );
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

/**
 * Says `message` to screen readers through the page's one live region
 * (`#announce` in index.html, present from the start, since a live region
 * that arrives with its text is often not read).
 */
export function announce(message) {
  const region = document.getElementById("announce");
  if (!region) return;
  region.textContent = "";
  // A new text node in a later task, so that the same message twice is read twice.
  setTimeout(() => { region.textContent = message; }, 50);
}

export function Loading({ what }) {
  return <p class="loading" role="status" aria-live="polite">Loading {what}…</p>;
}

/** A failed request: the problem's title and detail, as the registry said them. */
export function Problem({ error, what }) {
  if (!error) return null;
  return (
    <div class="problem" role="alert" data-status={error.status ?? ""}>
      <strong>{what ? `${what}: ` : ""}{error.title ?? "Error"}</strong>
      {error.detail ? <p class="detail">{error.detail}</p> : null}
    </div>
  );
}

/** Loading / error / content of one `useLoad`. */
export function Loaded({ state, what, children }) {
  if (state.error) return <Problem error={state.error} what={`Could not load ${what}`} />;
  if (state.loading && !state.data) return <Loading what={what} />;
  // While a newer request runs, the last answer stays, marked busy.
  return <div class="loaded" aria-busy={state.loading ? "true" : "false"}>{children(state.data)}</div>;
}

/**
 * A table whose columns sort on click or Enter: `columns` are
 * {key, label, value(row) (the sort key) or compare(a, b), render(row)}.
 */
export function SortableTable({ columns, rows, initial, rowKey, caption, testId, urlKey }) {
  // With `urlKey`, the order lives in the URL (`sort=-created_at`), so a
  // shared link shows the same order.
  const fromUrl = () => {
    if (!urlKey) return null;
    const raw = new URLSearchParams(location.hash.split("?")[1] ?? "").get(urlKey);
    if (!raw) return null;
    const desc = raw.startsWith("-");
    const key = desc ? raw.slice(1) : raw;
    return columns.some((c) => c.key === key && c.sortable !== false) ? { key, desc } : null;
  };
  const [sort, setSortState] = useState(() => fromUrl() ?? initial ?? { key: columns[0].key, desc: false });
  const setSort = (next) => {
    setSortState(next);
    if (urlKey) {
      const [path, search = ""] = location.hash.split("?");
      const params = new URLSearchParams(search);
      params.set(urlKey, `${next.desc ? "-" : ""}${next.key}`);
      history.replaceState(null, "", `${path}?${params}`);
    }
  };
  const column = columns.find((c) => c.key === sort.key) ?? columns[0];
  const value = column.value ?? ((r) => r[column.key]);
  const sorted = [...rows].sort((a, b) => {
    if (column.compare) return sort.desc ? -column.compare(a, b) : column.compare(a, b);
    const x = value(a);
    const y = value(b);
    const order = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
    return sort.desc ? -order : order;
  });
  return (
    <div class="table-wrap">
      <table data-testid={testId}>
        {caption ? <caption>{caption}</caption> : null}
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" aria-sort={c.key === sort.key ? (sort.desc ? "descending" : "ascending") : "none"}>
                {c.sortable === false ? c.label : (
                  <button type="button" class="sort" onClick={() => setSort({ key: c.key, desc: c.key === sort.key ? !sort.desc : false })}>
                    {c.label}<span aria-hidden="true">{c.key === sort.key ? (sort.desc ? " ▼" : " ▲") : ""}</span>
                  </button>
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {sorted.map((r) => (
            <tr key={rowKey(r)}>
              {columns.map((c) => <td data-label={c.label}>{c.render ? c.render(r) : String(r[c.key] ?? "—")}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 ? <p class="empty">Nothing to show.</p> : null}
    </div>
  );
}

/** A uPlot chart: `opts` without width (it follows the container), `data` as uPlot takes it. */
export function Chart({ opts, data, label }) {
  const box = useRef(null);
  useEffect(() => {
    const el = box.current;
    const width = () => Math.max(280, Math.min(el.clientWidth || 600, 900));
    // Axis text in the page's text colour (uPlot draws black, unreadable in dark mode).
    const ink = getComputedStyle(document.documentElement).getPropertyValue("--fg").trim() || "#1d232b";
    const axes = (opts.axes ?? [{}, {}]).map((axis) => ({ stroke: ink, ...axis }));
    const plot = new uPlot({ ...opts, axes, width: width(), height: opts.height ?? 220 }, data, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: opts.height ?? 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [JSON.stringify(opts), JSON.stringify(data)]);
  return <figure class="chart" ref={box} aria-label={label} role="img" />;
}

/** Bars on a categorical axis (index positions labelled with `names`). */
export function barOptions({ names, series, yLabel, threshold }) {
  const bars = uPlot.paths.bars({ size: [0.6, 60] });
  return {
    height: 220,
    // Bars grow from zero; the y scale is never clipped above it.
    scales: { x: { time: false, range: [-0.5, names.length - 0.5] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [
      // At most about eight labels, so they never overlap.
      { values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) && t % Math.ceil(names.length / 8) === 0 ? names[t] ?? "" : "")), splits: () => names.map((_, i) => i) },
      { label: yLabel },
    ],
    series: [
      {},
      ...series.map((s) => ({ label: s.label, stroke: s.color, fill: `${s.color}99`, paths: bars, points: { show: false } })),
      ...(threshold === undefined ? [] : [{ label: "threshold", stroke: "#c0392b", dash: [6, 4], points: { show: false } }]),
    ],
    legend: { show: true },
  };
}

/**
 * A form that performs one action: its fields, a required reason when the
 * API takes one, the action's problem shown in place if it is refused.
 */
export function ActionForm({ title, fields, reason = true, submit, onDone, testId }) {
  // A select starts on its first option unless told otherwise.
  const initial = () => Object.fromEntries(fields.map((f) => [f.name, f.initial ?? (f.options ? (f.options[0]?.value ?? f.options[0] ?? "") : "")]));
  const [values, setValues] = useState(initial);
  const [why, setWhy] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const go = async (event) => {
    event.preventDefault();
    // Not disabled while working: disabling the focused button drops focus.
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const result = await submit({ ...values, reason: why });
      // Done: the form starts over, so a reason is never reused by accident.
      setValues(initial());
      setWhy("");
      announce(`${title}: done.`);
      onDone?.(result);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="action" onSubmit={go} data-testid={testId}>
      <fieldset aria-busy={busy ? "true" : undefined}>
        <legend>{title}</legend>
        {fields.map((f) => (
          <label>
            {f.label}
            {f.options ? (
              <select name={f.name} value={values[f.name]} onChange={(e) => setValues({ ...values, [f.name]: e.currentTarget.value })}>
                {f.options.map((o) => <option value={o.value ?? o}>{o.label ?? o}</option>)}
              </select>
            ) : (
              <input name={f.name} type={f.type ?? "text"} value={values[f.name]} required={f.required} min={f.min} max={f.max} step={f.step}
                onInput={(e) => setValues({ ...values, [f.name]: e.currentTarget.value })} />
            )}
          </label>
        ))}
        {reason ? (
          <label>
            Reason
            <input name="reason" value={why} required onInput={(e) => setWhy(e.currentTarget.value)} placeholder="why (kept in the history)" />
          </label>
        ) : null}
        <button type="submit">{busy ? "Working…" : title}</button>
      </fieldset>
      <Problem error={error} what="Refused" />
    </form>
  );
}
