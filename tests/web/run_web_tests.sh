#!/usr/bin/env bash
# Runs the web tests (tests/web/*.test.mjs) with node's test runner, after
# making sure of what they need:
#   - Node >= 20 (else node@20 from the npm registry into the cache),
#   - the npm packages pinned in package.json / package-lock.json, installed
#     into a cache folder outside the repo (never a node_modules in the tree),
#   - with --browser: Debian's chromium (apt-get install when root; when it
#     cannot be had, exit 77 so ctest reports the test as skipped).
#
# Usage: run_web_tests.sh [--browser] TEST.mjs...
# Environment: PLEXUS_BIN (the plexus binary), PLEXUS_SHARED (shared data),
#   PLEXUS_WEB_OUT (screenshots), PLEXUS_WEB_CACHE (default ~/.cache/plexus-web-tests).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
browser=0
tests=()
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    *) tests+=("$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")") ;;
  esac
done
[[ ${#tests[@]} -gt 0 ]] || { echo "usage: $0 [--browser] TEST.mjs..." >&2; exit 2; }

cache=${PLEXUS_WEB_CACHE:-${HOME:-/tmp}/.cache/plexus-web-tests}
mkdir -p "$cache"
skip() { echo "SKIP: $*" >&2; exit 77; }

# Several ctest jobs may set up at once: one at a time through a lock.
exec 9>"$cache/.lock"
flock -w 1200 9 || { echo "run_web_tests: timed out waiting for $cache/.lock" >&2; exit 1; }

node_major() { "$1" --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'; }

# --- Node >= 20 ---
if [[ -x "$cache/node20/node_modules/.bin/node" ]]; then
  export PATH="$cache/node20/node_modules/.bin:$PATH"
fi
if ! command -v node >/dev/null || [[ $(node_major node) -lt 20 ]]; then
  if ! command -v npm >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >&2; } || true
    fi
    command -v npm >/dev/null || skip "no npm to install Node 20 with"
  fi
  echo "run_web_tests: node $(node --version 2>/dev/null || echo missing) is too old; installing node@20" >&2
  npm install --no-audit --no-fund --prefix "$cache/node20" node@20 >&2
  export PATH="$cache/node20/node_modules/.bin:$PATH"
  [[ $(node_major node) -ge 20 ]] || { echo "run_web_tests: node@20 did not install" >&2; exit 1; }
fi

# --- npm packages, pinned by the lock file, outside the repo ---
modules="$cache/modules"
mkdir -p "$modules"
stamp=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)
if [[ ! -d "$modules/node_modules" || "$(cat "$modules/.stamp" 2>/dev/null)" != "$stamp" ]]; then
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  (cd "$modules" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" > "$modules/.stamp"
fi

# --- Chromium (Debian's) ---
if [[ $browser -eq 1 && ! -x "${PLEXUS_CHROMIUM:-/usr/bin/chromium}" ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "run_web_tests: installing chromium" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2 ||
      { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2; } || true
  fi
  [[ -x "${PLEXUS_CHROMIUM:-/usr/bin/chromium}" ]] || skip "no ${PLEXUS_CHROMIUM:-/usr/bin/chromium} and it cannot be installed here"
fi
flock -u 9

export PLEXUS_WEB_MODULES="$modules/node_modules"
export PLEXUS_WEB_OUT="${PLEXUS_WEB_OUT:-$cache/out}"
echo "run_web_tests: node $(node --version), screenshots in $PLEXUS_WEB_OUT" >&2
exec node --test --test-reporter=spec "${tests[@]}"
