#!/usr/bin/env bash
# The whole test suite against real services: starts (installing if needed) PostgreSQL, Redis,
# Mosquitto, the MongoDB wire server, the S3 API and the SNS API on loopback, then runs every
# unit and integration test. Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test api auth::`).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh up)"
exec cargo test --all-targets "$@"
