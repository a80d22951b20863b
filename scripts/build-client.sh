#!/usr/bin/env bash
# Builds the wasm client as two npm-style packages, each an ES module
# (wasm-bindgen --target web) with its .wasm run through wasm-opt, TypeScript
# types, the stores and a package.json:
#   target/outpost-client-pkg         @outpost/client: verify, load and run
#                                     (tract); copied to web/pkg, where the
#                                     Worker serves it to the demo page
#   target/outpost-client-verify-pkg  @outpost/client-verify: resolve, fetch,
#                                     every trust check, hashing and drift,
#                                     no runtime (devices that bring their own)
# What is built is what ships: dev, tests and the benchmark use these files.
# Skips everything when none of the inputs changed since the last build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
full="$CARGO_TARGET_DIR/outpost-client-pkg"
verify="$CARGO_TARGET_DIR/outpost-client-verify-pkg"

want=$({
  wasm-bindgen --version
  node_modules/.bin/wasm-opt --version
  sha256sum Cargo.lock Cargo.toml "$0"
  find crates/outpost-client crates/outpost-core/src crates/outpost-core/Cargo.toml \
    crates/outpost-infer/src crates/outpost-infer/Cargo.toml -type f \
    \( -name '*.rs' -o -name 'Cargo.toml' -o -name '*.js' -o -name '*.ts' \) -print0 |
    sort -z | xargs -0 sha256sum
} | sha256sum | cut -d' ' -f1)
stamp="$CARGO_TARGET_DIR/outpost-client.inputs.sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$full/package.json" ] &&
  [ -f "$verify/package.json" ] && [ -f web/pkg/outpost_client.js ]; then
  echo "the wasm client packages are up to date ($full, $verify); nothing to build"
  exit 0
fi

# package OUT NAME DESCRIPTION CARGO-ARGS...
package() {
  local out=$1 name=$2 description=$3
  shift 3
  cargo build --quiet --locked --release --target wasm32-unknown-unknown -p outpost-client "$@"
  rm -rf "$out"
  wasm-bindgen --target web --out-dir "$out" \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/outpost_client.wasm"
  local wasm="$out/outpost_client_bg.wasm"
  node_modules/.bin/wasm-opt -Os --enable-bulk-memory --enable-sign-ext \
    --enable-nontrapping-float-to-int --enable-mutable-globals --enable-multivalue \
    --enable-reference-types "$wasm" -o "$wasm"
  cp crates/outpost-client/js/stores.js crates/outpost-client/js/stores.d.ts "$out/"
  local version
  version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
  cat >"$out/package.json" <<JSON
{
  "name": "$name",
  "version": "$version",
  "description": "$description",
  "type": "module",
  "main": "outpost_client.js",
  "types": "outpost_client.d.ts",
  "exports": {
    ".": { "types": "./outpost_client.d.ts", "default": "./outpost_client.js" },
    "./stores": { "types": "./stores.d.ts", "default": "./stores.js" },
    "./outpost_client_bg.wasm": "./outpost_client_bg.wasm"
  },
  "files": ["outpost_client.js", "outpost_client.d.ts", "outpost_client_bg.wasm", "outpost_client_bg.wasm.d.ts", "stores.js", "stores.d.ts"],
  "license": "Apache-2.0",
  "sideEffects": false
}
JSON
  printf 'built %s: %s (%s bytes, %s gzipped)\n' "$name" "${out#"$root"/}" \
    "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)"
}

package "$verify" "@outpost/client-verify" \
  "Resolve, fetch and verify signed models from an Outpost registry (no model runtime) in browsers, Node and Workers." \
  --no-default-features
package "$full" "@outpost/client" \
  "Fetch, verify and run signed models from an Outpost registry in browsers, Node and Workers."
rm -rf web/pkg
cp -r "$full" web/pkg
echo "$want" >"$stamp"
echo "copied @outpost/client to web/pkg"
