#!/usr/bin/env bash
# Measures Outpost against peers on this machine and writes the tables in
# docs/benchmarks.md. Every figure is a ratio against a peer measured in the
# same run; nothing here is a pass/fail threshold, and nothing here runs in CI.
#
#  registry   resolve vs MLflow's alias lookup, device pull vs sha256sum
#             (scripts/bench-registry.sh; about 5 minutes once MLflow is installed)
#  inference  outpost-infer (tract) as wasm32 with simd128 vs onnxruntime-web's
#             wasm backend (1 thread) in one Node process, plus native tract, on
#             the conformance fixtures; the inference build's size
#             (scripts/bench-inference.sh; a few minutes, most of it building)
#  compression  gzip copies vs identity: bytes on the wire and pull time for the
#             fixture models and two of 50 MB (scripts/bench-compression.sh; a few minutes)
#  drift      a drift report over 20 features x 10 000 samples: outpost-core
#             native and as wasm32 (Node) vs scipy on the same data
#             (scripts/bench-drift.sh; a minute once scipy is installed)
#
# Usage: scripts/bench.sh                     every part
#        BENCH_PARTS=inference scripts/bench.sh   only some parts
# Each part rewrites only its own section of docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
parts=${BENCH_PARTS:-registry inference compression drift}
for part in $parts; do
  case "$part" in
    registry) scripts/bench-registry.sh ;;
    inference) scripts/bench-inference.sh ;;
    compression) scripts/bench-compression.sh ;;
    drift) scripts/bench-drift.sh ;;
    *) echo "bench: unknown part '$part'; the parts are: registry inference compression drift" >&2; exit 2 ;;
  esac
done
cat docs/benchmarks.md
