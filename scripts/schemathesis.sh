#!/usr/bin/env bash
# Fuzzes the server against its own OpenAPI document with schemathesis (not in CI): starts the
# services, then `pettysync serve` on a free port with a database of its own, the way
# scripts/dev.sh does; signs up a user with a pet, a geofence, a share link and a post (so
# the ids of the paths exist); then runs every operation through every phase (examples,
# coverage, fuzzing, stateful) with that user's bearer token, and prints the number of
# requests and every failure: a 5xx, or a status, content type, header or body that the
# document does not declare.
#
# Usage: scripts/schemathesis.sh [extra `st run` options]
#   PETTYSYNC_FUZZ_EXAMPLES  examples per operation and phase (default 30)
#   PETTYSYNC_FUZZ_SEED      schemathesis seed (default: a new one each run; printed)
# Everything it writes (the report, the events as NDJSON, the server's log) is in
# target/schemathesis/. Exit status: schemathesis' own (0 when nothing failed).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh up)"
if ! st --version 2>/dev/null | grep -q 'version 4\.'; then
    echo "schemathesis.sh: pip install schemathesis" >&2
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --root-user-action=ignore \
        'schemathesis>=4,<5' </dev/null >&2
    hash -r
fi

out="$PWD/target/schemathesis"
rm -rf "$out"
mkdir -p "$out"
# A database, key prefix, MQTT identity and topic prefix of its own: nothing the fuzzer makes
# or breaks touches scripts/dev.sh's data or a test run's.
name="pettysync_schemathesis"
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)"
python3 -c "import pymongo; pymongo.MongoClient('mongodb://127.0.0.1:27017').drop_database('$name')"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export PETTYSYNC_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name"
export PETTYSYNC_MONGODB_URL="mongodb://127.0.0.1:27017/$name"
export PETTYSYNC_REDIS_PREFIX="$name:$$:"
export PETTYSYNC_MQTT_URL="mqtt://127.0.0.1:1883?client_id=$name-$$"
export PETTYSYNC_MQTT_TOPIC_PREFIX="$name/$$"
export PETTYSYNC_HTTP_ADDR="127.0.0.1:$port"
export PETTYSYNC_PUBLIC_URL="$base"
export PETTYSYNC_JWT_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
export PETTYSYNC_ADMIN_TOKEN="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
export PETTYSYNC_LOG="${PETTYSYNC_LOG:-warn}"
# The fuzzer registers and signs in far more often than a person: let it reach the handlers
# (the limit itself is tested in tests/api/abuse).
export PETTYSYNC_AUTH_ATTEMPTS_PER_MINUTE=1000000
# Push platform applications on the SNS stand-in, so registering a device can succeed.
read -r PETTYSYNC_SNS_APNS_APP_ARN PETTYSYNC_SNS_FCM_APP_ARN < <(python3 - <<'PY'
import os, boto3
sns = boto3.client("sns", endpoint_url=os.environ["PETTYSYNC_SNS_ENDPOINT"], region_name=os.environ["AWS_REGION"])
arns = [sns.create_platform_application(
            Name=f"pettysync-schemathesis-{platform.lower()}", Platform=platform,
            Attributes={"PlatformCredential": "fuzz", "PlatformPrincipal": "fuzz"},
        )["PlatformApplicationArn"] for platform in ("APNS", "GCM")]
print(*arns)
PY
)
export PETTYSYNC_SNS_APNS_APP_ARN PETTYSYNC_SNS_FCM_APP_ARN

cargo build --bin pettysync
target/debug/pettysync migrate
target/debug/pettysync serve >"$out/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 300); do
    curl -sf "$base/healthz" >/dev/null && break
    kill -0 $server 2>/dev/null || { echo "schemathesis.sh: the server exited" >&2; cat "$out/server.log" >&2; exit 1; }
    sleep 0.2
done

curl -sf "$base/openapi.json" >"$out/openapi.json"

# The signed-in user and things of theirs, so the ids of the paths exist.
token=$(python3 - "$base" <<'PY'
import json, sys, urllib.request

base = sys.argv[1]

def call(method, path, body, token=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)

session = call("POST", "/v1/auth/register",
               {"email": "fuzz@pettysync.dev", "password": "schemathesis-fuzz", "display_name": "Fuzz"})
token = session["access_token"]
pet = call("POST", "/v1/pets", {"name": "Rex", "species": "dog"}, token)
ring = [[100.5, 13.7], [100.51, 13.7], [100.51, 13.71], [100.5, 13.7]]
call("POST", f"/v1/pets/{pet['id']}/geofences",
     {"name": "home", "kind": "safe", "geometry": {"type": "Polygon", "coordinates": [ring]}}, token)
call("POST", f"/v1/pets/{pet['id']}/share-links",
     {"expires_in_s": 3600, "scopes": ["location"], "precision": "exact"}, token)
call("POST", "/v1/posts",
     {"pet_id": pet["id"], "caption": "Rex", "media": {"content_type": "image/png", "size_bytes": 1000}}, token)
print(token)
PY
)

