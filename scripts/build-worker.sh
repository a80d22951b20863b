#!/usr/bin/env bash
# Builds the Worker (worker/ → worker/build/worker/shim.mjs + wasm) with
# worker-build, pointing it at locally installed tools instead of letting it
# download them (these machines reach only the package registries).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
# One target/ for the whole workspace: the Worker shares its dependencies'
# build artifacts with everything else.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

cd worker
worker-build --release "$@"
wasm="$root/worker/build/index_bg.wasm"
[ -f "$wasm" ] || wasm=$(find "$root/worker/build" -name '*.wasm' | head -n 1)
printf 'built the Worker: %s (%s bytes, %s bytes gzipped)\n' \
  "${wasm#"$root"/}" "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)"
