#!/usr/bin/env bash
# Runs the cargo-fuzz targets of tests/fuzz/ (libFuzzer with AddressSanitizer,
# nightly toolchain), each for a given time, starting from the committed
# corpus (tests/fuzz/corpus/TARGET) and keeping what it finds under
# target/fuzz-corpus/TARGET. Prints executions per target and fails on any
# crash, leak, timeout or out-of-memory (the input is kept under
# tests/fuzz/artifacts/TARGET; make it a regression test).
#
#   scripts/fuzz.sh                      every target, 60 s each
#   scripts/fuzz.sh --seconds 600 onnx_load pickle_scan
#   scripts/fuzz.sh --smoke              what scripts/test.sh runs: the
#                                        targets that need no ONNX runtime
#                                        (a build without tract), 5 s each
#   scripts/fuzz.sh --list
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Every [[bin]] of tests/fuzz/Cargo.toml: "name needs-infer(0/1)".
bins() {
  awk -F'"' '
    /^\[\[bin\]\]/ { if (name != "") print name, infer; name = ""; infer = 0; inbin = 1; next }
    /^\[/ { if (name != "") print name, infer; name = ""; inbin = 0; next }
    inbin && /^name = / { name = $2 }
    inbin && /^required-features/ { infer = 1 }
    END { if (name != "") print name, infer }
  ' tests/fuzz/Cargo.toml
}

seconds=60
smoke=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --smoke) smoke=1; seconds=5; shift ;;
    --list) bins | awk '{ print $1 ($2 == 1 ? " (needs the ONNX runtime)" : "") }'; exit 0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
features=()
if [ ${#targets[@]} -eq 0 ]; then
  if [ "$smoke" -eq 1 ]; then
    mapfile -t targets < <(bins | awk '$2 == 0 { print $1 }')
    features=(--no-default-features)
  else
    mapfile -t targets < <(bins | awk '{ print $1 }')
  fi
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: libFuzzer needs the nightly toolchain, which this machine lacks (rustup toolchain install nightly)" >&2
  exit 1
fi
want=$(awk '$0 == "name = \"cargo-fuzz\"" { getline; gsub(/version = |"/, ""); print; exit }' tests/fuzz/tools.lock)
have=$(cargo fuzz --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
if [ "$have" != "$want" ]; then
  echo "fuzz: installing cargo-fuzz $want (crates.io; found: ${have:-none})"
  cargo install --quiet cargo-fuzz --version "$want" --locked
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Its own target directory (sanitizer flags differ from every other build),
# under the workspace's, so one `target/` holds everything.
fuzz_target_dir="$root/target/fuzz"
echo "fuzz: building ${#targets[@]} targets (nightly, AddressSanitizer)"
for target in "${targets[@]}"; do
  cargo +nightly fuzz build --fuzz-dir tests/fuzz --target-dir "$fuzz_target_dir" "${features[@]}" "$target"
done

failed=0
summary=()
for target in "${targets[@]}"; do
  corpus="$root/target/fuzz-corpus/$target"
  seeds="$root/tests/fuzz/corpus/$target"
  mkdir -p "$corpus" "$seeds" "tests/fuzz/artifacts/$target"
  log=$(mktemp)
  if cargo +nightly fuzz run --fuzz-dir tests/fuzz --target-dir "$fuzz_target_dir" "${features[@]}" "$target" \
      "$corpus" "$seeds" -- \
      -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=65536 \
      -print_final_stats=1 >"$log" 2>&1; then
    outcome=ok
  else
    outcome=FAILED
    failed=1
    tail -n 40 "$log" >&2
  fi
  runs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log" | tail -n 1)
  summary+=("$(printf '%-22s %12s executions in %4ss  %s' "$target" "${runs:-?}" "$seconds" "$outcome")")
  rm -f "$log"
done
printf '\nfuzz summary\n'
printf '  %s\n' "${summary[@]}"
exit "$failed"
