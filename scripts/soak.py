#!/usr/bin/env python3
"""The soak run behind scripts/soak.sh: sets up owners, pets (each with a safe zone) and
paired collars straight in PostgreSQL, opens WebSocket watchers that subscribe to pets and
renew their credentials with `auth` frames, runs `pettysync simulate`, and prints every minute
the server's RSS, open files, ingest rate, queue depths, errors and the watchers' frames.

Usage: soak.py SERVER_PID BASE_URL BROKER_URL SERVER_LOG MINUTES COLLARS INTERVAL_S WATCHERS
(the server runs already; PETTYSYNC_DATABASE_URL names its database)."""
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid

import websockets

PASSWORD = "soak-password-123"
OWNERS = 50
SESSIONS_PER_OWNER_CAP = 20  # PETTYSYNC_WS_MAX_SESSIONS_PER_USER's default
PETS_PER_SESSION = 10
WARM_UP_MINUTES = 5
GAUGES = [
    "pettysync_persistence_buffered",
    "pettysync_ingest_parked",
    "pettysync_alerts_queued",
    "pettysync_notifications_queued",
    "pettysync_collar_actors",
]
COUNTERS = [
    "pettysync_mqtt_messages_total",
    "pettysync_dead_letters_total",
    "pettysync_persistence_failures_total",
    "pettysync_mqtt_ack_failures_total",
    "pettysync_alerts_total",
    "pettysync_unknown_serial_total",
]


