#!/usr/bin/env bash
# The drift part of scripts/bench.sh: a drift report over 20 features x 10 000
# reference and 10 000 current values — per feature the KS test (statistic and
# exact p-value), normed Wasserstein, PSI, KL and Jensen-Shannon — computed by
# outpost-core natively, by outpost-core as wasm32 in Node (the wasm client's
# driftCompare), and by scipy on the same data in the same run. Also checks the
# three agree. Writes its section of docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf 'bench: %s\n' "$*" >&2; }

scripts/setup.sh >&2
runs=${BENCH_DRIFT_RUNS:-7}
work=$(mktemp -d /tmp/outpost-bench-drift.XXXXXX)
trap 'rm -rf "$work"' EXIT

venv=${BENCH_SCIPY_VENV:-$root/target/bench/scipy-venv}
if ! "$venv/bin/python" -c "import scipy, numpy" 2>/dev/null; then
  say "installing numpy and scipy into $venv (PyPI)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check numpy scipy >&2
fi

say "generating 20 features x 10 000 + 10 000 values"
"$venv/bin/python" scripts/bench-drift.py generate "$work/data.json"

say "scipy"
"$venv/bin/python" scripts/bench-drift.py time "$work/data.json" "$runs" >"$work/scipy.json"

say "native (release)"
cargo run --quiet --locked --release --example drift_bench -p outpost-core -- "$work/data.json" "$runs" >"$work/native.json"

say "wasm32 (the wasm client, release, wasm-opt -Os) in Node"
cargo build --quiet --locked --release --target wasm32-unknown-unknown -p outpost-client
wasm-bindgen --target nodejs --out-dir "$work/pkg" target/wasm32-unknown-unknown/release/outpost_client.wasm
node_modules/.bin/wasm-opt -Os --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-multivalue --enable-reference-types \
  "$work/pkg/outpost_client_bg.wasm" -o "$work/pkg/outpost_client_bg.wasm"
node scripts/bench-drift.mjs "$work/pkg" "$work/data.json" "$runs" >"$work/wasm.json"

"$venv/bin/python" - "$work" "$runs" >"$work/section.md" <<'PY'
import json, sys, pathlib
work, runs = pathlib.Path(sys.argv[1]), sys.argv[2]
scipy, native, wasm = (json.loads((work / f"{n}.json").read_text()) for n in ("scipy", "native", "wasm"))
names = ["KS p-value", "Wasserstein (normed)", "PSI", "KL", "Jensen-Shannon"]

def worst(values):
    """Largest relative difference from scipy per statistic."""
    out = []
    for j in range(len(names)):
        d = 0.0
        for mine, theirs in zip(values, scipy["values"]):
            a, b = mine[j], theirs[j]
            d = max(d, abs(a - b) / max(abs(b), 1e-300))
        out.append(d)
    return out

print("## Drift reports: outpost-core (native and wasm32) vs scipy\n")
print(f"One report over 20 features x 10 000 reference and 10 000 current values (seeded; normal,")
print(f"lognormal, exponential, small integers with ties, uniform; some shifted): per feature the")
print(f"two-sample KS test with scipy's exact p-value, Wasserstein-1 normed by the reference's standard")
print(f"deviation, and PSI, KL and Jensen-Shannon over Evidently's 30 bins: 100 statistics. Median of")
print(f"{runs} runs after one warm-up, all in the same run of `scripts/bench.sh`. scipy {scipy['scipy']} /")
print(f"numpy {scipy['numpy']} (`scripts/bench-drift.py`); native: `cargo run --release --example")
print(f"drift_bench -p outpost-core`; wasm32: the wasm client's `driftCompare` in Node {wasm['node']}")
print(f"(release, wasm-opt -Os, no simd; Float64Array in). Below 1x Outpost is faster.\n")
print("| implementation | one report | reports/s | time vs scipy |")
print("|---|---:|---:|---:|")
for label, r in (("scipy", scipy), ("outpost-core, native", native), ("outpost-core, wasm32 (Node)", wasm)):
    print(f"| {label} | {r['seconds'] * 1e3:.1f} ms | {1 / r['seconds']:.1f} | {r['seconds'] / scipy['seconds']:.2f}x |")
print("\nLargest relative difference from scipy over the 20 features (the same run's values):\n")
print("| statistic | native | wasm32 |")
print("|---|---:|---:|")
for name, n, w in zip(names, worst(native["values"]), worst(wasm["values"])):
    print(f"| {name} | {n:.1e} | {w:.1e} |")
PY
scripts/bench-section.py drift "$work/section.md"
