#!/usr/bin/env python3
"""Sets up the demo fleet against a running server, idempotently: a demo owner, one pet per
simulated collar, each collar provisioned and paired. Pairing codes are shown only once
(at provisioning, then the next one at each pairing), so they are kept in the services'
state folder.

Usage: demo_fleet.py BASE_URL ADMIN_TOKEN COLLARS STATE_FILE
"""
import json
import sys
import urllib.error
import urllib.request

EMAIL = "demo@pettysync.dev"
PASSWORD = "pettysync-demo"
NAMES = ["Rex", "Luna", "Milo", "Bella", "Max", "Coco", "Charlie", "Daisy", "Rocky", "Nala"]


def call(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, (json.loads(raw) if raw else None)


def main():
    base, admin, collars, state_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    try:
        with open(state_file) as f:
            codes = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        codes = {}

    status, body = call(base, "POST", "/v1/auth/login", body={"email": EMAIL, "password": PASSWORD})
    if status != 200:
        status, body = call(base, "POST", "/v1/auth/register",
                            body={"email": EMAIL, "password": PASSWORD, "display_name": "Demo owner"})
        if status != 201:
            sys.exit(f"demo_fleet: cannot sign in or register the demo owner: {status} {body}")
    token = body["access_token"]

    status, page = call(base, "GET", "/v1/pets?limit=100", token)
    paired = {p["collar_serial"] for p in page["items"] if p.get("collar_serial")}
    for i in range(1, collars + 1):
        serial = f"SIM-{i:04d}"
        if serial in paired:
            continue
        if serial not in codes:
            status, body = call(base, "POST", "/v1/admin/collars", admin, {"serial": serial})
            if status != 201:
                print(f"demo_fleet: {serial} is provisioned but its code is unknown; skipped", file=sys.stderr)
                continue
            codes[serial] = body["pairing_code"]
            with open(state_file, "w") as f:
                json.dump(codes, f)
        name = NAMES[(i - 1) % len(NAMES)] + ("" if i <= len(NAMES) else f" {i}")
        status, pet = call(base, "POST", "/v1/pets", token, {"name": name, "species": "dog"})
        home = {"type": "Circle", "center": [100.5018, 13.7563], "radius_m": 2500}
        call(base, "POST", f"/v1/pets/{pet['id']}/geofences", token,
             {"name": "Neighbourhood", "kind": "safe", "geometry": home})
        status, body = call(base, "POST", f"/v1/pets/{pet['id']}/collar", token,
                            {"serial": serial, "pairing_code": codes[serial]})
        if status != 200:
            print(f"demo_fleet: pairing {serial} failed: {status} {body}", file=sys.stderr)
            continue
        # Pairing spends the code; the collar's next one is shown once, here.
        codes[serial] = body["pairing_code"]
        with open(state_file, "w") as f:
            json.dump(codes, f)
    print(f"demo_fleet: sign in as {EMAIL} / {PASSWORD} to see {collars} pets", file=sys.stderr)


if __name__ == "__main__":
    main()
