#!/usr/bin/env bash
# The compression part of scripts/bench.sh: compressed delivery (gzip copies,
# outpost_core::content_coding) against identity, for the fixture models — a
# tree ensemble, an isolation forest, an MLP, a CNN — and two of about 50 MB
# generated here (a random forest, and an MLP of float32 weights), on one local
# Worker in one run:
#
#  - bytes on the wire: a whole GET of the artifact accepting gzip vs accepting
#    only identity (curl, --compressed off: the bytes as sent);
#  - end-to-end pull time: `outpost pull` (download, decode, hash, install)
#    from an organisation where `outpost push` kept a gzip copy vs one where
#    it was pushed with --no-compress (identity), best of 5; and the same
#    download + decode + sha256 through curl on a link limited to 10 MB/s
#    (--limit-rate), where the bytes saved show as time.
#
# Usage: BENCH_PARTS=compression scripts/bench.sh (a few minutes, most of it
# building and generating the large models).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true
say() { printf 'bench: %s\n' "$*" >&2; }

scripts/setup.sh >&2
scripts/build-worker.sh >&2
cargo build --quiet --locked --release --bin outpost
outpost="$root/target/release/outpost"
python="$root/.venv/bin/python"

work=$(mktemp -d /tmp/outpost-bench-compression.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- The models ---------------------------------------------------------------
mkdir -p "$work/models"
cp tests/data/conformance/random_forest_classifier.onnx "$work/models/trees.onnx"
cp tests/data/conformance/isolation_forest.onnx "$work/models/isolation-forest.onnx"
cp tests/data/conformance/mlp.onnx "$work/models/mlp.onnx"
cp tests/data/conformance/cnn.onnx "$work/models/cnn.onnx"
say "generating two models of about 50 MB (scikit-learn + skl2onnx, onnx)"
"$python" - "$work/models" <<'PY'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestRegressor

out = sys.argv[1]
rng = np.random.default_rng(7)
x = rng.normal(size=(20000, 10)).astype(np.float32)
y = x[:, 0] * 3 + np.sin(x[:, 1]) + rng.normal(scale=0.5, size=20000)
def forest(trees):
    model = RandomForestRegressor(n_estimators=trees, random_state=0, n_jobs=2).fit(x, y)
    return to_onnx(model, x[:1]).SerializeToString()
one = len(forest(1))
trees = max(1, round(50e6 / one))
with open(f"{out}/forest-50mb.onnx", "wb") as f:
    f.write(forest(trees))
# Two dense layers of float32 weights (trained weights look this random to deflate).
width = 3535
w1 = numpy_helper.from_array(rng.normal(scale=0.05, size=(10, width)).astype(np.float32), "w1")
w2 = numpy_helper.from_array(rng.normal(scale=0.05, size=(width, width)).astype(np.float32), "w2")
w3 = numpy_helper.from_array(rng.normal(scale=0.05, size=(width, 1)).astype(np.float32), "w3")
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w1"], ["h1"]), helper.make_node("Relu", ["h1"], ["r1"]),
     helper.make_node("MatMul", ["r1", "w2"], ["h2"]), helper.make_node("Relu", ["h2"], ["r2"]),
     helper.make_node("MatMul", ["r2", "w3"], ["y"])],
    "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 10])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])], [w1, w2, w3])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), f"{out}/mlp-50mb-weights.onnx")
PY

# --- The local Worker, fresh state ----------------------------------------------
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
pids+=($!)
set +m
for _ in $(seq 1 900); do curl -sf -o /dev/null "$base/readyz" && break; sleep 0.2; done

export OUTPOST_CONFIG="$work/outpost.toml" OUTPOST_URL="$base"
"$outpost" admin init --new-org gz --bootstrap-secret "$bootstrap" --save-profile gz >/dev/null
"$outpost" admin init --new-org plain --bootstrap-secret "$bootstrap" --save-profile plain >/dev/null
token() { python3 -c "import sys, tomllib; print(tomllib.load(open(sys.argv[1], 'rb'))['profiles'][sys.argv[2]]['token'])" "$OUTPOST_CONFIG" "$1"; }
gz_token=$(token gz)

