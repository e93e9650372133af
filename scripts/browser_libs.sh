#!/usr/bin/env bash
# Browser libraries from the npm registry, for the tests: installed into
# var/npm (git-ignored), never committed. Skips what is installed already.
# Used by scripts/test.sh; a test that needs a library it cannot find fails
# and says to run this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="var/npm"
# name@version, one per line.
LIBS=(
  "axe-core@4.10.3"   # accessibility checks in tests/stats/test_dashboard_browser.py
)
command -v npm >/dev/null 2>&1 || { echo "browser_libs: npm not found, skipping" >&2; exit 0; }
mkdir -p "$PREFIX"
for lib in "${LIBS[@]}"; do
  name="${lib%@*}"; version="${lib##*@}"
  installed="$PREFIX/node_modules/$name/package.json"
  if [ -f "$installed" ] && grep -q "\"version\": \"$version\"" "$installed"; then
    continue
  fi
  echo "==> installing $lib into $PREFIX"
  npm install --silent --no-audit --no-fund --prefix "$PREFIX" "$lib"
done
