#!/usr/bin/env bash
# Soak run (not in CI): the release server under a simulated fleet and WebSocket watchers for
# a long while, printing every minute its RSS, open files, ingest rate, queue depths, errors
# and the watchers' frames, then whether RSS stayed within 10 % after the warm-up.
#
#   scripts/soak.sh [MINUTES=30] [COLLARS=3800] [INTERVAL_S=2] [WATCHERS=1000]
#
# The default is 20 × the original design's rate (28 000 collars every 5 min ≈ 93 msg/s;
# 3 800 collars every 2 s ≈ 1 900 msg/s). Everything runs against the services of
# scripts/services.sh, in a database, Redis prefix and topic prefix of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}" collars="${2:-3800}" interval="${3:-2}" watchers="${4:-1000}"
eval "$(scripts/services.sh up)"
python3 -c 'import websockets' 2>/dev/null || pip install --quiet 'websockets>=13'
cargo build --release --bin pettysync

run="soak_$(date +%s)"
export PETTYSYNC_DATABASE_URL="postgres://postgres@127.0.0.1:5432/pettysync_$run"
export PETTYSYNC_MONGODB_URL="mongodb://127.0.0.1:27017/pettysync_$run"
export PETTYSYNC_REDIS_PREFIX="pettysync:$run:"
export PETTYSYNC_MQTT_URL="mqtt://127.0.0.1:1883?client_id=pettysync-$run"
export PETTYSYNC_MQTT_TOPIC_PREFIX="$run/v1"
export PETTYSYNC_HTTP_ADDR="127.0.0.1:18080"
export PETTYSYNC_JWT_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
# The watchers sign in their owners from one address.
export PETTYSYNC_AUTH_ATTEMPTS_PER_MINUTE=100000
export PETTYSYNC_LOG=info NO_COLOR=1
log="$PWD/.services/$run.log"
target/release/pettysync migrate
target/release/pettysync serve 2>"$log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    curl -sf "http://$PETTYSYNC_HTTP_ADDR/healthz" >/dev/null && break
    sleep 0.2
done
python3 scripts/soak.py "$server" "http://$PETTYSYNC_HTTP_ADDR" "mqtt://127.0.0.1:1883" "$log" \
    "$minutes" "$collars" "$interval" "$watchers"
started=$(date +%s%N)
kill -TERM $server
wait $server && status=0 || status=$?
echo "soak: SIGTERM → exit $status after $((($(date +%s%N) - started) / 1000000)) ms; log: $log"
trap - EXIT
