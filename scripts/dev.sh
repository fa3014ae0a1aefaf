#!/usr/bin/env bash
# Runs PettySync on this machine with a simulated fleet: starts the services (installing what
# is missing), applies the migrations, serves on http://127.0.0.1:8080 (API docs at /docs),
# sets up a demo owner with one pet per collar, and runs the virtual collars.
# PETTYSYNC_DEMO_COLLARS (default 10) and PETTYSYNC_DEMO_INTERVAL_S (default 10) size the fleet;
# each collar first uploads PETTYSYNC_DEMO_BACKFILL_DAYS (default 7) days of history, so the
# owner page's 7-day chart and the GPX download have something to show.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh up)"
state="${PETTYSYNC_SERVICES_DIR:-$PWD/.services}"
mkdir -p "$state"
# A development signing key and admin token, made once and kept beside the services' data.
[ -s "$state/jwt_secret" ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$state/jwt_secret"
# The admin token needs at least 32 bytes; one made by an older version of this script may be shorter.
[ "$(wc -c < "$state/admin_token" 2>/dev/null || echo 0)" -ge 32 ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$state/admin_token"
export PETTYSYNC_JWT_SECRET="$(cat "$state/jwt_secret")"
export PETTYSYNC_ADMIN_TOKEN="$(cat "$state/admin_token")"
collars="${PETTYSYNC_DEMO_COLLARS:-10}"
interval="${PETTYSYNC_DEMO_INTERVAL_S:-10}"
backfill="${PETTYSYNC_DEMO_BACKFILL_DAYS:-7}"
addr="${PETTYSYNC_HTTP_ADDR:-127.0.0.1:8080}"

cargo build --bin pettysync
target/debug/pettysync migrate
target/debug/pettysync serve &
server=$!
trap 'kill -TERM $server ${fleet:-} 2>/dev/null; wait' EXIT INT TERM
for _ in $(seq 1 300); do
    curl -sf "http://$addr/healthz" >/dev/null && break
    kill -0 $server 2>/dev/null || { echo "dev.sh: the server exited" >&2; exit 1; }
    sleep 0.2
done
python3 scripts/demo_fleet.py "http://$addr" "$PETTYSYNC_ADMIN_TOKEN" "$collars" "$state/demo-fleet.json"
target/debug/pettysync simulate --collars "$collars" --broker "mqtt://127.0.0.1:1883" --interval-s "$interval" --backfill-days "$backfill" --no-progress &
fleet=$!
echo "dev.sh: PettySync on http://$addr (docs at /docs), admin token $PETTYSYNC_ADMIN_TOKEN; Ctrl-C stops" >&2
wait $server
