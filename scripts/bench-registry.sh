#!/usr/bin/env bash
# The registry part of scripts/bench.sh: measures Outpost's resolve and device
# pull against peers on this machine, in one run, and writes its section of
# docs/benchmarks.md. Every figure is a ratio against a peer measured in the
# same run; nothing here is a pass/fail threshold.
#
#  1. Resolve: requests/s and p50/p99 latency of
#     GET /v1/orgs/bench/models/{m}/resolve?stage=production&device=… against
#     the local Workers in two configurations — `wrangler dev` (its proxy in
#     front of workerd) and workerd alone (scripts/serve-workerd.mjs, the
#     configuration closest to Cloudflare's) — on the same local D1 and R2,
#     beside MLflow's model-registry alias lookup
#     (GET /api/2.0/mlflow/registered-models/alias, SQLite store, installed
#     from PyPI into a virtualenv) in two configurations: stock `mlflow server`
#     and its best here (2 workers, keep-alive, TCP_NODELAY set, which
#     uvicorn's multi-worker path loses: uvicorn issue 3149), with the same
#     models and versions, at concurrency 1 and 32 (wrk). A no-op request
#     (Outpost /healthz, MLflow /health) shows the per-request overhead.
#  2. Pull: download + verify throughput of `outpost pull ORG/MODEL@STAGE`
#     (every trust check, streamed hashing, atomic install) against
#     `sha256sum` of the same file; device-side verification alone, native
#     (`outpost verify`) and wasm (@outpost/client-verify under Node).
#  3. The Workers' and client packages' sizes, and each Worker's start-up.
#
# Usage: scripts/bench.sh (or BENCH_PARTS=registry scripts/bench.sh); about 5 minutes once MLflow is installed
# Env:   BENCH_MODELS (10), BENCH_VERSIONS (10), BENCH_SECONDS (10),
#        BENCH_PULL_MIB (256), BENCH_KEEP=1 keeps the work directory,
#        BENCH_MLFLOW_VENV=DIR reuses a virtualenv with MLflow (default: a
#        throw-away one inside the work directory).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
models=${BENCH_MODELS:-10}
versions=${BENCH_VERSIONS:-10}
seconds=${BENCH_SECONDS:-10}
pull_mib=${BENCH_PULL_MIB:-256}
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true

say() { printf 'bench: %s\n' "$*" >&2; }
need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

scripts/setup.sh >&2
command -v wrk >/dev/null || {
  say "installing wrk (Debian)"
  need_root apt-get update -qq && need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
}
scripts/build-worker.sh >&2
cargo build --quiet --release --bin outpost
outpost="$root/target/release/outpost"

