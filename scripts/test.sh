#!/usr/bin/env bash
# The whole test suite against real services: starts (installing if needed) PostgreSQL, Redis,
# Mosquitto, the MongoDB wire server, the S3 API and the SNS API on loopback, then runs every
# unit and integration test. Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test api auth::`).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh up)"

# Each integration test makes its own PostgreSQL and MongoDB database; drop the previous
# run's so they do not pile up (Redis keys of tests carry a prefix and are left to expire).
psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'pettysync\_test\_%'" |
    while read -r db; do psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\"" || true; done
python3 - <<'PY' || echo "test.sh: could not clean old MongoDB test databases" >&2
import pymongo
client = pymongo.MongoClient("mongodb://127.0.0.1:27017", serverSelectionTimeoutMS=3000)
for name in client.list_database_names():
    if name.startswith("pettysync_test_"):
        client.drop_database(name)
PY

scripts/browser.sh install
# tests/api/track_gpx.rs validates GPX exports against the GPX 1.1 schema with xmllint.
scripts/xmllint.sh install
# tests/api/openapi.rs checks the OpenAPI document with openapi-spec-validator (PyPI).
python3 -c 'import openapi_spec_validator' 2>/dev/null ||
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --root-user-action=ignore \
        'openapi-spec-validator>=0.9,<1' </dev/null >&2
# Unit and integration tests; the bench programs (harness = false) are built by clippy and run
# by scripts/bench.sh. Extra arguments run just what they name, in one pass.
if (($# > 0)); then
    exec cargo test --lib --bins --tests "$@"
fi
# Two passes: everything but the fault tests, in parallel; then the fault tests one at a
# time. They cut stores off, kill servers and push 20 000 samples through the shared
# MongoDB wire server, so alone they test the server, not the machine's spare capacity.
cargo test --lib --bins --tests -- --skip faults::
exec cargo test --test api faults:: -- --test-threads=1
