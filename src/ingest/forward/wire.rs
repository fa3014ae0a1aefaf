//! What a forwarded entry carries: the collar's serial and either its decoded samples or its
//! status, as JSON (one field of a stream entry).

use serde::{Deserialize, Serialize};

use crate::domain::sample::{Activity, Fix, Sample};

/// One forwarded collar message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forwarded {
    pub serial: String,
    #[serde(flatten)]
    pub what: What,
    /// When the reading node received the message from the broker (ms since the epoch), for
    /// the owner's `pettysync_actor_delay_seconds`; absent in entries of older nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at_ms: Option<i64>,
}

/// The part of the message the owner's collar actor takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// The valid samples of a telemetry message, in message order.
    Samples { samples: Vec<WireSample> },
    /// The retained status or the Last Will.
    Status { online: bool },
}

/// A validated sample as it travels (the domain type stays free of serde).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireSample {
    seq: u64,
    ts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fix: Option<(f64, f64, Option<f64>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hr: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    act: Option<Activity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bat: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    temp: Option<f64>,
}

impl From<&Sample> for WireSample {
    fn from(sample: &Sample) -> Self {
        Self {
            seq: sample.seq,
            ts: sample.ts_ms,
            fix: sample.fix.map(|fix| (fix.lat, fix.lon, fix.acc)),
            hr: sample.hr,
            steps: sample.steps,
            act: sample.act,
            bat: sample.bat,
            temp: sample.temp,
        }
    }
}

impl From<WireSample> for Sample {
    fn from(wire: WireSample) -> Self {
        Self {
            seq: wire.seq,
            ts_ms: wire.ts,
            fix: wire.fix.map(|(lat, lon, acc)| Fix { lat, lon, acc }),
            hr: wire.hr,
            steps: wire.steps,
            act: wire.act,
            bat: wire.bat,
            temp: wire.temp,
        }
    }
}

impl Forwarded {
    pub fn samples(serial: &str, samples: &[Sample], read_at_ms: i64) -> Self {
        Self {
            serial: serial.to_owned(),
            what: What::Samples {
                samples: samples.iter().map(WireSample::from).collect(),
            },
            read_at_ms: Some(read_at_ms),
        }
    }

    pub fn status(serial: &str, online: bool, read_at_ms: i64) -> Self {
        Self {
            serial: serial.to_owned(),
            what: What::Status { online },
            read_at_ms: Some(read_at_ms),
        }
    }

    pub fn to_json(&self) -> String {
        // A struct of numbers, strings and enums always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_sample_arrives_as_it_left() {
        let sample = Sample {
            seq: 7,
            ts_ms: 1_700_000_000_123,
            fix: Some(Fix {
                lat: 48.1,
                lon: 11.5,
                acc: None,
            }),
            hr: Some(90),
            steps: None,
            act: Some(Activity::Walk),
            bat: Some(55),
            temp: Some(38.5),
        };
        let json = Forwarded::samples("PS-000001", std::slice::from_ref(&sample), 1).to_json();
        let back: Forwarded = serde_json::from_str(&json).unwrap();
        let What::Samples { samples } = back.what else {
            panic!("samples expected: {json}");
        };
        assert_eq!(Sample::from(samples[0].clone()), sample);
        let status: Forwarded =
            serde_json::from_str(&Forwarded::status("PS-1", false, 2).to_json()).unwrap();
        assert_eq!(status.what, What::Status { online: false });
        assert_eq!(status.read_at_ms, Some(2));
    }

    #[test]
    fn an_entry_of_a_node_from_before_the_read_time_still_applies() {
        let old = r#"{"serial":"PS-1","kind":"status","online":true}"#;
        let entry: Forwarded = serde_json::from_str(old).unwrap();
        assert_eq!(entry.what, What::Status { online: true });
        assert_eq!(entry.read_at_ms, None);
    }
}
