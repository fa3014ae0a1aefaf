#!/usr/bin/env bash
# xmllint, which the tests use to validate GPX exports against the GPX 1.1 schema
# (tests/fixtures/gpx/gpx.xsd): Debian's libxml2-utils.
#
# Usage: scripts/xmllint.sh install|status
#
#   install  install libxml2-utils when xmllint is missing; quiet when it is there
#   status   print xmllint's version (exit status 1 if it is missing)
#
# Messages go to stderr.

set -euo pipefail

log() { echo "xmllint.sh: $*" >&2; }
die() { log "$*"; exit 1; }

installed() { command -v xmllint >/dev/null; }

install() {
    installed && return 0
    command -v apt-get >/dev/null || die "apt-get not found; cannot install libxml2-utils"
    ((EUID == 0)) || die "need root to install libxml2-utils (run as root or install it first)"
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get update"
    apt-get -o DPkg::Lock::Timeout=300 update -q </dev/null >&2 || die "apt-get update failed"
    log "apt-get install libxml2-utils"
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends libxml2-utils </dev/null >&2 \
        || die "apt-get install libxml2-utils failed"
    installed || die "installed, yet xmllint is missing"
}

status() {
    if installed; then xmllint --version 2>&1 | head -n 1; else echo "xmllint: missing"; return 1; fi
}

case "${1:-}" in
    install) install ;;
    status) status ;;
    *) die "usage: $0 install|status" ;;
esac
