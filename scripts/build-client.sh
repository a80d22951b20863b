#!/usr/bin/env bash
# Builds the wasm client as an npm-style package in target/outpost-client-pkg:
# an ES module (wasm-bindgen --target web) with its .wasm, TypeScript types,
# the stores, and a package.json; and copies it to web/pkg, where the Worker
# serves it to the demo page. CLIENT_WASM_OPT=1 also runs wasm-opt (minutes;
# what a release would ship).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

cargo build --quiet --locked --release --target wasm32-unknown-unknown -p outpost-client
out="$CARGO_TARGET_DIR/outpost-client-pkg"
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/outpost_client.wasm"
if [ "${CLIENT_WASM_OPT:-0}" = 1 ]; then
  node_modules/.bin/wasm-opt -Os --enable-bulk-memory --enable-sign-ext \
    --enable-nontrapping-float-to-int --enable-mutable-globals --enable-multivalue \
    --enable-reference-types "$out/outpost_client_bg.wasm" -o "$out/outpost_client_bg.wasm"
fi
cp crates/outpost-client/js/stores.js crates/outpost-client/js/stores.d.ts "$out/"
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
cat >"$out/package.json" <<JSON
{
  "name": "@outpost/client",
  "version": "$version",
  "description": "Fetch, verify and run signed models from an Outpost registry in browsers, Node and Workers.",
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
rm -rf web/pkg
cp -r "$out" web/pkg
wasm="$out/outpost_client_bg.wasm"
printf 'built the wasm client package: %s (%s bytes, %s gzipped); copied to web/pkg\n' \
  "${out#"$root"/}" "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)"
