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

# Skip the build (wasm-bindgen and a minutes-long wasm-opt) when nothing that
# goes into the Worker changed since the last one.
fingerprint() {
  {
    worker-build --version
    sha256sum Cargo.lock Cargo.toml "$0"
    sha256sum worker/openapi.json
    find worker/src worker/Cargo.toml crates/outpost-core crates/outpost-infer crates/outpost-registry \
      -type f \( -name '*.rs' -o -name 'Cargo.toml' \) -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}
stamp=worker/build/.inputs.sha256
want=$(fingerprint)
if [ $# -eq 0 ] && [ -f worker/build/worker/shim.mjs ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "the Worker is up to date (worker/build); nothing to build"
  exit 0
fi

cd worker
worker-build --release "$@"
cd "$root"
echo "$want" >"$stamp"
wasm="$root/worker/build/index_bg.wasm"
[ -f "$wasm" ] || wasm=$(find "$root/worker/build" -name '*.wasm' | head -n 1)
printf 'built the Worker: %s (%s bytes, %s bytes gzipped)\n' \
  "${wasm#"$root"/}" "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)"
