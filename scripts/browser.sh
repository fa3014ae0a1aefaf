#!/usr/bin/env bash
# The browser of the end-to-end tests: Debian's Chromium and ChromeDriver.
#
# Usage: scripts/browser.sh install|status
#
#   install  install `chromium` and `chromium-driver` from Debian's packages when
#            /usr/bin/chromium or /usr/bin/chromedriver is missing; quiet when both are there
#   status   print the versions of both (exit status 1 if either is missing)
#
# A test tool's own browser download (Playwright, Puppeteer) does not work on machines
# without general internet access; Debian's packages do. Messages go to stderr.

set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

log() { echo "browser.sh: $*" >&2; }
die() { log "$*"; exit 1; }

installed() { [[ -x $CHROMIUM && -x $CHROMEDRIVER ]]; }

install() {
    installed && return 0
    command -v apt-get >/dev/null || die "apt-get not found; cannot install chromium and chromium-driver"
    ((EUID == 0)) || die "need root to install chromium and chromium-driver (run as root or install them first)"
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get update"
    apt-get -o DPkg::Lock::Timeout=300 update -q </dev/null >&2 || die "apt-get update failed"
    log "apt-get install chromium chromium-driver"
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends \
        chromium chromium-driver fonts-liberation </dev/null >&2 \
        || die "apt-get install chromium chromium-driver failed"
    installed || die "installed, yet $CHROMIUM or $CHROMEDRIVER is missing"
    log "installed $("$CHROMIUM" --version 2>/dev/null)"
}

status() {
    local missing=0
    if [[ -x $CHROMIUM ]]; then "$CHROMIUM" --version; else echo "chromium: missing"; missing=1; fi
    if [[ -x $CHROMEDRIVER ]]; then "$CHROMEDRIVER" --version; else echo "chromedriver: missing"; missing=1; fi
    return "$missing"
}

case "${1:-}" in
    install) install ;;
    status) status ;;
    *) die "usage: $0 install|status" ;;
esac