work=$(mktemp -d /tmp/outpost-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  [ "${BENCH_KEEP:-}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # url
  for _ in $(seq 1 900); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done
  say "$1 did not answer"; return 1
}

# --- MLflow, in a throw-away virtualenv (started early: it installs slowly) ---
mlflow_venv=${BENCH_MLFLOW_VENV:-$work/mlflow-venv}
if ! "$mlflow_venv/bin/python" -c "import mlflow" 2>/dev/null; then
  say "installing MLflow into $mlflow_venv (PyPI)"
  python3 -m venv "$mlflow_venv"
  "$mlflow_venv/bin/pip" install --quiet --disable-pip-version-check mlflow >&2
fi
mlflow_version=$("$mlflow_venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')
mlflow_port=$(free_port)
mlflow_best_port=$(free_port)
# Stock: `mlflow server` as documented (its default is 4 uvicorn workers).
set -m
"$mlflow_venv/bin/python" -m mlflow server --host 127.0.0.1 --port "$mlflow_port" \
  --backend-store-uri "sqlite:///$work/mlflow.db" --default-artifact-root "$work/mlruns" \
  >"$work/mlflow.log" 2>&1 &
pids+=($!)
set +m
# Best here: 2 workers (one per core) with TCP_NODELAY, which uvicorn's
# multi-worker listener loses (issue 3149: the socket is created without
# IPPROTO_TCP, so asyncio never sets TCP_NODELAY and every keep-alive
# request waits on a delayed ACK). The fix of its pull request 3155, applied
# through sitecustomize for the bench only.
mkdir -p "$work/nodelay"
cat >"$work/nodelay/sitecustomize.py" <<'PY'
import socket
_socket = socket.socket
class _TcpSocket(_socket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6) \
                and type in (-1, socket.SOCK_STREAM) and proto in (-1, 0):
            proto = socket.IPPROTO_TCP
        super().__init__(family, type, proto, fileno)
socket.socket = _TcpSocket
PY

# --- The local Worker, fresh state --------------------------------------------
port=$(free_port)
base="http://127.0.0.1:$port"
persist="$work/wrangler-state"
node_modules/.bin/wrangler d1 migrations apply DB --local --persist-to "$persist" >/dev/null
mkdir -p "$work/keys"
for role in online director; do "$outpost" keys generate --out "$work/keys/$role" >/dev/null; done
bootstrap=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
set -m
node_modules/.bin/wrangler dev -c wrangler.toml -c worker/inference/wrangler.toml \
  --local --ip 127.0.0.1 --port "$port" --persist-to "$persist" \
  --var "OUTPOST_BOOTSTRAP_SECRET:$bootstrap" \
  --var "OUTPOST_ONLINE_KEY:$(base64 -w0 <"$work/keys/online.pk8")" \
  --var "OUTPOST_DIRECTOR_KEY:$(base64 -w0 <"$work/keys/director.pk8")" \
  --show-interactive-dev-session=false --log-level error >"$work/wrangler.log" 2>&1 &
wrangler_pid=$!
pids+=($!)
set +m
wait_for "$base/readyz"

# --- Outpost data: org, key ceremony, models × versions, releases, production -
export OUTPOST_CONFIG="$work/outpost.toml" OUTPOST_URL="$base"
"$outpost" admin init --new-org bench --bootstrap-secret "$bootstrap" --save-profile default >/dev/null
k="$work/keys"
"$outpost" keys generate --out "$k/root" >/dev/null
"$outpost" keys generate --out "$k/release" >/dev/null
"$outpost" trust fetch-keys --out-dir "$k/deployment" >/dev/null
"$outpost" trust init --root-key "$k/root.pk8" --release-key "$k/release.pub.json" \
  --online-key "$k/deployment/online.pub.json" --director-key "$k/deployment/director.pub.json" \
  -o "$k/root.json" >/dev/null
"$outpost" trust upload "$k/root.json" >/dev/null
say "loading $models models × $versions versions into Outpost"
mkdir -p "$work/artifacts"
for m in $(seq 1 "$models"); do
  "$outpost" model create "model-$m" >/dev/null
  names=()
  for v in $(seq 1 "$versions"); do
    # Opaque bytes that no scanner takes for a pickle or a zip (a NUL
    # first is neither): random bytes sometimes start like a pickle, and an
    # unscannable pickle is refused at the staging gate, as it should be.
    { printf '\0OUTPOST-BENCH'; head -c 4082 /dev/urandom; } >"$work/artifacts/m$m-v$v.bin"
    "$outpost" push "model-$m" "$work/artifacts/m$m-v$v.bin" --version "1.$v.0" >/dev/null
    names+=("1.$v.0")
  done
  "$outpost" release sign "model-$m" "${names[@]}" --key "$k/release.pk8" >/dev/null
  "$outpost" promote "model-$m" "1.$versions.0" --to staging >/dev/null
  "$outpost" promote "model-$m" "1.$versions.0" --to production >/dev/null
done
token=$(awk -F'"' '/^token/ { print $2; exit }' "$OUTPOST_CONFIG")

# --- MLflow data: the same models × versions, alias `production` --------------
wait_for "http://127.0.0.1:$mlflow_port/health"
say "loading $models models × $versions versions into MLflow $mlflow_version"
MLFLOW_TRACKING_URI="http://127.0.0.1:$mlflow_port" "$mlflow_venv/bin/python" - "$models" "$versions" <<'PY'
import sys
from mlflow import MlflowClient
models, versions = int(sys.argv[1]), int(sys.argv[2])
client = MlflowClient()
for m in range(1, models + 1):
    name = f"model-{m}"
    client.create_registered_model(name)
    for v in range(1, versions + 1):
        # A remote URI: MLflow only accepts local sources inside a run.
        client.create_model_version(name, source=f"s3://outpost-bench/{name}/{v}")
    client.set_registered_model_alias(name, "production", str(versions))
PY
set -m
PYTHONPATH="$work/nodelay" "$mlflow_venv/bin/python" -m mlflow server --host 127.0.0.1 \
  --port "$mlflow_best_port" --workers 2 \
  --backend-store-uri "sqlite:///$work/mlflow.db" --default-artifact-root "$work/mlruns" \
  >"$work/mlflow-best.log" 2>&1 &
pids+=($!)
set +m
wait_for "http://127.0.0.1:$mlflow_best_port/health"

# --- Load: wrk, the same for both --------------------------------------------
# wrk prints latency with units (us, ms, s); normalise to milliseconds.
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 }; printf "%.2f", v }'; }
load() { # label concurrency url [header]
  local out threads=$(( $2 < 2 ? 1 : 2 ))
  out=$(wrk -t"$threads" -c"$2" -d"${seconds}s" --latency ${4:+-H "$4"} "$3")
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out" | to_ms)
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out" | to_ms)
  errors=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
  if [ -n "$errors" ]; then say "$1 at c=$2: $errors non-2xx responses"; echo "$out" >&2; exit 1; fi
  say "$1 c=$2: $rps req/s, p50 $p50 ms, p99 $p99 ms"
  echo "$rps $p50 $p99"
}
resolve_path="/v1/orgs/bench/models/model-3/resolve?stage=production&device=device-42"
alias_path="/api/2.0/mlflow/registered-models/alias?name=model-3&alias=production"
mlflow_url="http://127.0.0.1:$mlflow_port$alias_path"
mlflow_best_url="http://127.0.0.1:$mlflow_best_port$alias_path"
curl -sf "$mlflow_url" >/dev/null
curl -sf "$mlflow_best_url" >/dev/null
isolate() { # FIELD of GET /v1/admin/isolate (the answering isolate's counters)
  curl -sf -H "Authorization: Bearer $bootstrap" "$base/v1/admin/isolate" |
    python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"
}
declare -A result
# measure_outpost LABEL: no-op and resolve at both concurrencies against $base.
measure_outpost() {
  curl -sf -H "Authorization: Bearer $token" "$base$resolve_path" >/dev/null
  local before_statements before_requests
  before_statements=$(isolate d1_statements); before_requests=$(isolate requests)
  for c in 1 32; do
    result[$1_resolve_$c]=$(load "outpost resolve ($1)" "$c" "$base$resolve_path" "Authorization: Bearer $token")
  done
  result[$1_statements]=$(( $(isolate d1_statements) - before_statements ))
  result[$1_requests]=$(( $(isolate requests) - before_requests - 1 ))
  say "D1 statements ($1): ${result[$1_statements]} for ${result[$1_requests]} resolves"
  for c in 1 32; do
    result[$1_noop_$c]=$(load "outpost /healthz ($1)" "$c" "$base/healthz")
  done
}
measure_outpost dev

