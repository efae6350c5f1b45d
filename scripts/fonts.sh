#!/usr/bin/env bash
# A CJK font for Chinese text in browser screenshots and WeasyPrint PDFs: installs Debian's
# fonts-wqy-microhei (about 1.6 MB download) when fontconfig knows no font for Chinese.
#
#   scripts/fonts.sh             make sure `fc-list :lang=zh` lists at least one font
#
# Idempotent and quiet when a font is there. Never fails a build: without root (or apt-get)
# it prints what to install and exits 0; Chinese then renders as empty boxes.
set -euo pipefail

PROG="$(basename "$0")"
PACKAGE="fonts-wqy-microhei"

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

has_cjk_font() {
    command -v fc-list >/dev/null 2>&1 && [[ -n "$(fc-list :lang=zh family 2>/dev/null)" ]]
}

if has_cjk_font; then
    exit 0
fi

# fc-list comes with fontconfig, which Chromium and WeasyPrint use to find fonts anyway.
packages=("$PACKAGE")
command -v fc-list >/dev/null 2>&1 || packages+=(fontconfig)

if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    say "warning: no font for Chinese (fc-list :lang=zh is empty); Chinese text will render" \
        "as boxes. Install one with: sudo apt-get install -y --no-install-recommends" \
        "${packages[*]}"
    exit 0
fi

apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends)
install() {
    say "no font for Chinese: running apt-get install -y ${packages[*]}"
    "${apt[@]}" install "${packages[@]}" >&2
}
if ! apt-cache show "$PACKAGE" >/dev/null 2>&1 || ! install; then
    say "running apt-get update"
    if ! "${apt[@]}" update >&2 || ! install; then
        say "warning: could not install ${packages[*]}; Chinese text will render as boxes"
        exit 0
    fi
fi

fc-cache -f >/dev/null 2>&1 || true
if has_cjk_font; then
    say "installed: $(fc-list :lang=zh family | head -n 1)"
else
    say "warning: installed ${packages[*]} but fc-list :lang=zh is still empty"
fi
