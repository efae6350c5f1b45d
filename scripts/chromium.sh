#!/usr/bin/env bash
# Chromium for the browser tests (tests/browser): Debian's `chromium` package, driven by
# Playwright through executable_path (Playwright's own browser download is not used).
#
#   scripts/chromium.sh          install chromium if CHROMIUM (default /usr/bin/chromium) is missing
#
# Idempotent and quiet when Chromium is already there. Installing needs root and apt-get;
# `apt-get update` runs only when the package cannot be installed from the current lists.
# Exits non-zero with a message when Chromium is missing and cannot be installed.
set -euo pipefail

PROG="$(basename "$0")"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PACKAGE="chromium"

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    die "no Chromium at $CHROMIUM and not root:" \
        "install it with 'sudo apt-get install -y --no-install-recommends $PACKAGE'"
fi
command -v apt-get >/dev/null 2>&1 ||
    die "no Chromium at $CHROMIUM and no apt-get to install it (Debian's '$PACKAGE' is expected)"

apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends)

# Only update the package lists when they do not know the package, or when installing from
# them fails (stale lists point at files the mirror no longer has).
if ! apt-cache show "$PACKAGE" >/dev/null 2>&1 || [[ -z "$(apt-cache policy "$PACKAGE" |
    sed -n 's/^ *Candidate: *//p' | grep -v '(none)')" ]]; then
    say "the package lists do not know '$PACKAGE': running apt-get update"
    "${apt[@]}" update >&2 || die "apt-get update failed"
fi
say "no Chromium at $CHROMIUM: running apt-get install -y $PACKAGE (about 80 MB download)"
if ! "${apt[@]}" install "$PACKAGE" >&2; then
    say "apt-get install failed: running apt-get update and trying again"
    "${apt[@]}" update >&2 || die "apt-get update failed"
    "${apt[@]}" install "$PACKAGE" >&2 || die "apt-get install -y $PACKAGE failed"
fi

[[ -x "$CHROMIUM" ]] || die "apt-get installed $PACKAGE but there is no $CHROMIUM"
say "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