def http(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def psql(sql):
    url = os.environ["PETTYSYNC_DATABASE_URL"]
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q"], input=sql, text=True, check=True)


def setup(base, collars, interval):
    """Owners (sharing one password hash), one dog per collar with a safe zone, each collar
    provisioned and paired; returns [(email, [pet ids])]."""
    run = uuid.uuid4().hex[:8]
    first = f"soak-{run}-0@pettysync.dev"
    http(base, "POST", "/v1/auth/register",
         {"email": first, "password": PASSWORD, "display_name": "Soak owner"})
    owners = [f"soak-{run}-{i}@pettysync.dev" for i in range(OWNERS)]
    pets = {email: [] for email in owners}
    values_users, values_pets, values_collars, values_fences = [], [], [], []
    for i in range(1, collars + 1):
        email = owners[i % OWNERS]
        pet = str(uuid.uuid4())
        pets[email].append(pet)
        serial = f"SOAK-{i:04d}"
        values_pets.append(f"('{pet}', (SELECT id FROM users WHERE email = '{email}'), 'Dog {i}', 'dog')")
        values_collars.append(f"('{serial}', '\\x00', '{pet}', now(), {interval})")
        geometry = json.dumps({"type": "Circle", "center": [100.5018, 13.7563], "radius_m": 2500})
        values_fences.append(f"('{uuid.uuid4()}', '{pet}', 'Neighbourhood', 'safe', '{geometry}')")
    for email in owners[1:]:
        values_users.append(
            f"('{uuid.uuid4()}', '{email}', (SELECT password_hash FROM users WHERE email = '{first}'), 'Soak owner')")
    psql(f"""
        INSERT INTO users (id, email, password_hash, display_name) VALUES {', '.join(values_users)};
        INSERT INTO pets (id, owner_id, name, species) VALUES {', '.join(values_pets)};
        DELETE FROM collars WHERE serial LIKE 'SOAK-%';
        INSERT INTO collars (serial, pairing_code_hash, pet_id, paired_at, interval_s) VALUES {', '.join(values_collars)};
        INSERT INTO collar_pairings (serial, pet_id, paired_at)
            SELECT serial, pet_id, paired_at FROM collars WHERE serial LIKE 'SOAK-%';
        INSERT INTO geofences (id, pet_id, name, kind, geometry) VALUES {', '.join(values_fences)};
    """)
    return [(email, pets[email]) for email in owners]


class Watchers:
    """WebSocket sessions of the owners, each watching some of its owner's pets."""

    def __init__(self, base, owners, sessions):
        self.base = base
        self.owners = owners
        self.sessions = sessions
        self.frames = 0
        self.states = 0
        self.alerts = 0
        self.errors = 0
        self.revoked = 0
        self.open = 0
        self.reconnects = 0
        self.tokens = {}
        self.sockets = {}

    def sign_in(self):
        for email, _ in self.owners:
            body = http(self.base, "POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
            self.tokens[email] = (body["access_token"], body["refresh_token"])

    async def renew(self):
        """Every 10 minutes: refresh each owner's tokens and extend its sessions with `auth`."""
        while True:
            await asyncio.sleep(600)
            for email, _ in self.owners:
                _, refresh = self.tokens[email]
                body = await asyncio.to_thread(http, self.base, "POST", "/v1/auth/refresh",
                                               {"refresh_token": refresh})
                self.tokens[email] = (body["access_token"], body["refresh_token"])
                for ws in self.sockets.get(email, []):
                    try:
                        await ws.send(json.dumps({"type": "auth", "access_token": body["access_token"]}))
                    except websockets.ConnectionClosed:
                        pass

    async def session(self, email, pets):
        url = self.base.replace("http", "ws", 1) + "/v1/ws"
        while True:
            token = self.tokens[email][0]
            try:
                async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                              max_size=2**20, ping_interval=None) as ws:
                    self.open += 1
                    self.sockets.setdefault(email, []).append(ws)
                    await ws.send(json.dumps({"type": "subscribe", "pet_ids": pets}))
                    async for raw in ws:
                        self.frames += 1
                        kind = json.loads(raw).get("type")
                        if kind == "state":
                            self.states += 1
                        elif kind == "alert":
                            self.alerts += 1
                        elif kind == "error":
                            self.errors += 1
                        elif kind == "revoked":
                            self.revoked += 1
            except (OSError, websockets.WebSocketException):
                pass
            finally:
                if ws_list := self.sockets.get(email):
                    self.sockets[email] = [w for w in ws_list if w.state != websockets.protocol.State.CLOSED]
            self.open -= 1
            self.reconnects += 1
            await asyncio.sleep(1)

    async def run(self):
        tasks = [asyncio.create_task(self.renew())]
        per_owner = max(1, min(SESSIONS_PER_OWNER_CAP, self.sessions // len(self.owners)))
        for email, pets in self.owners:
            for n in range(per_owner):
                chosen = [pets[(n * PETS_PER_SESSION + k) % len(pets)] for k in range(PETS_PER_SESSION)]
                tasks.append(asyncio.create_task(self.session(email, sorted(set(chosen)))))
                await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)


def scrape(base):
    text = urllib.request.urlopen(base + "/metrics", timeout=30).read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)", line)
        if match:
            values[match.group(1)] = values.get(match.group(1), 0.0) + float(match.group(3))
    return values


def proc(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def log_counts(path):
    errors = warnings = 0
    with open(path, errors="replace") as f:
        for line in f:
            if " ERROR " in line:
                errors += 1
            elif " WARN " in line:
                warnings += 1
    return errors, warnings


async def monitor(pid, base, log, minutes, watchers, fleet):
    print(f"{'min':>3} {'RSS MiB':>8} {'fds':>5} {'msg/s':>7} {'buffered':>8} {'parked':>6} "
          f"{'alertsQ':>7} {'notifQ':>6} {'actors':>6} {'dead':>5} {'failures':>8} {'alerts':>6} "
          f"{'errors':>6} {'warns':>5} {'ws open':>7} {'frames/s':>8} {'ws err':>6}", flush=True)
    previous, previous_frames, started = scrape(base), watchers.frames, time.monotonic()
    rss_series = []
    for minute in range(1, minutes + 1):
        await asyncio.sleep(started + minute * 60 - time.monotonic())
        if fleet.poll() is not None:
            print("soak: the simulator stopped early", flush=True)
        now = scrape(base)
        rss, fds = proc(pid)
        rss_series.append(rss)
        rate = (now.get("pettysync_mqtt_messages_total", 0) - previous.get("pettysync_mqtt_messages_total", 0)) / 60
        failures = sum(now.get(c, 0) - previous.get(c, 0) for c in
                       ["pettysync_persistence_failures_total", "pettysync_mqtt_ack_failures_total"])
        errors, warnings = log_counts(log)
        print(f"{minute:>3} {rss:>8.1f} {fds:>5} {rate:>7.0f} {now.get(GAUGES[0], 0):>8.0f} "
              f"{now.get(GAUGES[1], 0):>6.0f} {now.get(GAUGES[2], 0):>7.0f} {now.get(GAUGES[3], 0):>6.0f} "
              f"{now.get(GAUGES[4], 0):>6.0f} "
              f"{now.get('pettysync_dead_letters_total', 0) - previous.get('pettysync_dead_letters_total', 0):>5.0f} "
              f"{failures:>8.0f} {now.get('pettysync_alerts_total', 0) - previous.get('pettysync_alerts_total', 0):>6.0f} "
              f"{errors:>6} {warnings:>5} {watchers.open:>7} {(watchers.frames - previous_frames) / 60:>8.1f} "
              f"{watchers.errors:>6}", flush=True)
        previous, previous_frames = now, watchers.frames
    if len(rss_series) > WARM_UP_MINUTES:
        base_rss, peak, end = rss_series[WARM_UP_MINUTES - 1], max(rss_series[WARM_UP_MINUTES - 1:]), rss_series[-1]
        growth = (peak - base_rss) / base_rss * 100
        print(f"soak: RSS after {WARM_UP_MINUTES} min warm-up {base_rss:.1f} MiB, peak after it "
              f"{peak:.1f} MiB, at the end {end:.1f} MiB: {growth:+.1f} % "
              f"({'within' if growth <= 10 else 'NOT within'} 10 %)", flush=True)
    print(f"soak: watchers got {watchers.states} states, {watchers.alerts} alerts, "
          f"{watchers.errors} errors, {watchers.revoked} revocations; {watchers.reconnects} reconnects",
          flush=True)


async def main():
    pid, base, broker, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    minutes, collars, interval, sessions = (int(a) for a in sys.argv[5:9])
    owners = setup(base, collars, interval)
    print(f"soak: {collars} collars every {interval} s (~{collars / interval:.0f} msg/s), "
          f"{len(owners)} owners, {sessions} WebSockets, {minutes} min", flush=True)
    watchers = Watchers(base, owners, sessions)
    watchers.sign_in()
    binary = os.environ.get("PETTYSYNC_BIN", "target/release/pettysync")
    fleet = subprocess.Popen([binary, "simulate", "--collars", str(collars), "--broker", broker,
                              "--interval-s", str(interval), "--seconds", str(minutes * 60 + 30),
                              "--serial-prefix", "SOAK-", "--no-progress",
                              "--topic-prefix", os.environ["PETTYSYNC_MQTT_TOPIC_PREFIX"]],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watching = asyncio.create_task(watchers.run())
    try:
        await monitor(pid, base, log, minutes, watchers, fleet)
    finally:
        watching.cancel()
        fleet.terminate()
        fleet.wait()


if __name__ == "__main__":
    asyncio.run(main())