# The same state served by workerd alone (no dev proxy).
kill -TERM -- "-$wrangler_pid" 2>/dev/null || true
for _ in $(seq 1 100); do curl -s -o /dev/null "$base/healthz" || break; sleep 0.1; done
port=$(free_port)
base="http://127.0.0.1:$port"
export OUTPOST_URL="$base"
set -m
node scripts/serve-workerd.mjs "$port" "$persist" "OUTPOST_BOOTSTRAP_SECRET=$bootstrap" \
  "OUTPOST_ONLINE_KEY=$(base64 -w0 <"$work/keys/online.pk8")" \
  "OUTPOST_DIRECTOR_KEY=$(base64 -w0 <"$work/keys/director.pk8")" >"$work/workerd.log" 2>&1 &
pids+=($!)
set +m
wait_for "$base/readyz"
measure_outpost workerd

for c in 1 32; do
  result[stock_resolve_$c]=$(load "mlflow alias (stock)" "$c" "$mlflow_url")
  result[best_resolve_$c]=$(load "mlflow alias (best)" "$c" "$mlflow_best_url")
  result[stock_noop_$c]=$(load "mlflow /health (stock)" "$c" "http://127.0.0.1:$mlflow_port/health")
  result[best_noop_$c]=$(load "mlflow /health (best)" "$c" "http://127.0.0.1:$mlflow_best_port/health")