# What the document cannot say, told to the checks operation by operation: each entry lets
# a request that is valid by the schema get the one answer that a rule no schema can state
# gives it.
cat >"$out/schemathesis.toml" <<TOML
# Provisioning takes the admin token, not the user's.
[[operations]]
include-operation-id = "provision"
headers = { Authorization = "Bearer $PETTYSYNC_ADMIN_TOKEN" }

# Longer stateful runs, so that the chains of links reach the operations at their ends.
[phases.stateful.generation]
max-examples = $((10 * ${PETTYSYNC_FUZZ_EXAMPLES:-30}))

# A plain HTTP request to a WebSocket route is not a handshake: 400. (The handshake itself is
# tested in tests/api/realtime and tests/api/share.)
[[operations]]
include-path-regex = "/ws$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "429"]

# 422 for: a cursor the server did not issue (cursors are opaque); a track whose from is
# after its to; following or unfollowing oneself; a pet born in the future or with
# hr_min >= hr_max; the owner's own email as a member; the owner's id as a
# member to remove; a wrong pairing code; a ring that is not closed, crosses itself or
# encloses no area; a share link longer than PETTYSYNC_SHARE_MAX_EXPIRY_S.
[[operations]]
include-operation-id-regex = "^(list_\\\\w+|get_feed|user_posts|track|follow|unfollow|create_pet|patch_pet|add_member|remove_member|pair|create_fence|patch_fence|create_link)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

# 413 for media declared over its kind's limit (PETTYSYNC_MAX_IMAGE_BYTES, _VIDEO_BYTES).
[[operations]]
include-operation-id = "create_post"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "413", "429"]

# A new pet wears no collar: its collar and the collar's commands are 404 until one is paired.
[[operations]]
include-path-regex = "/collar"
checks.ensure_resource_availability.enabled = false
TOML

examples="${PETTYSYNC_FUZZ_EXAMPLES:-30}"
seed=()
[ -n "${PETTYSYNC_FUZZ_SEED:-}" ] && seed=(--seed "$PETTYSYNC_FUZZ_SEED")
status=0
# One worker: schemathesis' threads trip over CPython 3.11's AST recursion check. No U+0000 in
# strings: the API refuses it in every body (422), as its description says.
st --no-color --config-file "$out/schemathesis.toml" run "$base/openapi.json" \
    --header "Authorization: Bearer $token" \
    --phases=examples,coverage,fuzzing,stateful \
    --max-examples "$examples" \
    --workers 1 \
    --request-timeout 30 \
    --continue-on-failure \
    --generation-allow-x00 false \
    --generation-database "$out/examples" \
    --report junit,ndjson --report-dir "$out" \
    "${seed[@]}" "$@" >"$out/st.txt" 2>&1 || status=$?
sed -n '/= SUMMARY =/,$p' "$out/st.txt"

# The figures: requests sent (by status class) and every failure by kind; the summary above
# has the operations tested.
python3 - "$out" <<'PY'
import collections, glob, json, sys

events = sorted(glob.glob(f"{sys.argv[1]}/ndjson-*.ndjson"))[-1]
requests, classes = 0, collections.Counter()
failures = collections.defaultdict(set)
for line in open(events):
    scenario = json.loads(line).get("ScenarioFinished")
    if not scenario:
        continue
    recorder = scenario["recorder"]
    for interaction in recorder.get("interactions", {}).values():
        if interaction.get("response") is None:
            continue
        requests += 1
        classes[f"{interaction['response']['status_code'] // 100}xx"] += 1
    for checks in recorder.get("checks", {}).values():
        for check in checks:
            if check["status"] == "failure":
                failure = check["failure_info"]["failure"]
                message = " ".join(failure["message"].split())[:240]
                failures[(failure["code"], failure["title"])].add(f"{failure['operation']}: {message}")
by_class = ", ".join(f"{name}: {count}" for name, count in sorted(classes.items()))
print(f"schemathesis.sh: {requests} requests ({by_class})")
print(f"schemathesis.sh: {sum(map(len, failures.values()))} distinct failures")
for (code, title), found in sorted(failures.items()):
    print(f"  {code} {title}: {len(found)}")
    for line in sorted(found):
        print(f"    {line}")
PY
echo "schemathesis.sh: the report, the events (NDJSON) and the server's log are in $out" >&2
exit $status
