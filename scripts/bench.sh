#!/usr/bin/env bash
# The real-time benchmark (benches/realtime/) against real services: starts (installing if
# needed) PostgreSQL, Redis, Mosquitto and the MongoDB wire server, raises the open-file limit
# for the WebSockets, builds the benchmark in release mode (at low priority: the machine may be
# shared) and runs it. The benchmark starts its own private Mosquitto; it prints the broker's
# QoS 1 baseline, the server's ingest rate, publish → WebSocket latency and memory per idle
# collar actor, with where the CPU went.
#
# Then the feed benchmark (benches/feed/): GET /v1/feed p50/p90/p99 under open-loop load at
# 500 and 2 000 req/s, with the rate achieved and CPU per request.
#
# Then the mood benchmark (benches/mood.rs): inference CPU per 1 s and 10 s clip (p50/p99),
# clips/s on one core, training time for 10 000 clips, the seed model's scores, model size.
# Then the data-lifecycle benchmark (benches/lifecycle/): one roll-up pass over 10 000 stale
# pet-hours (1 000 with --quick), and GET /v1/pets/{id}/stats?bucket=day over a year, p50/p99.
# Then the archive benchmark (benches/archive/): samples/s of an archival pass beside the
# MongoDB server's read rate of the same documents, bytes per sample, and `track` over 30 days
# spanning archive and hot.
# Then the mood pipeline benchmark (benches/mood_live/): publish → `mood` frame latency
# p50/p99 at 10 clips/s through the running server, and its seed model's training time.
#
# Usage: scripts/bench.sh [--quick]
#   --quick   smaller run (20 000 messages, 200 pets, 1 000 sessions, 5 s window, 2 000 idle
#             collars), about a minute; the default full run takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh up)"

# 10 000 WebSockets: the server holds one end of each; the benchmark's client process the other.
wanted=65536
if ! ulimit -n "$wanted" 2>/dev/null; then
    hard=$(ulimit -Hn)
    if [[ $hard != unlimited ]] && ((hard < wanted)); then
        echo "bench.sh: cannot raise the open-file limit to $wanted; using the hard limit $hard" >&2
        ulimit -n "$hard"
    fi
fi

# Each run makes its own PostgreSQL and MongoDB database and Redis key prefix; drop them (this
# run's afterwards, and any an interrupted run left behind). A run still going holds
# connections to its PostgreSQL database, so PostgreSQL refuses to drop it (no FORCE): its
# MongoDB database and Redis keys are kept too, and a concurrent run is never cut short.
drop_bench_data() {
    local db
    psql -h 127.0.0.1 -U postgres -d postgres -Atc \
        "SELECT datname FROM pg_database WHERE datname LIKE 'pettysync\_bench\_%'" 2>/dev/null |
        while read -r db; do
            psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\"" 2>/dev/null || true
        done
    local in_use
    in_use=$(psql -h 127.0.0.1 -U postgres -d postgres -Atc \
        "SELECT datname FROM pg_database WHERE datname LIKE 'pettysync\_bench\_%'" 2>/dev/null || true)
    python3 - "$in_use" <<'PY' || echo "bench.sh: could not drop old MongoDB bench databases" >&2
import sys
import pymongo
in_use = set(sys.argv[1].split())
client = pymongo.MongoClient("mongodb://127.0.0.1:27017", serverSelectionTimeoutMS=3000)
for name in client.list_database_names():
    if name.startswith("pettysync_bench_") and name not in in_use:
        client.drop_database(name)
PY
    if command -v redis-cli >/dev/null; then
        # Keys are `pettysync:bench:<run id>:…`; the run id ends each database name.
        local keep=("^$")
        for db in $in_use; do keep+=("${db##*_}"); done
        redis-cli -h 127.0.0.1 --scan --pattern 'pettysync:bench:*' |
            grep -v -F "${keep[@]/#/-e}" |
            xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null || true
    fi
}
drop_bench_data

nice -n 10 cargo bench --bench realtime --bench feed --bench mood --bench lifecycle --bench archive --bench mood_live --no-run
# One after the other: both load the same two cores, and overlapping runs skew each other.
status=0
cargo bench --bench realtime -- "$@" || status=$?
drop_bench_data
# The feed benchmark exits 1 when any request did not get a 200 (an overload shows as such).
cargo bench --bench feed -- "$@" || status=$?
drop_bench_data
# The mood classifier needs no service: inference per clip, training time, model size.
cargo bench --bench mood -- "$@" || status=$?
# Publish → `mood` frame latency at 10 clips/s through the running server (seed model trained at start).
cargo bench --bench mood_live -- "$@" || status=$?
drop_bench_data
# Roll-up pass time for 10 000 stale pet-hours, and GET /stats?bucket=day over a year.
cargo bench --bench lifecycle -- "$@" || status=$?
# The archive benchmark: a pass over 1 M samples (--quick: 100 000) beside MongoDB's read rate.
cargo bench --bench archive -- "$@" || status=$?
drop_bench_data
exit "$status"
