// Settings (admins): tokens (a new token's secret is shown once), webhooks
// and their deliveries, and each model's promotion and retention policies.
import { useEffect, useRef, useState } from "preact/hooks";
import { all, api, enc, query, session } from "../api.js";
import { when } from "../format.js";
import { ActionForm, announce, Loaded, Problem, useLoad } from "../ui.jsx";

export function SettingsPage() {
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <Tokens />
      <Webhooks />
      <Policies />
    </section>
  );
}

/**
 * The second question before a revoke. Focus moves to the safe answer, so a
 * keyboard user lands on it and hears the choice.
 */
function ConfirmRevoke({ name, onYes, onNo }) {
  const keep = useRef(null);
  useEffect(() => keep.current?.focus(), []);
  return (
    <span role="group" aria-label={`Revoke ${name}?`}>
      <button type="button" class="danger" onClick={onYes}>Yes, revoke {name} now</button>{" "}
      <button type="button" ref={keep} onClick={onNo}>Keep it</button>
    </span>
  );
}

function Tokens() {
  const state = useLoad(() => api("GET", "/tokens"), []);
  const [created, setCreated] = useState(null);
  const [error, setError] = useState(null);
  const [confirming, setConfirming] = useState(null);
  const revoke = async (id) => {
    setConfirming(null);
    setError(null);
    try {
      await api("DELETE", `/tokens/${enc(id)}`);
      announce("Token revoked.");
      state.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">Tokens</h2>
      {created ? (
        <div class="secret" role="status" data-testid="new-token">
          <p>Token <strong>{created.name}</strong> ({created.role}) created. Copy its secret now: it is never shown again.</p>
          <code>{created.token}</code>{" "}
          <button type="button" onClick={() => navigator.clipboard?.writeText(created.token)}>Copy</button>{" "}
          <button type="button" onClick={() => setCreated(null)}>Done</button>
        </div>
      ) : null}
      <Problem error={error} what="Could not revoke" />
      <Loaded state={state} what="tokens">
        {(t) => (
          <div class="table-wrap">
            <table data-testid="tokens" aria-label="Tokens">
              <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
              <tbody>
                {t.items.map((k) => (
                  <tr>
                    <td>{k.name}</td><td>{k.role}</td><td>{when(k.created_at)}{k.created_by ? ` by ${k.created_by}` : ""}</td>
                    <td>{k.expires_at ? when(k.expires_at) : "never"}</td>
                    <td>{k.revoked_at ? `revoked ${when(k.revoked_at)}` : "active"}</td>
                    <td>
                      {k.revoked_at ? null : k.id === session()?.tokenId ? <span class="hint">this session's token</span>
                        : confirming === k.id ? (
                          <ConfirmRevoke name={k.name} onYes={() => revoke(k.id)} onNo={() => setConfirming(null)} />
                        ) : <button type="button" onClick={() => setConfirming(k.id)}>Revoke {k.name}</button>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Loaded>
      <ActionForm title="Create a token" testId="create-token" reason={false}
        fields={[
          { name: "name", label: "Name", required: true },
          { name: "role", label: "Role", options: ["viewer", "developer", "operator", "admin"], initial: "viewer" },
          { name: "days", label: "Expires in days (empty: never)", type: "number", min: "1" },
        ]}
        submit={({ name, role, days }) => api("POST", "/tokens", { name, role, expires_in: days ? Number(days) * 86400 : null })}
        onDone={(t) => { setCreated(t); announce(`Token ${t.name} created: copy its secret now, it is never shown again.`); state.reload(); }} />
    </section>
  );
}

function Webhooks() {
  const state = useLoad(() => api("GET", "/webhooks"), []);
  const [open, setOpen] = useState(null);
  return (
    <section aria-labelledby="webhooks-title">
      <h2 id="webhooks-title">Webhooks</h2>
      <Loaded state={state} what="webhooks">
        {(w) => (
          <>
            {w.webhooks.length === 0 ? <p class="empty">No webhooks. Events one may subscribe to: {w.events.join(", ")}.</p> : null}
            <ul class="webhooks">
              {w.webhooks.map((h) => (
                <li>
                  <strong>{h.url}</strong> — {h.events.join(", ")} {h.description ? `(${h.description})` : ""}, created {when(h.created_at)} by {h.created_by}{" "}
                  <button type="button" aria-expanded={open === h.id} onClick={() => setOpen(open === h.id ? null : h.id)}>Deliveries</button>
                  {open === h.id ? <Deliveries id={h.id} /> : null}
                </li>
              ))}
            </ul>
          </>
        )}
      </Loaded>
    </section>
  );
}

function Deliveries({ id }) {
  // A new filter is a new list: the keyed child starts over, so nothing of
  // the old filter's pages or cursor carries into it.
  const [status, setStatus] = useState("");
  return (
    <div class="deliveries">
      <label>Status <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
        <option value="">any</option>
        {["pending", "delivered", "failed"].map((s) => <option value={s}>{s}</option>)}
      </select></label>
      <DeliveryList key={status} id={id} status={status} />
    </div>
  );
}

// Newest first, 50 at a time; "Load more" follows the cursor (`extra.cursor`
// undefined: no page loaded beyond the first). Rows already shown are not
// repeated when new deliveries shift the pages.
function DeliveryList({ id, status }) {
  const [extra, setExtra] = useState({ rows: [], cursor: undefined });
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState(null);
  const path = (cursor) => `/webhooks/${enc(id)}/deliveries${query({ limit: 50, status: status || undefined, cursor })}`;
  const state = useLoad(() => api("GET", path(undefined)), [id, status]);
  const more = async (from) => {
    setError(null);
    setLoading(true);
    try {
      const next = await api("GET", path(from));
      setExtra((had) => ({ rows: [...had.rows, ...next.deliveries], cursor: next.next_cursor ?? null }));
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  };
  return (
    <Loaded state={state} what="deliveries">
      {(d) => {
        const seen = new Set();
        const rows = [...d.deliveries, ...extra.rows].filter((x) => !seen.has(x.id) && seen.add(x.id));
        const next = extra.cursor === undefined ? d.next_cursor : extra.cursor;
        return (
          <>
            <table aria-label="Deliveries">
              <thead><tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last attempt</th><th scope="col">Response / error</th></tr></thead>
              <tbody>
                {rows.map((x) => (
                  <tr key={x.id}><td>{x.event}</td><td>{x.status}</td><td>{x.attempts}</td><td>{when(x.last_attempt_at)}</td><td>{x.response_status ?? ""} {x.last_error ?? ""}</td></tr>
                ))}
              </tbody>
            </table>
            {rows.length === 0 ? <p class="hint">No deliveries.</p> : null}
            {next ? <button type="button" disabled={loading} onClick={() => more(next)}>{loading ? "Loading…" : "Load more"}</button> : null}
            <Problem error={error} what="Could not load more deliveries" />
          </>
        );
      }}
    </Loaded>
  );
}

function Policies() {
  const state = useLoad(async () => {
    const models = await all("/models");
    return Promise.all(models.map(async (m) => ({ name: m.name, policies: await api("GET", `/models/${enc(m.name)}/policy`) })));
  }, []);
  return (
    <section aria-labelledby="policies-title">
      <h2 id="policies-title">Promotion and retention policies</h2>
      <Loaded state={state} what="policies">
        {(list) => list.map(({ name, policies }) => <Policy name={name} policies={policies} />)}
      </Loaded>
    </section>
  );
}

const STAGES = ["development", "staging", "canary", "production"];
const RETENTION = [
  ["keep_last", "Keep the newest N versions", "number"],
  ["max_age_days", "Drop versions older than (days)", "number"],
  ["keep_deployed_within_days", "Keep versions deployed within (days)", "number"],
  ["min_metric", "Drop versions below (e.g. f1>=0.8)", "text"],
];

// One model's promotion rules (a metric requirement, for some stages or all)
// and retention rules, as a form; the registry checks them on save.
function Policy({ name, policies }) {
  const [rules, setRules] = useState(policies.promotion?.rules ?? []);
  const [retention, setRetention] = useState(policies.retention ?? {});
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  const changeRule = (i, patch) => {
    setSaved(false);
    setRules(rules.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  };
  const save = async (event) => {
    event.preventDefault();
    setError(null);
    setSaved(false);
    const kept = Object.fromEntries(
      RETENTION.map(([key, , type]) => [key, retention[key] === "" || retention[key] == null ? null : type === "number" ? Number(retention[key]) : retention[key]]),
    );
    const body = {
      // A rule left wholly empty is dropped; one with stages but no
      // requirement is sent, and the registry says what is wrong with it.
      promotion: { rules: rules.filter((r) => r.requirement.trim() || (r.stages ?? []).length).map((r) => ({ requirement: r.requirement.trim(), stages: r.stages ?? [] })) },
      retention: Object.values(kept).some((v) => v !== null) ? kept : null,
    };
    try {
      const stored = await api("PUT", `/models/${enc(name)}/policy`, body);
      setRules(stored.promotion?.rules ?? []);
      setRetention(stored.retention ?? {});
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="policy" onSubmit={save} data-model={name}>
      <fieldset>
        <legend>{name}: promotion rules</legend>
        {rules.length === 0 ? <p class="hint">No rule: any version may be promoted (the other gates still apply).</p> : null}
        {rules.map((rule, i) => (
          <div class="rule" key={i} role="group" aria-label={`${name}: rule ${i + 1}`}>
            <label>Requirement <input value={rule.requirement} placeholder="f1>=0.85" aria-label={`rule ${i + 1} requirement`}
              aria-invalid={error ? "true" : undefined} aria-describedby={error ? `policy-error-${name}` : undefined}
              onInput={(e) => changeRule(i, { requirement: e.currentTarget.value })} /></label>
            <span role="group" aria-label={`rule ${i + 1} stages (none: every stage)`}>
              {STAGES.map((stage) => (
                <label class="inline" key={stage}>
                  <input type="checkbox" checked={(rule.stages ?? []).includes(stage)}
                    onChange={(e) => changeRule(i, { stages: e.currentTarget.checked ? [...(rule.stages ?? []), stage] : (rule.stages ?? []).filter((s) => s !== stage) })} />
                  {stage}
                </label>
              ))}
            </span>
            <button type="button" aria-label={`remove rule ${i + 1}`} onClick={() => setRules(rules.filter((_, j) => j !== i))}>Remove rule</button>
          </div>
        ))}
        <button type="button" onClick={() => setRules([...rules, { requirement: "", stages: [] }])}>Add a rule</button>
      </fieldset>
      <fieldset>
        <legend>{name}: retention</legend>
        {RETENTION.map(([key, label, type]) => (
          <label>{label} <input type={type} min={type === "number" ? 0 : undefined} name={key} value={retention[key] ?? ""}
            onInput={(e) => setRetention({ ...retention, [key]: e.currentTarget.value })} /></label>
        ))}
      </fieldset>
      <button type="submit">Save {name}'s policies</button>
      <span role="status" data-saved={saved ? "1" : undefined}>{saved ? " Saved." : ""}</span>
      <div id={`policy-error-${name}`}><Problem error={error} what="Refused" /></div>
    </form>
  );
}
