#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/seeds/decode/, fuzz/seeds/client_frame/).

Valid messages of every kind from collar-protocol.md and live-protocol.md, plus a few that
sit on a rule's edge, so the fuzzer starts from inputs that reach deep into the decoders.
A decode seed is: one selector byte (bits 0-1: channel 0 telemetry, 1 voice, 2 status,
3 cmd ack; bits 2-3: receive time, 0 = the seeds' time), "{prefix} {topic}\n", the payload.
Run from anywhere: python3 fuzz/seeds/make_seeds.py
"""
import base64
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
NOW = 1_764_151_560_000  # the fuzz target's receive time: a minute after the spec's ts
TS = 1_764_151_500_000
PREFIX = "pettysync/v1"
SERIAL = "PS-0001_a"

TELEMETRY, VOICE, STATUS, CMD_ACK = 0, 1, 2, 3
TAILS = {TELEMETRY: "telemetry", VOICE: "voice", STATUS: "status", CMD_ACK: "cmd/ack"}


def compact(value):
    return json.dumps(value, separators=(",", ":"))


def spec_sample():
    return {"v": 1, "seq": 48213, "ts": TS, "lat": 13.756331, "lon": 100.501762, "acc": 6.5,
            "hr": 96, "steps": 41, "act": "walk", "bat": 83, "temp": 38.6}


def clip(rate_hz, pcm_bytes):
    audio = base64.b64encode(bytes(i % 251 for i in range(pcm_bytes))).decode()
    return {"v": 1, "seq": 77, "ts": TS, "codec": "pcm_s16le", "rate_hz": rate_hz,
            "audio_b64": audio}


def padded_batch(length):
    """A valid batch of 3 samples whose unknown `pad` field makes it `length` bytes."""
    batch = {"v": 1, "samples": [{"seq": i, "ts": TS, "hr": 90} for i in range(3)], "pad": ""}
    batch["pad"] = "x" * (length - len(compact(batch)))
    text = compact(batch)
    assert len(text) == length
    return text


def decode_seeds():
    element = lambda seq: {"seq": seq, "ts": TS - seq * 1000, "lat": 13.75, "lon": 100.5,
                           "hr": 90, "act": "rest"}
    padded = dict(spec_sample(), pad="x" * (4096 - len(compact(spec_sample())) - 9))
    return {
        "telemetry_spec_sample": (TELEMETRY, compact(spec_sample())),
        "telemetry_spec_sample_pretty": (TELEMETRY, json.dumps(spec_sample(), indent=1)),
        "telemetry_minimal": (TELEMETRY, compact({"v": 1, "seq": 0, "ts": TS})),
        "telemetry_nulls": (TELEMETRY, compact({"v": 1, "seq": 1, "ts": TS, "lat": None,
                                                 "lon": None, "hr": None, "act": None})),
        "telemetry_edges": (TELEMETRY, compact({
            "v": 1, "seq": 2**53 - 1, "ts": NOW + 300_000, "lat": -90, "lon": 180,
            "acc": 10000, "hr": 400, "steps": 100000, "act": "play", "bat": 0, "temp": 45.0})),
        "telemetry_invalid_fields": (TELEMETRY, compact({
            "v": 1, "seq": -1, "ts": 1.5e12, "lat": 91, "hr": 96.5, "act": "fly",
            "temp": "38"})),
        "telemetry_single_4096": (TELEMETRY, compact(padded)),
        "telemetry_single_4097": (TELEMETRY, compact(dict(padded, pad=padded["pad"] + "x"))),
        "telemetry_batch_3": (TELEMETRY, compact({"v": 1, "samples": [
            element(1), {"seq": 2, "ts": TS, "hr": 0}, 7, {"v": 1, "seq": 3, "ts": TS,
                                                          "act": "sleep", "bat": 100}]})),
        "telemetry_batch_500": (TELEMETRY, compact({"v": 1, "samples": [
            element(i) for i in range(500)]})),
        "telemetry_batch_501": (TELEMETRY, compact({"v": 1, "samples": [
            {"seq": i, "ts": TS} for i in range(501)]})),
        "telemetry_batch_empty": (TELEMETRY, compact({"v": 1, "samples": []})),
        # libFuzzer grows inputs slowly from the largest seed: these two put the 256 KiB
        # batch limit within reach (exactly at it, and one byte over).
        "telemetry_batch_at_limit": (TELEMETRY, padded_batch(256 * 1024)),
        "telemetry_batch_over_limit": (TELEMETRY, padded_batch(256 * 1024 + 1)),
        "voice_8k_half_second": (VOICE, compact(clip(8000, 8000))),
        "voice_16k_odd": (VOICE, compact(clip(16000, 16001))),
        "voice_bad": (VOICE, compact(dict(clip(22050, 0), codec="opus", audio_b64="@@"))),
        "status_online": (STATUS, '{"v":1,"online":true,"fw":"1.4.2"}'),
        "status_last_will": (STATUS, '{"v":1,"online":false}'),
        "status_bad": (STATUS, '{"v":2,"online":"yes","fw":142}'),
        "cmd_ack_ok": (CMD_ACK, '{"v":1,"id":"6f1c","ok":true}'),
        "cmd_ack_error": (CMD_ACK, compact({"v": 1, "id": "6f1c-" + "a" * 59, "ok": False,
                                             "error": "no fix \u00e9\u00e9 " * 3})),
        "cmd_ack_escapes": (CMD_ACK, '{"v":1,"id":"\\u00e9\\ud83d\\ude00","ok":false,'
                                     '"error":"a\\nb\\"c"}'),
        "not_json": (STATUS, '{"v":1,"online":tru'),
        "not_an_object": (TELEMETRY, '[{"v":1}]'),
    }


def topics(channel):
    tail = TAILS[channel]
    return [
        f"{PREFIX} {PREFIX}/collars/{SERIAL}/{tail}",
        f"{PREFIX}/ {PREFIX}/collars/{SERIAL}/{tail}",
        f" collars/{SERIAL}/{tail}",
        f"{PREFIX} {PREFIX}/collars/{SERIAL}/cmd",
        f"{PREFIX} {PREFIX}/collars/bad serial/{tail}",
    ]


def client_frames():
    return {
        "subscribe": '{"type":"subscribe","pet_ids":["0b8f3c4e-5a51-4a0e-9d3e-3f1b2c4d5e6f","b"]}',
        "subscribe_escaped": '{"pet_ids":["\\u00e9\\ud83d\\ude00","x\\ny"],"type":"subscribe"}',
        "unsubscribe": '{"type":"unsubscribe","pet_ids":["0b8f3c4e-5a51-4a0e-9d3e-3f1b2c4d5e6f"]}',
        "unsubscribe_empty": '{"type":"unsubscribe","pet_ids":[]}',
        "ping": '{"type":"ping"}',
        "ping_extra": '{"type":"ping","extra":[1,{"a":null}],"n":1.5e3}',
        "auth": '{"type":"auth","access_token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"}',
        "unknown_type": '{"type":"dance"}',
        "missing_field": '{"type":"subscribe"}',
        "wrong_type": '{"type":"subscribe","pet_ids":"x"}',
        "array": '[1,2]',
        "not_json": '{not json',
    }


def write(directory, name, data):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def main():
    out = HERE / "decode"
    for name, (channel, payload) in decode_seeds().items():
        for i, topic in enumerate(topics(channel)):
            # Every message with the valid topic; the small ones with the others too.
            if i > 0 and len(payload) > 200:
                continue
            data = bytes([channel]) + topic.encode() + b"\n" + payload.encode()
            write(out, f"{name}_{i}", data)
    out = HERE / "client_frame"
    for name, frame in client_frames().items():
        write(out, name, frame.encode())


if __name__ == "__main__":
    main()
