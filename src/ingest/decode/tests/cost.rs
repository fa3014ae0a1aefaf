//! A figure, not an assertion (run with `--ignored --nocapture`, in release): what decoding
//! one telemetry message costs, beside the collar actor's own cost
//! (`actors::collar`'s `print_the_cost_of_a_telemetry_sample_in_the_actor_and_persistence`).

use std::time::Instant;

use super::*;

const MESSAGES: i64 = 20_000;

#[test]
#[ignore = "a measurement: prints figures"]
fn print_the_cost_of_decoding_a_telemetry_message() {
    let payloads: Vec<Vec<u8>> = (1..=MESSAGES)
        .map(|seq| {
            json!({"v": 1, "seq": seq, "ts": NOW - MESSAGES + seq, "lat": 48.1385,
                "lon": 11.579, "acc": 6.5, "hr": 96, "steps": 12, "act": "walk", "bat": 83,
                "temp": 38.6})
            .to_string()
            .into_bytes()
        })
        .collect();
    let started = Instant::now();
    for payload in &payloads {
        let Ok(Decoded::Telemetry(entries)) = decode(Channel::Telemetry, payload, NOW) else {
            panic!("a valid telemetry message");
        };
        assert!(entries.iter().all(Result::is_ok));
    }
    println!(
        "decode: {:.2} µs per telemetry message ({MESSAGES})",
        started.elapsed().as_secs_f64() * 1e6 / MESSAGES as f64
    );
}
