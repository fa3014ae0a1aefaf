#!/usr/bin/env bash
# Runs PettySync on this machine: starts the services (installing what is missing), applies
# the migrations and serves on http://127.0.0.1:8080 (API docs at /docs).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh up)"
state="${PETTYSYNC_SERVICES_DIR:-$PWD/.services}"
mkdir -p "$state"
# A development signing key and admin token, made once and kept beside the services' data.
[ -s "$state/jwt_secret" ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$state/jwt_secret"
[ -s "$state/admin_token" ] || head -c 24 /dev/urandom | base64 | tr -d '\n/+=' > "$state/admin_token"
export PETTYSYNC_JWT_SECRET="$(cat "$state/jwt_secret")"
export PETTYSYNC_ADMIN_TOKEN="$(cat "$state/admin_token")"
echo "admin token (for /v1/admin/*): $PETTYSYNC_ADMIN_TOKEN" >&2
cargo build --bin pettysync
target/debug/pettysync migrate
exec target/debug/pettysync serve