done
per_thousand() { echo "scale=2; 1000 * ${result[$1_statements]} / ${result[$1_requests]}" | bc -l | sed 's/^\./0./'; }

# --- Pull: download + verify vs sha256sum -------------------------------------
say "pull: a $pull_mib MiB artifact"
big="$work/artifacts/big.bin"
head -c $((pull_mib << 20)) /dev/urandom >"$big"
"$outpost" model create big >/dev/null
"$outpost" push big "$big" --version 1.0.0 >/dev/null
"$outpost" release sign big 1.0.0 --key "$k/release.pk8" >/dev/null
"$outpost" promote big 1.0.0 --to staging >/dev/null
"$outpost" promote big 1.0.0 --to production >/dev/null
best() { # command…: the best of 3 wall-clock runs, in seconds
  local best="" t0 t1 t
  for _ in 1 2 3; do
    t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  echo "$best"
}
device_pull() {
  rm -rf "$work/device"
  "$outpost" pull bench/big@production --device-id device-1 --trust "$k/root.json" \
    --state "$work/device" -o "$work/pulled.bin"
}
sha_s=$(best sha256sum "$big")
pull_s=$(best device_pull)
cmp -s "$big" "$work/pulled.bin" || { say "the pulled file differs from the pushed one"; exit 1; }
mibs() { echo "scale=1; $pull_mib / $1" | bc -l; }
sha_mibs=$(mibs "$sha_s"); pull_mibs=$(mibs "$pull_s")
# Device-side verification alone: the installed file re-checked offline
# (native), and the bytes through the verify-only package's check (wasm).
verify_s=$(best "$outpost" verify --state "$work/device" --trust "$k/root.json" "$work/pulled.bin")
verify_mibs=$(mibs "$verify_s")
scripts/build-client.sh >&2
big_digest="sha256:$(sha256sum "$big" | cut -d' ' -f1)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
wasm_verify_mibs=$(node scripts/bench-verify.mjs "$target_dir/outpost-client-verify-pkg" "$big" "$big_digest")
startup_json=$(node scripts/bench-startup.mjs 2>/dev/null | tail -n 1)
startup_ms() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$startup_json" "$1"; }
registry_startup=$(startup_ms registry); inference_startup=$(startup_ms inference)
gz() { gzip -9c "$1" | wc -c; }
kb() { echo "scale=0; $1 / 1000" | bc; }
registry_raw=$(wc -c <worker/build/index_bg.wasm); registry_gz=$(gz worker/build/index_bg.wasm)
inference_raw=$(wc -c <worker/inference/build/index_bg.wasm); inference_gz=$(gz worker/inference/build/index_bg.wasm)
verify_pkg_gz=$(gz "$target_dir/outpost-client-verify-pkg/outpost_client_bg.wasm")
full_pkg_gz=$(gz "$target_dir/outpost-client-pkg/outpost_client_bg.wasm")

# --- The table -----------------------------------------------------------------
ratio() { echo "scale=2; $1 / $2" | bc -l | sed 's/^\./0./'; }
cell() { # key → "N req/s · p50 X ms · p99 Y ms"
  read -r rs p50 p99 <<<"${result[$1]}"
  echo "$rs req/s · p50 $p50 ms · p99 $p99 ms"
}
versus() { # outpost-key mlflow-key → ratios
  read -r ors op50 op99 <<<"${result[$1]}"
  read -r mrs mp50 mp99 <<<"${result[$2]}"
  echo "$(ratio "$ors" "$mrs")× · $(ratio "$op50" "$mp50")× · $(ratio "$op99" "$mp99")×"
}
row() { # what c
  echo "| $1, c=$2 | $(cell "dev_$1_$2") | $(cell "workerd_$1_$2") | $(cell "stock_$1_$2") | $(cell "best_$1_$2") | $(versus "workerd_$1_$2" "best_$1_$2") | $(versus "dev_$1_$2" "best_$1_$2") |"
}
section=$(mktemp)
cat >"$section" <<EOF
## Resolve vs MLflow alias lookup

