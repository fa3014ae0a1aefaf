use super::*;

/// xorshift64: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fragments that steer mutations towards type, range and nesting edge cases, `|`-separated.
const TOKENS: &str = "null|-1|1.5|1e999|18446744073709551616|\"\\u0000\"|{|}|[|]|\"v\":2,|\
    \"samples\":[|true|\"\\ud800\"|,|\u{fffd}";

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(300);
    (0..len).map(|_| rng.next() as u8).collect()
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 if at < bytes.len() => bytes[at] = rng.next() as u8,
            1 => {
                let tokens: Vec<&str> = TOKENS.split('|').collect();
                let token = tokens[rng.below(tokens.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => bytes.truncate(at),
            _ => {
                let digit = b'0' + rng.below(10) as u8;
                bytes.insert(at, digit);
            }
        }
    }
    bytes
}

const FIELDS: &str = "v seq ts lat lon acc hr steps act bat temp samples codec rate_hz \
    audio_b64 online fw id ok error";

/// Values at or past the edges of the protocol's types and ranges.
const VALUES: &str = r#"[null, -1, 0, 1, 1.5, 400, 1e300, 18446744073709551615,
    -9223372036854775808, 1764151560000, 8000, "walk", "", "AAAA", true, [], {},
    [{"seq": 1, "ts": 1764151560000}, 3]]"#;

/// Sets, nulls or removes known fields of the message, or of its first batch element.
fn mutate_fields(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut message: Value = serde_json::from_slice(seed).expect("seeds are JSON");
    for _ in 0..=rng.below(3) {
        let target = match message.pointer_mut("/samples/0") {
            Some(element) if rng.below(2) == 0 => element,
            _ => &mut message,
        };
        let Some(object) = target.as_object_mut() else {
            continue;
        };
        let fields: Vec<&str> = FIELDS.split_whitespace().collect();
        let field = fields[rng.below(fields.len())].to_owned();
        if rng.below(4) == 0 {
            object.remove(&field);
        } else {
            let values: Vec<Value> = serde_json::from_str(VALUES).expect("a JSON array");
            object.insert(field, values[rng.below(values.len())].clone());
        }
    }
    message.to_string().into_bytes()
}

/// Checks what any outcome of `decode` must satisfy.
fn check_invariants(result: &Result<Decoded, Rejection>) {
    match result {
        Err(rejection) => assert_eq!(rejection.index, None),
        Ok(Decoded::Telemetry(entries)) => {
            assert!((1..=MAX_BATCH_SAMPLES).contains(&entries.len()));
            for sample in entries.iter().flatten() {
                assert!(sample.seq < MAX_SEQ);
                assert!(sample.hr.is_none_or(|hr| (1..=400).contains(&hr)));
                assert!(sample.bat.is_none_or(|bat| bat <= 100));
            }
        }
        Ok(Decoded::Voice(clip)) => assert!((500..=10_000).contains(&clip.duration_ms)),
        Ok(Decoded::CmdAck(ack)) => assert!(ack.error.as_ref().is_none_or(|e| e.len() <= 2000)),
        Ok(Decoded::Status(_)) => {}
    }
}

#[test]
fn decode_never_panics_on_random_bytes_or_mutated_messages() {
    let batch = batch_of(vec![
        element(1),
        json!({"seq": 2, "ts": NOW, "lat": 1, "lon": 2}),
    ]);
    let voice = Value::Object(clip_message(8000, 8_000)).to_string();
    let seeds: [&[u8]; 5] = [
        SPEC_SAMPLE.as_bytes(),
        batch.as_bytes(),
        voice.as_bytes(),
        br#"{"v":1,"online":true,"fw":"1.4.2"}"#,
        br#"{"v":1,"id":"6f1c","ok":false,"error":"no fix"}"#,
    ];
    let channels = [
        Channel::Telemetry,
        Channel::Voice,
        Channel::Status,
        Channel::CmdAck,
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..4000 {
        let seed = seeds[rng.below(seeds.len())];
        let payload = match round % 3 {
            0 => random_bytes(&mut rng),
            1 => mutate(seed, &mut rng),
            _ => mutate_fields(seed, &mut rng),
        };
        for channel in channels {
            check_invariants(&decode(channel, &payload, NOW));
        }
    }
}

#[test]
fn deeply_nested_json_is_rejected_without_overflowing_the_stack() {
    let deep = format!(
        "{{\"v\":1,\"x\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(reason_of(telemetry(&deep)), Reason::MalformedJson);
}
