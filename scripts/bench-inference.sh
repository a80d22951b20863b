#!/usr/bin/env bash
# The inference part of scripts/bench.sh: per conformance fixture, tract
# (outpost-infer through the wasm client, built for wasm32 with simd128)
# against onnxruntime-web's wasm backend with one thread, in the same Node
# process: median per-call latency on one row and on the fixture's batch after
# warm-up, and load + optimise time. Native tract beside them, and the size of
# the inference build (raw and gzip). Writes its section of docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf 'bench: %s\n' "$*" >&2; }

scripts/setup.sh >&2
models="isolation_forest random_forest_classifier random_forest_binary random_forest_regressor gradient_boosting_classifier gradient_boosting_multiclass gradient_boosting_regressor logistic_regression standard_scaler_pipeline imputer_pipeline mlp cnn"

# simd128 changes every crate's code: its own target directory, so that the
# shared one (tests, the Worker) is not rebuilt back and forth.
simd_target="$root/target/bench-simd"
say "building the wasm client with simd128 (release)"
RUSTFLAGS="-C target-feature=+simd128" CARGO_TARGET_DIR="$simd_target" \
  cargo build --quiet --locked --release --target wasm32-unknown-unknown -p outpost-client
pkg="$simd_target/outpost-client-node"
wasm-bindgen --target nodejs --out-dir "$pkg" "$simd_target/wasm32-unknown-unknown/release/outpost_client.wasm"
raw="$pkg/outpost_client_bg.wasm"
opt="$pkg/outpost_client_bg.opt.wasm"
node_modules/.bin/wasm-opt -Os --enable-simd --enable-bulk-memory --enable-sign-ext \
  --enable-nontrapping-float-to-int --enable-mutable-globals --enable-multivalue \
  --enable-reference-types "$raw" -o "$opt"
cp "$opt" "$raw" # benchmark what would ship
ort_wasm=node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm
sizes=$(mktemp)
size_row() { printf '{"label": "%s", "raw": %s, "gzip": %s}' "$1" "$(wc -c <"$2")" "$(gzip -9c "$2" | wc -c)"; }
{
  echo "["
  size_row "outpost-client, wasm-bindgen output" "$simd_target/wasm32-unknown-unknown/release/outpost_client.wasm"; echo ","
  size_row "outpost-client, after wasm-opt -Os (benchmarked)" "$opt"; echo ","
  size_row "onnxruntime-web 1.30.0 ort-wasm-simd-threaded.wasm (for scale)" "$ort_wasm"
  echo "]"
} >"$sizes"

say "native timings"
native=$(mktemp)
# shellcheck disable=SC2086 # the model names are words
cargo run --quiet --locked --release --example bench -p outpost-infer -- tests/data/conformance $models >"$native"

say "wasm timings (tract and onnxruntime-web in one Node process)"
section=$(mktemp)
# shellcheck disable=SC2086
{
  cat <<EOF
## Inference: tract (wasm32, simd128) vs onnxruntime-web

Per fixture of \`tests/data/conformance\` (the models \`scripts/gen-conformance.py\` exports), in
one Node $(node --version) process: \`Model.load\` / \`model.run\` of the wasm client
(outpost-infer on tract-onnx 0.23 with Outpost's ai.onnx.ml operators, built with simd128 and
wasm-opt; \`run\` takes and returns typed arrays) beside onnxruntime-web 1.30.0's wasm backend
with one thread (\`InferenceSession.run\` on prepared tensors). \`model.predict\`, which takes
and returns plain JS objects of nested arrays, is shown for its conversion cost. Median per call after 20 warm-up calls, over up to 2 000 calls or one second.
Native tract: the same code compiled for this machine (\`cargo run --release --example bench -p outpost-infer\`).
The headline is the ratio: below 1× tract is faster.

EOF
  node scripts/bench-inference.mjs "$pkg" "$native" "$sizes" $models
} >"$section"
scripts/bench-section.py inference "$section"
rm -f "$section" "$native" "$sizes"
