// How values are shown: times in the visitor's own time zone (the API speaks
// ms since the epoch, UTC), sizes in binary units, metrics to four places;
// and how versions order (SemVer precedence, through the `semver` package).

import semverCompare from "semver/functions/compare.js";

/**
 * SemVer 2.0.0 §11 precedence of two version strings (`1.0.0-beta.2` <
 * `1.0.0-beta.10` < `1.0.0`), as the registry orders them; text order for
 * anything that is not a version. Returns -1, 0 or 1.
 */
export function versionOrder(a, b) {
  try {
    return semverCompare(a, b);
  } catch {
    return a < b ? -1 : a > b ? 1 : 0;
  }
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});

export function when(ms) {
  if (ms === null || ms === undefined) return "—";
  return dateTime.format(new Date(ms));
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
export function ago(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return "";
  const s = Math.round((ms - now) / 1000);
  const abs = Math.abs(s);
  if (abs < 60) return relative.format(s, "second");
  if (abs < 3600) return relative.format(Math.round(s / 60), "minute");
  if (abs < 86400) return relative.format(Math.round(s / 3600), "hour");
  return relative.format(Math.round(s / 86400), "day");
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i += 1;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
}

export function metric(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  return Number.isInteger(x) ? String(x) : x.toFixed(4);
}

export function percent(x) {
  if (x === null || x === undefined) return "—";
  return `${(x * 100).toFixed(1)} %`;
}

/** µs (the API's latency unit) as ms. */
export function micros(us) {
  if (us === null || us === undefined) return "—";
  return `${(us / 1000).toFixed(us < 10_000 ? 2 : 0)} ms`;
}

/** A stage's targets as one line: `1.2.0` or `1.2.0 90 % · 1.3.0 10 % (canary)`. */
export function targets(state) {
  if (!state || !state.targets?.length) return "—";
  if (state.targets.length === 1) return state.targets[0].version;
  return state.targets.map((t) => `${t.version} ${(t.weight / 100).toFixed(t.weight % 100 ? 2 : 0)} %${t.arm && t.arm !== "stable" ? ` (${t.arm})` : ""}`).join(" · ");
}