best() { # runs command… 5 times; the fastest wall-clock time, in ms
  local best="" t0 t1 t
  for _ in 1 2 3 4 5; do
    t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
    t=$(( (t1 - t0) / 1000 ))
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  echo "scale=1; $best / 1000" | bc -l | sed 's/^\./0./'
}
ratio() { echo "scale=2; $1 / $2" | bc -l | sed 's/^\./0./'; }
human() { # bytes
  if [ "$1" -ge 1000000 ]; then echo "$(echo "scale=1; $1 / 1000000" | bc -l) MB"
  elif [ "$1" -ge 1000 ]; then echo "$(echo "scale=1; $1 / 1000" | bc -l) KB"
  else echo "$1 B"; fi
}
wire() { # url accept → bytes received
  curl -s -o /dev/null -w '%{size_download}' -H "authorization: Bearer $gz_token" -H "accept-encoding: $2" "$1"
}
limited() { # url accept: download at 10 MB/s, decode if coded, hash
  if [ "$2" = gzip ]; then
    curl -s --limit-rate 10M -H "authorization: Bearer $gz_token" -H "accept-encoding: gzip" "$1" | gzip -dc | sha256sum
  else
    curl -s --limit-rate 10M -H "authorization: Bearer $gz_token" -H "accept-encoding: identity" "$1" | sha256sum
  fi
}

rows=""
for file in "$work"/models/*.onnx; do
  name=$(basename "$file" .onnx)
  size=$(wc -c <"$file")
  hex=$(sha256sum "$file" | cut -d' ' -f1)
  say "$name ($size bytes)"
  for org in gz plain; do
    OUTPOST_PROFILE=$org "$outpost" model create "$name" >/dev/null
  done
  copy=$(OUTPOST_PROFILE=gz "$outpost" push "$name" "$file" --version 1.0.0 | sed -n 's/^  gzip copy: \([0-9]*\) bytes.*/\1/p')
  OUTPOST_PROFILE=plain "$outpost" push "$name" "$file" --version 1.0.0 --no-compress >/dev/null
  url="$base/v1/orgs/gz/blobs/sha256/$hex"
  on_wire=$(wire "$url" gzip)
  identity=$(wire "$url" identity)
  gz_pull=$(best env OUTPOST_PROFILE=gz "$outpost" pull "$name" --version 1.0.0 -o "$work/pulled")
  cmp -s "$file" "$work/pulled" || { say "$name: the pulled file differs"; exit 1; }
  plain_pull=$(best env OUTPOST_PROFILE=plain "$outpost" pull "$name" --version 1.0.0 -o "$work/pulled")
  gz_limited=$(best limited "$url" gzip)
  plain_limited=$(best limited "$url" identity)
  kept=${copy:+$(human "$copy")}
  rows+="| $name | $(human "$size") | ${kept:-not kept} | $(human "$on_wire") · $(human "$identity") · $(ratio "$on_wire" "$identity")× | $gz_pull · $plain_pull ms · $(ratio "$gz_pull" "$plain_pull")× | $gz_limited · $plain_limited ms · $(ratio "$gz_limited" "$plain_limited")× |
"
done

section=$(mktemp)
cat >"$section" <<EOF
## Compressed delivery vs identity

One local Worker (wrangler dev). Each model pushed twice: into an organisation where
\`outpost push\` made and offered a gzip copy (kept when it saves at least 1/16 and 512 bytes; a
model over 4 MiB whose first MiB does not compress is not compressed whole), and into one with
\`--no-compress\`. **Wire**: the bytes a whole GET sends to a client accepting gzip · accepting
only identity (curl, not decoded). **Pull**: \`outpost pull\` (download, gzip decoding when sent
coded, SHA-256, install) from each organisation, best of 5, over loopback, where bandwidth is
nearly free and decoding is the cost. **10 MB/s**: curl limited to 10 MB/s, then \`gzip -dc\`
when coded, then \`sha256sum\`, best of 5: where the bytes saved show as time. The two 50 MB
models are generated in the run: a scikit-learn random forest (skl2onnx) and two dense layers
of float32 weights, which deflate barely compresses. Ratios below 1× mean compressed delivery
is smaller or faster.

| model | size | gzip copy | wire: gzip · identity · ratio | pull: gzip · identity · ratio | 10 MB/s: gzip · identity · ratio |
| --- | --- | --- | --- | --- | --- |
${rows}
EOF
scripts/bench-section.py compression "$section"
rm -f "$section"
