#!/usr/bin/env bash
# Builds the web console (web/console): bundles web/console/src (Preact,
# uPlot, from npm) with esbuild into web/console/app.js and app.css, and
# copies the verify-only wasm client package (scripts/build-client.sh) to
# web/console/verify, which the audit page checks the hash chain with. No CDN:
# everything the console loads is served by the Worker. Fast; runs every time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
verify="$CARGO_TARGET_DIR/outpost-client-verify-pkg"
if [ ! -f "$verify/outpost_client.js" ]; then
  echo "build-console: $verify is missing: run scripts/build-client.sh first" >&2
  exit 1
fi
node_modules/.bin/esbuild web/console/src/main.jsx --bundle --format=esm --minify --sourcemap \
  --jsx=automatic --jsx-import-source=preact --target=es2022 --log-level=warning \
  --outfile=web/console/app.js
rm -rf web/console/verify
mkdir -p web/console/verify
cp "$verify/outpost_client.js" "$verify/outpost_client_bg.wasm" web/console/verify/
printf 'built the console: web/console/app.js (%s bytes, %s gzipped)\n' \
  "$(wc -c <web/console/app.js)" "$(gzip -9c web/console/app.js | wc -c)"