$models models × $versions versions in each registry. Outpost: \`GET …/models/model-3/resolve?stage=production&device=device-42\`:
the token check and the stage's resolution plan (rollout, released digests) from the isolate's
cache, the routing bucket, and an ed25519 signature per request; D1 is read only when a kept
plan or token row is older than 5 s. Two local configurations on the same D1 and R2 state:
**workerd** alone serving the built Workers (\`scripts/serve-workerd.mjs\`, Miniflare's API with
the bindings of \`wrangler.toml\`, closest to Cloudflare's) and **wrangler dev** (its proxy Worker
in front). D1 statements the Worker prepared while resolving: $(per_thousand workerd) per 1 000
under workerd (${result[workerd_statements]} for ${result[workerd_requests]}), $(per_thousand dev) per 1 000 under
wrangler dev (${result[dev_statements]} for ${result[dev_requests]}); no writes. MLflow $mlflow_version:
\`GET /api/2.0/mlflow/registered-models/alias?name=model-3&alias=production\`, SQLite store,
**stock** (\`mlflow server\`, 4 uvicorn workers by default) and **best** here (2 workers,
keep-alive, TCP_NODELAY restored as uvicorn's pull request 3155 does). No-op: Outpost \`/healthz\`,
MLflow \`/health\`. Load: \`wrk\`, ${seconds} s per cell. Ratios: throughput · p50 · p99 (below 1×
is faster for latencies).

| case | Outpost, wrangler dev | Outpost, workerd | MLflow, stock | MLflow, best | workerd ÷ MLflow best | wrangler dev ÷ MLflow best |
| --- | --- | --- | --- | --- | --- | --- |
$(row resolve 1)
$(row resolve 32)
$(row noop 1)
$(row noop 32)

## Pull (download + verify) vs sha256sum

A $pull_mib MiB artifact, served by workerd. \`outpost pull bench/big@production --trust … --state …\` from a fresh
state: root, timestamp, snapshot, targets and the director's resolution verified, the body
streamed through SHA-256 to a temporary file, fsynced and renamed. \`sha256sum\` hashes the same
file from the page cache. Best of 3: the first pull fills the Workers Cache API and the others
are served from it, as a fleet's repeat downloads are.

| case | Outpost | sha256sum | Outpost ÷ sha256sum |
| --- | --- | --- | --- |
| pull, $pull_mib MiB | $pull_mibs MiB/s | $sha_mibs MiB/s | $(ratio "$pull_mibs" "$sha_mibs")× |
| verify installed file, native (\`outpost verify\`) | $verify_mibs MiB/s | $sha_mibs MiB/s | $(ratio "$verify_mibs" "$sha_mibs")× |
| verify bytes, wasm (\`verifyArtifact\` of @outpost/client-verify, Node) | $wasm_verify_mibs MiB/s | $sha_mibs MiB/s | $(ratio "$wasm_verify_mibs" "$sha_mibs")× |

## Worker and package sizes, start-up

Built by \`scripts/build-worker.sh\` and \`scripts/build-client.sh\` in this run. Start-up: a workerd
running only that Worker (\`scripts/bench-startup.mjs\`, Miniflare's API, in-memory storage), from
creation to its first \`/healthz\` answer — process start, compile, instantiation, the start event
and one request — median of 5. The inference Worker carries what every isolate carried before the
split (tract); the one Worker then was 3.69 MB gzipped.

| artifact | wasm | gzip -9 | start-up | ÷ inference Worker (gzip · start-up) |
| --- | --- | --- | --- | --- |
| registry Worker | $(kb "$registry_raw") KB | $(kb "$registry_gz") KB | $registry_startup ms | $(ratio "$registry_gz" "$inference_gz")× · $(ratio "$registry_startup" "$inference_startup")× |
| inference Worker | $(kb "$inference_raw") KB | $(kb "$inference_gz") KB | $inference_startup ms | 1× |
| @outpost/client-verify | | $(kb "$verify_pkg_gz") KB | | $(ratio "$verify_pkg_gz" "$inference_gz")× |
| @outpost/client | | $(kb "$full_pkg_gz") KB | | $(ratio "$full_pkg_gz" "$inference_gz")× |
EOF
scripts/bench-section.py registry "$section"
rm -f "$section"
