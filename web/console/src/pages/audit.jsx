// The audit log, filtered, and the verdict on its hash chain: every entry
// from the first is read and checked by the same Rust code the CLI's
// `outpost audit verify` runs (the verify-only wasm client package).
import { useState } from "preact/hooks";
import { all, api, query } from "../api.js";
import { navigate } from "../route.js";
import { when } from "../format.js";
import { Loaded, useLoad } from "../ui.jsx";

const PAGE = 50;

/** The verify-only wasm client, loaded on first use (it is only needed here). */
let verifier = null;
async function verifyChain(entries) {
  if (!verifier) {
    const url = new URL("./verify/outpost_client.js", import.meta.url).href;
    verifier = import(url).then(async (m) => {
      await m.default();
      return m;
    });
  }
  const m = await verifier;
  return m.verifyAuditChain(JSON.stringify(entries));
}

export function AuditPage({ params }) {
  const filters = {
    action: params.get("action") ?? "",
    outcome: params.get("outcome") ?? "",
    actor: params.get("actor") ?? "",
    target: params.get("target") ?? "",
  };
  const key = JSON.stringify(filters);
  const [pages, setPages] = useState({ key, count: 1 });
  const count = pages.key === key ? pages.count : 1;
  const state = useLoad(async () => {
    const items = [];
    let cursor = null;
    for (let i = 0; i < count; i += 1) {
      const page = await api("GET", `/audit${query({ ...filters, limit: PAGE, cursor })}`);
      items.push(...page.items);
      cursor = page.next_cursor ?? null;
      if (!cursor) break;
    }
    return { items, more: !!cursor };
  }, [key, count]);
  const chain = useLoad(async () => verifyChain(await all("/audit", {}, 1_000_000)), []);
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <Loaded state={chain} what="the chain verification">
        {(v) => (
          <p class={`chain ${v.intact ? "intact" : "broken"}`} data-testid="chain" data-intact={v.intact ? "1" : "0"} role="status">
            {v.intact
              ? `Hash chain verified: ${v.entries} entries, unbroken.`
              : `Hash chain BROKEN at entry ${v.brokenAt}: ${v.reason}.`}
          </p>
        )}
      </Loaded>
      <AuditFilters key={key} filters={filters} />
      <Loaded state={state} what="audit entries">
        {({ items, more }) => (
          <>
            <div class="table-wrap">
              <table data-testid="audit" aria-label="Audit entries">
                <thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col">Details</th></tr></thead>
                <tbody>
                  {items.map((e) => (
                    <tr key={e.seq} data-outcome={e.outcome}>
                      <td>{e.seq}</td><td>{when(e.at)}</td><td>{e.actor ?? "—"}{e.role ? ` (${e.role})` : ""}</td>
                      <td>{e.action}</td><td>{e.target}</td><td>{e.outcome}</td>
                      <td><details><summary>show</summary><pre>{JSON.stringify(e.details, null, 2)}</pre></details></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {items.length === 0 ? <p class="empty">No entries match.</p> : null}
            {more ? <button type="button" onClick={() => setPages({ key, count: count + 1 })}>Load more</button> : null}
          </>
        )}
      </Loaded>
    </section>
  );
}

function AuditFilters({ filters }) {
  const [draft, setDraft] = useState(filters);
  const set = (k) => (e) => setDraft({ ...draft, [k]: e.currentTarget.value });
  return (
    <form class="filters" role="search" aria-label="Filter the audit log"
      onSubmit={(e) => { e.preventDefault(); navigate(["audit"], draft); }}>
      <label>Action<input name="action" value={draft.action} onInput={set("action")} placeholder="stage.promote" /></label>
      <label>Actor<input name="actor" value={draft.actor} onInput={set("actor")} /></label>
      <label>Target prefix<input name="target" value={draft.target} onInput={set("target")} placeholder="models/fraud-detector" /></label>
      <label>Outcome
        <select name="outcome" value={draft.outcome} onChange={set("outcome")}>
          <option value="">any</option><option value="ok">ok</option><option value="denied">denied</option>
        </select>
      </label>
      <button type="submit">Filter</button>
      <a class="button-link" href="#/audit">Clear</a>
    </form>
  );
}
