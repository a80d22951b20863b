// The console's only way to the registry: the JSON API of the Worker that
// serves it, with the visitor's token. The token lives in sessionStorage (this
// tab's session): never in a URL, never logged, gone when the tab closes.
//
// Every failed request becomes an ApiError carrying the RFC 9457 problem's
// fields, so each page can show the registry's own `detail`.

const SESSION_KEY = "outpost.console.session";
const BOOKMARK_KEY = "outpost.console.bookmark";
// The Worker's D1 Sessions API bookmark header: sending back the newest one
// seen makes every read see this tab's own writes (a promotion shows up in the
// history right away, even on a read replica).
const BOOKMARK_HEADER = "x-outpost-d1-bookmark";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title ?? `HTTP ${status}`;
    this.detail = problem.detail ?? null;
    this.problem = problem;
  }
}

/** The signed-in session ({org, token, role, tokenName}) or null. */
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null");
  } catch {
    return null;
  }
}

export function signOut() {
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(BOOKMARK_KEY);
}

/** Checks the token with `whoami` and keeps the session for this tab. */
export async function signIn(org, token) {
  const who = await request("GET", `/v1/orgs/${encodeURIComponent(org)}/whoami`, { token });
  const s = { org: who.org, token, role: who.role, tokenName: who.token_name, tokenId: who.token_id };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  return s;
}

const ROLES = ["viewer", "developer", "operator", "admin"];
/** Whether the session's role includes `role` (each role includes the ones below it). */
export function can(role) {
  const s = session();
  return !!s && ROLES.indexOf(s.role) >= ROLES.indexOf(role);
}

/** Builds a query string from an object, skipping empty values; arrays repeat the key. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const x of Array.isArray(v) ? v : [v]) {
      if (x !== undefined && x !== null && x !== "") q.append(k, String(x));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function request(method, path, { token, body } = {}) {
  const headers = { accept: "application/json", authorization: `Bearer ${token}` };
  const bookmark = sessionStorage.getItem(BOOKMARK_KEY);
  if (bookmark) headers[BOOKMARK_HEADER] = bookmark;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, { title: "The registry could not be reached", detail: String(err) });
  }
  const seen = response.headers.get(BOOKMARK_HEADER);
  if (seen) sessionStorage.setItem(BOOKMARK_KEY, seen);
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.status === 401 && token === session()?.token) {
    // The token stopped working (revoked, expired): back to sign-in, saying why.
    signOut();
    window.dispatchEvent(new CustomEvent("outpost:signed-out", { detail: json?.detail ?? "The token is no longer valid." }));
  }
  if (!response.ok) {
    throw new ApiError(response.status, json && typeof json === "object" ? json : { title: `HTTP ${response.status}`, detail: text.slice(0, 300) });
  }
  return json;
}

/** A request to the signed-in organisation: `path` is relative to /v1/orgs/{org}. */
export function api(method, path, body) {
  const s = session();
  if (!s) return Promise.reject(new ApiError(401, { title: "Not signed in", detail: "Sign in with a token first." }));
  return request(method, `/v1/orgs/${encodeURIComponent(s.org)}${path}`, { token: s.token, body });
}

/** Every item of a paged listing (`items` and `next_cursor`), up to `max`. */
export async function all(path, params = {}, max = 2000) {
  const items = [];
  let cursor = null;
  do {
    const page = await api("GET", path + query({ ...params, limit: 100, cursor }));
    items.push(...page.items);
    cursor = page.next_cursor ?? null;
  } while (cursor && items.length < max);
  // Pages say when they stopped short, so none passes for the whole list.
  items.truncated = !!cursor;
  return items;
}

export const enc = encodeURIComponent;
