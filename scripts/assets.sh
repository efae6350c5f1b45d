#!/usr/bin/env bash
# Browser assets for the console and the citizens' web chat, from the npm registry (no CDN):
# ECharts (console charts), htmx (web chat, optional: every page works without it) and
# axe-core (the browser tests' accessibility checks). Installs web/package-lock.json
# with `npm ci` when web/node_modules is missing or older than the lock, then copies the
# files the app serves into api/static/vendor/ (gitignored).
#
#   scripts/assets.sh            install (when needed) and copy; run from anywhere
#
# Needs node and npm. Exits non-zero with a message on failure.
set -euo pipefail

PROG="$(basename "$0")"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WEB="$ROOT/web"
VENDOR="$ROOT/api/static/vendor"
LOCK="$WEB/package-lock.json"
# npm ci writes this file last; it is newer than the lock after a complete install.
INSTALLED="$WEB/node_modules/.package-lock.json"

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

[[ -f "$LOCK" ]] || die "missing $LOCK"

if [[ ! -d "$WEB/node_modules/echarts" || ! -d "$WEB/node_modules/htmx.org" ||
    ! -d "$WEB/node_modules/axe-core" || ! -f "$INSTALLED" || "$LOCK" -nt "$INSTALLED" ]]; then
    command -v npm >/dev/null 2>&1 ||
        die "npm is missing: install Node.js 20 or newer with npm (e.g. apt-get install -y npm)"
    say "running npm ci --prefix web"
    npm ci --prefix "$WEB" --no-audit --no-fund --loglevel=error >&2 ||
        die "npm ci --prefix web failed (is the npm registry reachable?)"
    touch "$INSTALLED"
fi

# source (under web/node_modules) -> target (under api/static/vendor)
copies=(
    "echarts/dist/echarts.min.js:echarts.min.js"
    "htmx.org/dist/htmx.min.js:htmx.min.js"
    "axe-core/axe.min.js:axe.min.js"
)
mkdir -p "$VENDOR"
for pair in "${copies[@]}"; do
    source="$WEB/node_modules/${pair%%:*}"
    target="$VENDOR/${pair#*:}"
    [[ -f "$source" ]] || die "npm ci did not provide $source"
    if ! cmp -s "$source" "$target"; then
        cp "$source" "$target"
        say "copied ${source#"$ROOT"/} to ${target#"$ROOT"/}"
    fi
done
# The copy may be identical but older than the lock: keep make's stamp fresh.
touch "$VENDOR/echarts.min.js"
