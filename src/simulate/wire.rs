//! What a collar sends, as the collar protocol (`collar-protocol.md`) spells it: samples live
//! and in batches, voice clips, its retained online/offline status.

use serde::Serialize;

use super::activity::Activity;

pub(super) const ONLINE_STATUS: &str = r#"{"v":1,"online":true,"fw":"1.4.2"}"#;
pub(super) const OFFLINE_STATUS: &str = r#"{"v":1,"online":false}"#;

/// One telemetry sample, without `v` (a batch's elements carry none).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct Sample {
    pub(super) seq: u64,
    pub(super) ts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) lon: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) acc: Option<f64>,
    pub(super) hr: u16,
    pub(super) steps: u32,
    pub(super) act: Activity,
    pub(super) bat: u8,
    pub(super) temp: f64,
}

/// A sample as published live: the same fields plus `v`.
#[derive(Serialize)]
pub(super) struct LiveSample<'a> {
    pub(super) v: u8,
    #[serde(flatten)]
    pub(super) sample: &'a Sample,
}

/// A store-and-forward upload.
#[derive(Serialize)]
pub(super) struct Batch<'a> {
    pub(super) v: u8,
    pub(super) samples: &'a [Sample],
}

/// A voice clip; its `seq` is a counter of its own.
#[derive(Serialize)]
pub(super) struct VoiceClip {
    pub(super) v: u8,
    pub(super) seq: u64,
    pub(super) ts: i64,
    pub(super) codec: &'static str,
    pub(super) rate_hz: u32,
    pub(super) audio_b64: String,
}

pub(super) fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("our messages have string keys and finite numbers")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::simulate::model::Collar;
    use crate::simulate::tests::BANGKOK;

    #[test]
    fn live_samples_carry_v_and_batch_elements_do_not() {
        let mut sample = Collar::new(BANGKOK, 7).step(Duration::from_secs(3), 1_764_151_500_000);
        sample.lat = None;
        sample.lon = None;
        sample.acc = None;
        let live: serde_json::Value = serde_json::from_slice(&json(&LiveSample {
            v: 1,
            sample: &sample,
        }))
        .unwrap();
        assert_eq!(live["v"], 1);
        assert_eq!(live["ts"], 1_764_151_500_000_i64);
        assert!(live.get("lat").is_none() && live.get("acc").is_none());
        let samples = [sample.clone(), sample];
        let batch: serde_json::Value = serde_json::from_slice(&json(&Batch {
            v: 1,
            samples: &samples,
        }))
        .unwrap();
        assert_eq!(batch["v"], 1);
        assert!(batch["samples"][0].get("v").is_none());
        assert!(batch["samples"][1]["act"].is_string());
    }

    #[test]
    fn a_live_sample_looks_like_the_protocol_example() {
        let sample = Collar::new(BANGKOK, 8).step(Duration::from_secs(300), 1_764_151_500_000);
        let text = String::from_utf8(json(&LiveSample {
            v: 1,
            sample: &sample,
        }))
        .unwrap();
        assert!(text.starts_with(r#"{"v":1,"seq":"#), "{text}");
        assert!(text.len() < 200, "{text}");
    }
}
