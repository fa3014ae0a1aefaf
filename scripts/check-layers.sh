#!/usr/bin/env bash
# The layer rule of src/README.md, checked: every `crate::` path in a layer names only that
# layer, the layers below it, or the ground floor. Prints each forbidden use and exits 1.
#
#   main / cli / startup   may use everything
#   http, ingest, actors   may use store, domain, the ground floor (and each other as below)
#   store                  may use domain and the ground floor only
#   domain                 may use the ground floor only
#
# http is the top door: nothing else names it. ingest and actors do not name http or startup;
# actors do not name ingest (the pipeline hands them what they need). Only main and cli
# name startup.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
forbid() { # forbid DIR-OR-FILES... -- PATTERN WHY
    local paths=() pattern why
    while [[ $1 != -- ]]; do paths+=("$1"); shift; done
    shift
    pattern=$1 why=$2
    local hits
    hits=$(grep -rnE "crate::($pattern)\b" "${paths[@]}" --include='*.rs' 2>/dev/null)
    if [[ -n $hits ]]; then
        echo "check-layers: $why:"
        echo "$hits" | sed 's/^/  /'
        status=1
    fi
}
# The ground floor: every top-level module that is not a layer or the wiring on top.
ground_floor=()
for entry in src/*; do
    name=$(basename "$entry" .rs)
    case $name in
        main | cli | startup | lib | simulate | http | ingest | actors | store | domain | README*) ;;
        *) ground_floor+=("$entry") ;;
    esac
done
forbid src/domain -- 'http|ingest|actors|store|startup' "domain uses only the ground floor"
forbid src/store -- 'http|ingest|actors|startup' "store uses only domain and the ground floor"
forbid src/actors -- 'http|ingest|startup' "actors do not use http, ingest or startup"
forbid src/ingest -- 'http|startup' "ingest does not use http or startup"
forbid src/http -- 'startup|ingest' "http gets what it needs through web::Data (not from startup), and is not the collars' door"
forbid "${ground_floor[@]}" -- 'http|ingest|actors|store|startup' "the ground floor uses no layer above it"
forbid src/simulate -- 'http|ingest|actors|store|startup' "the simulator is a collar: it speaks only the collar protocol"
exit $status
