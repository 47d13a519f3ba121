#!/bin/sh
# Install what the browser tests (tests/browser, marker "browser") need:
#   - Debian's chromium and a CJK font (apt) when missing; the font makes Chinese pages (and
#     their screenshots) render as text rather than boxes;
#   - Playwright's Python package into the virtualenv whose bin folder is $1 (default .venv/bin).
# Playwright's own browser download (`playwright install`) is deliberately NOT used: the tests
# launch the system chromium with executable_path=/usr/bin/chromium.
set -eu
BIN="${1:-.venv/bin}"
PACKAGES=""
[ -x /usr/bin/chromium ] || PACKAGES="chromium"
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || PACKAGES="$PACKAGES fonts-wqy-zenhei"
if [ -n "$PACKAGES" ]; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086  # a list of package names
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PACKAGES
fi
"$BIN/pip" install -q "playwright>=1.45,<2"
"$BIN/python" -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
/usr/bin/chromium --version 2>/dev/null || true
