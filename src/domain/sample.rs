//! A collar's telemetry sample, validated (collar protocol v1): what ingest makes of a
//! message and what the collar actor and persistence take.

/// What the collar was doing during a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activity {
    Sleep,
    Rest,
    Walk,
    Run,
    Play,
}

impl Activity {
    /// Every activity, in protocol order.
    pub const ALL: [Activity; 5] = [
        Activity::Sleep,
        Activity::Rest,
        Activity::Walk,
        Activity::Run,
        Activity::Play,
    ];

    /// The protocol's name of the activity.
    pub fn as_str(&self) -> &'static str {
        match self {
            Activity::Sleep => "sleep",
            Activity::Rest => "rest",
            Activity::Walk => "walk",
            Activity::Run => "run",
            Activity::Play => "play",
        }
    }
}

/// A position fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy in metres.
    pub acc: Option<f64>,
}

/// One validated telemetry sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub seq: u64,
    pub ts_ms: i64,
    pub fix: Option<Fix>,
    pub hr: Option<u16>,
    pub steps: Option<u32>,
    pub act: Option<Activity>,
    pub bat: Option<u8>,
    pub temp: Option<f64>,
}
