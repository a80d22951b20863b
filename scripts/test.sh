#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests, a fuzz smoke run, the Workers
# and client package builds (wasm32), the wasm client under Node (inference
# conformance included), and end-to-end tests against real local Workers (wrangler dev:
# workerd + local D1 + local R2), the client package under Node and the demo
# page and the web console in headless Chromium, and the Python SDK's pytest
# suite among them. Installs what is missing first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

logs=$(mktemp -d)
# End-to-end Workers run in their own process groups; the harness lists them
# here so that none outlives this script, whatever way it ends.
export OUTPOST_E2E_PIDDIR="$logs/pids"
mkdir -p "$OUTPOST_E2E_PIDDIR"
cleanup() {
  local pid
  for file in "$OUTPOST_E2E_PIDDIR"/*; do
    [ -e "$file" ] || continue
    pid=$(basename "$file")
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$SECONDS
# Each step says when it starts, so the run's budget can be read off the log.
step() { printf '\n== %s (at %ss)\n' "$*" "$((SECONDS - started))"; }

step "setup"
scripts/setup.sh

step "format"
cargo fmt --all -- --check

step "clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The operations Worker's build of the Worker crate (backups, restores).
cargo clippy -p outpost-worker --all-targets --locked --features operations -- -D warnings

step "unit and doc tests"
cargo test --workspace --exclude outpost-e2e --locked 2>&1 | tee "$logs/unit.log"

step "fuzz smoke run (the targets without the ONNX runtime, 5 s each; scripts/fuzz.sh)"
scripts/fuzz.sh --smoke 2>&1 | tee "$logs/fuzz.log" | grep -v '^ *\(Compiling\|Finished\|Running\)'

step "Workers build (registry, operations and inference)"
scripts/build-worker.sh

step "wasm client packages (target/outpost-client-pkg → web/pkg, target/outpost-client-verify-pkg)"
scripts/build-client.sh

step "web console (web/console/app.js, esbuild)"
scripts/build-console.sh

# The client's own tests, under Node, on the release wasm32 build the
# packages were made from (Node bindings of the same module; build-client.sh
# builds the full client last).
step "wasm client under Node"
cargo build --quiet --locked --release --target wasm32-unknown-unknown -p outpost-client
wasm-bindgen --target nodejs --out-dir "$CARGO_TARGET_DIR/outpost-client-node" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/outpost_client.wasm"
OUTPOST_CLIENT_PKG="$CARGO_TARGET_DIR/outpost-client-node" \
  node --test --test-reporter=spec tests/node/ 2>&1 | tee "$logs/node.log"

step "end-to-end tests against the local Worker"
cargo build --locked --bin outpost
cargo test --locked -p outpost-e2e 2>&1 | tee "$logs/e2e.log"

# One closing line over every runner above.
passed=$(cat "$logs"/unit.log "$logs"/e2e.log | awk '/^test result:/ { sum += $4 } END { print sum + 0 }')
failed=$(cat "$logs"/unit.log "$logs"/e2e.log | awk '/^test result:/ { sum += $6 } END { print sum + 0 }')
node_passed=$(awk '/^ℹ pass / { print $3 }' "$logs/node.log" | tail -n 1)
node_failed=$(awk '/^ℹ fail / { print $3 }' "$logs/node.log" | tail -n 1)
printf '\nall tests finished in %ss\n' "$((SECONDS - started))"
printf 'total: %d passed, %d failed\n' "$((passed + ${node_passed:-0}))" "$((failed + ${node_failed:-0}))"
