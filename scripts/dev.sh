#!/usr/bin/env bash
# Runs PettySync on this machine with a simulated fleet: starts the services (installing what
# is missing), applies the migrations, serves on http://127.0.0.1:8080 (API docs at /docs),
# sets up a demo owner with one pet per collar, and runs the virtual collars.
# PETTYSYNC_DEMO_COLLARS (default 10) and PETTYSYNC_DEMO_INTERVAL_S (default 10) size the fleet;
# each collar first uploads PETTYSYNC_DEMO_BACKFILL_DAYS (default 7) days of history, so the
# owner page's 7-day chart and the GPX download have something to show.
#
# Usage: scripts/dev.sh [--nodes N]
#   --nodes N   a local cluster of N nodes (node-1 ... node-N on ports 8081...) behind nginx
#               on 8080 (installed from Debian if missing), reading the collars through one
#               MQTT shared subscription; the demo is the same. Default: one node on 8080.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=1
while (($#)); do
    case $1 in
        --nodes) nodes=${2:?--nodes needs a number}; shift 2 ;;
        --nodes=*) nodes=${1#--nodes=}; shift ;;
        *) echo "usage: scripts/dev.sh [--nodes N]" >&2; exit 2 ;;
    esac
done
[[ $nodes =~ ^[1-9][0-9]?$ ]] || { echo "dev.sh: --nodes must be 1 to 99" >&2; exit 2; }
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
servers=()
trap 'kill -TERM ${servers[*]} ${balancer:-} ${fleet:-} 2>/dev/null; wait' EXIT INT TERM
if ((nodes == 1)); then
    target/debug/pettysync serve &
    servers+=($!)
else
    # Each node has its own id (its MQTT session, its heartbeat) and port; nginx on $addr
    # spreads browsers and WebSockets over them, as deploy/nginx.conf does in a real cluster.
    if ! command -v nginx >/dev/null; then
        echo "dev.sh: installing nginx (Debian)" >&2
        apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends nginx </dev/null >&2 ||
            { apt-get -q update </dev/null >&2 && apt-get install -y -q --no-install-recommends nginx </dev/null >&2; }
    fi
    upstream=""
    for i in $(seq 1 "$nodes"); do
        port=$((8080 + i))
        PETTYSYNC_NODE_ID="node-$i" PETTYSYNC_HTTP_ADDR="127.0.0.1:$port" target/debug/pettysync serve &
        servers+=($!)
        upstream+="server 127.0.0.1:$port; "
    done
    mkdir -p "$state/nginx/logs"
    cat >"$state/nginx/nginx.conf" <<CONF
pid $state/nginx/nginx.pid;
error_log $state/nginx/logs/error.log;
events {}
http {
    access_log off;
    upstream pettysync { least_conn; $upstream}
    map \$http_upgrade \$connection_upgrade { default upgrade; "" close; }
    server {
        listen $addr;
        location / {
            proxy_pass http://pettysync;
            proxy_http_version 1.1;
            proxy_set_header Host \$host;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_read_timeout 120s;
        }
    }
}
CONF
    nginx -p "$state/nginx" -c "$state/nginx/nginx.conf" -g 'daemon off;' &
    balancer=$!
fi
for _ in $(seq 1 300); do
    curl -sf "http://$addr/healthz" >/dev/null && break
    for server in "${servers[@]}"; do
        kill -0 "$server" 2>/dev/null || { echo "dev.sh: a server exited" >&2; exit 1; }
    done
    sleep 0.2
done
python3 scripts/demo_fleet.py "http://$addr" "$PETTYSYNC_ADMIN_TOKEN" "$collars" "$state/demo-fleet.json"
target/debug/pettysync simulate --collars "$collars" --broker "mqtt://127.0.0.1:1883" --interval-s "$interval" --backfill-days "$backfill" --no-progress &
fleet=$!
echo "dev.sh: PettySync on http://$addr (docs at /docs), admin token $PETTYSYNC_ADMIN_TOKEN; $nodes node(s), /readyz names them; Ctrl-C stops" >&2
wait -n "${servers[@]}"
