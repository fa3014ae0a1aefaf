#!/usr/bin/env bash
# Every benchmark, one after the other, against real services, then one summary table.
# Starts (installing if needed) PostgreSQL, Redis, Mosquitto and the MongoDB wire server,
# raises the open-file limit for the WebSockets, builds the benchmarks in release mode (at low
# priority: the machine may be shared) and runs them with this script's options:
#
# - realtime (benches/realtime/): the broker's QoS 1 drain and MongoDB's own insert_many of
#   the same documents (the baselines), cold start, end-to-end ingest, publish → WebSocket
#   latency at 80 % of the measured ingest rate and at 5 000 msg/s, memory per idle collar
#   actor, with where the CPU went;
# - feed (benches/feed/): Redis GET and PostgreSQL SELECT 1 rates (baselines), GET /v1/feed
#   p50/p99 under open-loop load at 500 and 2 000 req/s, GET /healthz beside it, CPU per request;
# - mood (benches/mood.rs): inference CPU per clip, training and retraining time, the seed
#   model's scores, model size; mood_live (benches/mood_live/): publish → `mood` frame latency;
# - lifecycle (benches/lifecycle/): a roll-up pass over stale pet-hours, a year of daily stats;
# - archive (benches/archive/): an archival pass beside MongoDB's own read and delete rates of
#   the same documents, bytes per sample, `track` over 30 days spanning archive and hot;
# - cluster (benches/cluster/): end-to-end ingest with 1, 2 and 3 `serve` processes on the
#   shared subscription (the 1-node round the baseline), the share of messages forwarded to
#   a collar's owner, node and Redis CPU per message and per forward, the forward's delay.
#
# Every benchmark appends its figures (figure, value, target, met?) to target/bench-summary.rows
# as it measures them (benches/support/summary.rs). At the end this script prints them as one
# table with the machine, its load and each benchmark's wall time, writes the table to
# target/bench-summary.md and keeps the previous one as target/bench-summary.prev.md; figures
# both runs have show their change since the last run (benches/support/summary.py).
#
# Usage: scripts/bench.sh [--quick]
#   --quick   smaller sizes in every benchmark: about two minutes of benchmarks (the full run:
#             under fifteen), plus the release build when the sources changed.
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

mode=full
for arg in "$@"; do [[ $arg == --quick ]] && mode=quick; done
# The table's code is checked before a long run rather than after it.
python3 benches/support/summary.py --self-test >/dev/null
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
build_started=$SECONDS
nice -n 10 cargo bench --bench realtime --bench feed --bench mood --bench lifecycle --bench archive --bench mood_live --bench cluster --no-run
build_s=$((SECONDS - build_started))
echo "bench.sh: release build took ${build_s} s"

summary=target/bench-summary
mkdir -p target
: >"$summary.rows"
export PETTYSYNC_BENCH_SUMMARY="$PWD/$summary.rows"
bench_args=("$@")
status=0
benches_started=$SECONDS
# A row of this script's own in the summary: a wall time, with its target when it has one.
time_row() {
    local figure=$1 seconds=$2 detail=$3 target=${4:-} met=null
    if [[ -n $target ]]; then
        met=$( ((seconds <= target)) && echo true || echo false)
        target="≤ $target s"
    fi
    printf '{"bench":"bench.sh","figure":"%s","value":%d,"unit":"s","detail":"%s","target":"%s","met":%s,"better":"lower"}\n' \
        "$figure" "$seconds" "$detail" "$target" "$met" >>"$summary.rows"
}
# run_bench NAME: one benchmark with this script's options, timed.
run_bench() {
    local name=$1 started=$SECONDS code=0
    echo
    echo "=== $name ($mode) ==="
    cargo bench --bench "$name" -- "${bench_args[@]}" || code=$?
    local took=$((SECONDS - started))
    echo "bench.sh: $name took ${took} s (exit $code)"
    time_row "$name: wall time" "$took" "exit $code"
    ((code == 0)) || status=$code
}
# One after the other: they load the same two cores, and overlapping runs skew each other.
run_bench realtime
drop_bench_data
# The feed benchmark exits 1 when any request did not get a 200 (an overload shows as such).
run_bench feed
drop_bench_data
# The mood classifier needs no service: inference per clip, training time, model size.
run_bench mood
# Publish → `mood` frame latency at 10 clips/s through the running server (seed model trained at start).
run_bench mood_live
drop_bench_data
# Roll-up pass time for stale pet-hours, and GET /stats?bucket=day over a year.
run_bench lifecycle
# An archival pass beside MongoDB's own read and delete rates of the same documents.
run_bench archive
drop_bench_data
# Three node processes share this machine's two cores: overhead, not gain.
run_bench cluster
drop_bench_data

total=$((SECONDS - benches_started))
if [[ $mode == quick ]]; then budget=150; else budget=900; fi
time_row "all benchmarks: wall time" "$total" "the release build (${build_s} s) not counted" "$budget"
[[ -f $summary.md ]] && mv "$summary.md" "$summary.prev.md"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit+changes"
echo
echo "=== summary ==="
python3 benches/support/summary.py "$summary.rows" "$summary.md" --prev "$summary.prev.md" \
    --mode "$mode" --load-start "$load_start" --commit "$commit" || status=$?
echo "bench.sh: the table is in $summary.md (the last run's in $summary.prev.md)"
exit "$status"
