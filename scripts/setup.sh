#!/usr/bin/env bash
# Installs exactly what building and testing Outpost needs and is missing:
# the wasm32 target, clang/lld (ring's C for wasm32), worker-build and
# wasm-bindgen-cli at the versions Cargo.lock pins, Debian's chromium for the
# browser tests, the npm packages (wrangler, esbuild, binaryen, playwright-core,
# onnxruntime-web, ...) with `npm ci`, python-tuf, schemathesis and the Python
# SDK's dependencies into .venv, then builds the SDK itself into .venv. On a ready machine it installs nothing and says so. Sources:
# crates.io, Debian, npm and PyPI only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

installed=()
say() { printf 'setup: %s\n' "$*"; }
need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Version of a package as locked in Cargo.lock.
locked_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# --- Rust toolchain pieces ---------------------------------------------------
command -v cargo >/dev/null || { say "cargo is missing: install Rust with rustup first"; exit 1; }

# One target directory per machine: a checkout without target/ (a fresh clone,
# CI's) gets a link to it, so the dependencies earlier runs compiled are reused
# and only what changed is built again (cargo's fingerprints decide what is
# stale; every checkout's own crates are kept apart by their paths). A checkout
# with a target/ of its own keeps it.
shared_target="${OUTPOST_SHARED_TARGET:-${XDG_CACHE_HOME:-$HOME/.cache}/outpost/target}"
if [ ! -e target ] && [ ! -L target ]; then
  mkdir -p "$shared_target"
  ln -s "$shared_target" target
  say "target/ links to $shared_target, the build directory every checkout on this machine shares"
fi
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "installing the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
  installed+=("wasm32 target")
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    say "installing rustup component $component"
    rustup component add "$component"
    installed+=("$component")
  fi
done

# --- Debian packages ---------------------------------------------------------
apt_packages=()
command -v clang >/dev/null || apt_packages+=(clang)
command -v wasm-ld >/dev/null || command -v lld >/dev/null || apt_packages+=(lld)
command -v curl >/dev/null || apt_packages+=(curl)
# Headless Chromium for the browser tests (driven by playwright-core from npm).
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
if [ ${#apt_packages[@]} -gt 0 ]; then
  say "installing Debian packages: ${apt_packages[*]}"
  need_root apt-get update -qq
  need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}"
  installed+=("${apt_packages[@]}")
fi

# --- cargo-installed tools, pinned to what Cargo.lock uses -------------------
cargo_tool() { # crate binary wanted-version
  local crate=$1 bin=$2 want=$3 have=""
  if command -v "$bin" >/dev/null; then
    have=$("$bin" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
  fi
  if [ "$have" != "$want" ]; then
    say "installing $crate $want (found: ${have:-none}); this takes a few minutes once"
    # The published lockfile first (reproducible); plain resolution if it
    # ever needs a newer rustc than this machine's.
    cargo install --quiet "$crate" --version "$want" --locked \
      || cargo install --quiet "$crate" --version "$want"
    installed+=("$crate $want")
  fi
}
cargo_tool worker-build worker-build "$(locked_version worker)"
cargo_tool wasm-bindgen-cli wasm-bindgen "$(locked_version wasm-bindgen)"

# --- npm packages ------------------------------------------------------------
command -v node >/dev/null || { say "node is missing: apt-get install nodejs npm (Node >= 20)"; exit 1; }
stamp=node_modules/.outpost-lock.sha256
want_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_sum" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want_sum" >"$stamp"
  installed+=("npm packages")
fi

# --- Python (PyPI): the reference TUF client for the interop test -------------
venv_stamp=.venv/.outpost-requirements.sha256
want_py=$(sha256sum tests/python/requirements.txt | cut -d' ' -f1)
if [ ! -f "$venv_stamp" ] || [ "$(cat "$venv_stamp")" != "$want_py" ]; then
  say "installing Python packages into .venv (tests/python/requirements.txt)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  echo "$want_py" >"$venv_stamp"
  installed+=("python packages")
fi

# --- the Python SDK (crates/outpost-py) into .venv -----------------------------
# Built, not downloaded: maturin compiles the PyO3 module (debug profile, so it
# shares target/debug with the CLI) and installs the package in place. Cargo
# makes this a no-op when nothing changed.
say "building the Python SDK into .venv (maturin develop)"
VIRTUAL_ENV="$root/.venv" .venv/bin/maturin develop --locked --quiet -m crates/outpost-py/Cargo.toml

if [ ${#installed[@]} -eq 0 ]; then
  say "everything is already installed"
else
  say "installed: ${installed[*]}"
fi
