#!/usr/bin/env bash
# Builds Outpost's three Workers with worker-build, pointing it at locally
# installed tools instead of letting it download them (these machines reach
# only the package registries):
#   worker/            → worker/build/worker/shim.mjs            (registry; no tract)
#   worker/ (operations feature)
#                      → worker/build-operations/worker/shim.mjs (backups, restores)
#   worker/inference/  → worker/inference/build/worker/shim.mjs  (inference; tract)
# Extra arguments go to both worker-build runs and force a rebuild.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
# One target/ for the whole workspace: the Workers share their dependencies'
# build artifacts with everything else.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

# build LABEL DIR OUT INPUTS...: builds the crate in DIR into DIR/OUT with
# the cargo arguments in \${cargo_args[@]}; skips the build (wasm-bindgen and
# a wasm-opt that can take minutes) when none of INPUTS changed since the
# last one.
build() {
  local label=$1 dir=$2 out=$3
  shift 3
  local want stamp="$dir/$out/.inputs.sha256"
  want=$({
    worker-build --version
    echo "${cargo_args[@]+"${cargo_args[@]}"}"
    sha256sum Cargo.lock Cargo.toml "$0"
    find "$@" -type f \( -name '*.rs' -o -name 'Cargo.toml' \) -print0 |
      sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1)
  if [ "$forced" = 0 ] && [ -f "$dir/$out/worker/shim.mjs" ] && [ -f "$stamp" ] &&
    [ "$(cat "$stamp")" = "$want" ]; then
    echo "the $label Worker is up to date ($dir/$out); nothing to build"
    return
  fi
  (cd "$dir" && env "${profile[@]}" worker-build --release --out-dir "$out" ${extra[@]+"${extra[@]}"} \
    . ${cargo_args[@]+"${cargo_args[@]}"})
  local wasm
  wasm=$(find "$root/$dir/$out" -name '*.wasm' | head -n 1)
  # The `name` section (function names for stack traces: an eighth of the
  # registry Worker, gzipped) is not needed to run, and Cloudflare's size
  # limit counts it: binaryen's wasm-opt drops it and nothing else. Panics
  # still log their message and location (console_error_panic_hook).
  "$WASM_OPT_BIN" "$wasm" --strip-debug -o "$wasm"
  echo "$want" >"$stamp"
  printf 'built the %s Worker: %s (%s bytes, %s bytes gzipped)\n' "$label" \
    "${wasm#"$root"/}" "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)"
}

extra=("$@")
forced=$(( $# > 0 ))
# The registry Worker is built whole-program (one codegen unit, fat LTO) at
# opt-level "z": smaller than the default release profile, with its
# dependencies' artifacts kept apart from it so that neither invalidates the
# other. With encryption at rest (AES-GCM and its streaming) "s" came to
# 1.017 MB gzipped, over issue 15's 1 MB goal; "z" is 0.93 MB. ring's C
# (ed25519 signing on every resolve, SHA-256, AES) stays at "s"
# ([profile.release.package.ring] in Cargo.toml).
profile=(CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1)
cargo_args=()
build registry worker build worker/src worker/Cargo.toml \
  crates/outpost-core crates/outpost-infer crates/outpost-registry
# The operations Worker (worker/wrangler.operations.toml): the same crate
# with backups and restores, which the registry Worker forwards to it.
cargo_args=(--features operations)
build operations worker build-operations worker/src worker/Cargo.toml \
  crates/outpost-core crates/outpost-infer crates/outpost-registry
cargo_args=()
profile=()
build inference worker/inference build worker/inference/src worker/inference/Cargo.toml \
  crates/outpost-core crates/outpost-infer
