// Hash routing: the page and its state (filters, selections, window) live in
// the URL after `#`, so a link can be shared and the back button works. The
// token is never part of it.
import { useEffect, useState } from "preact/hooks";

/** {parts: ["models", "fraud-detector"], params: URLSearchParams} of a hash. */
export function parse(hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map((part) => {
    // A malformed escape (a mangled link) is shown as typed, never thrown.
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  return { parts, params: new URLSearchParams(search) };
}

/** The hash of a page: `href(["models", name], {tab: "history"})`. */
export function href(parts, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const x of Array.isArray(v) ? v : [v]) if (x !== undefined && x !== null && x !== "") q.append(k, String(x));
  }
  const s = q.toString();
  return `#/${parts.map(encodeURIComponent).join("/")}${s ? `?${s}` : ""}`;
}

export function navigate(parts, params = {}, { replace = false } = {}) {
  const target = href(parts, params);
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

/** The current route; re-renders on every change of the hash. */
export function useRoute() {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const on = () => setRoute(parse(location.hash));
    window.addEventListener("hashchange", on);
    window.addEventListener("popstate", on);
    return () => {
      window.removeEventListener("hashchange", on);
      window.removeEventListener("popstate", on);
    };
  }, []);
  return route;
}
