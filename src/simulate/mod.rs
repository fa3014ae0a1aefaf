//! `pettysync simulate`: a fleet of virtual collars that speak the collar protocol
//! (`collar-protocol.md`) to a real MQTT broker, for demos and load tests.
//!
//! - `model`: the pet's walk and vitals, pure given its seed (one `step` per sample);
//!   `activity`: what it does through its day (sleep at night, walks morning and evening);
//! - `wire`: the messages a collar sends; `voice`: its voice clips (an intended mood, its own voice);
//! - `command`: the commands it obeys (`Control`) and their acknowledgements, pure;
//! - `link`: one collar's MQTT connection; `drive` only polls its event loop and forwards
//!   what matters;
//! - `task`: `CollarTask`, one collar's network side (schedule, backlog, commands, drops);
//!   `backfill`: the days of history it uploads before going live;
//! - `fleet`: [`run`], every collar in its own `collar` span; `progress`: the counters, the
//!   progress line and the report.

mod activity;
mod backfill;
mod command;
mod fleet;
mod link;
mod model;
mod progress;
mod task;
mod voice;
mod wire;

pub use self::backfill::MAX_BACKFILL_DAYS;
pub use self::fleet::run;

/// Settings of one `pettysync simulate` run.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// Number of virtual collars.
    pub collars: u32,
    /// Broker URL, e.g. mqtt://127.0.0.1:1883 (client ids are added per collar).
    pub broker: String,
    /// Normal reporting interval in seconds (a `set_interval` command changes it per collar).
    pub interval_s: u64,
    /// Stop after this many seconds; None = until Ctrl-C.
    pub seconds: Option<u64>,
    /// Topic prefix, default "pettysync/v1".
    pub topic_prefix: String,
    /// Serial of collar i is format!("{serial_prefix}{i:04}") for i in 1..=collars, e.g. "SIM-0001".
    pub serial_prefix: String,
    /// Centre of the area the pets roam (lat, lon); default Bangkok 13.7563, 100.5018.
    pub centre: (f64, f64),
    /// Show an indicatif progress bar (false in tests / when not a terminal).
    pub progress: bool,
    /// Seed for the random walk, for repeatable runs.
    pub seed: u64,
    /// Days of history each collar uploads before going live (0: none).
    pub backfill_days: u32,
    /// Seconds between the samples of the backfill (a collar's normal interval is 300).
    pub backfill_interval_s: u64,
}

impl SimulateOptions {
    /// The serial number of collar `i` (1-based).
    pub fn serial(&self, i: u32) -> String {
        format!("{}{i:04}", self.serial_prefix)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.collars >= 1, "collars must be at least 1");
        anyhow::ensure!(self.interval_s >= 1, "interval_s must be at least 1");
        anyhow::ensure!(
            self.backfill_days <= MAX_BACKFILL_DAYS,
            "backfill_days must be at most {MAX_BACKFILL_DAYS} (collars may send samples up to 30 days old)"
        );
        anyhow::ensure!(
            (1..=86_400).contains(&self.backfill_interval_s),
            "backfill_interval_s must be from 1 to 86400"
        );
        let serial = self.serial(self.collars);
        let serial_ok = serial.len() <= 64
            && serial
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        anyhow::ensure!(
            serial_ok,
            "serial_prefix makes invalid serials such as {serial:?}"
        );
        let prefix = &self.topic_prefix;
        let prefix_ok = !prefix.is_empty() && !prefix.contains(['+', '#']);
        anyhow::ensure!(
            prefix_ok,
            "topic_prefix must be non-empty without MQTT wildcards"
        );
        let (lat, lon) = self.centre;
        anyhow::ensure!(
            lat.abs() <= 85.0 && lon.abs() <= 180.0,
            "centre is not a valid position"
        );
        Ok(())
    }
}

/// What a run sent, counted when handed to the MQTT client.
#[derive(Debug, Default, Clone)]
pub struct SimulateReport {
    /// Telemetry samples sent, live and in batches.
    pub samples_sent: u64,
    /// Backlog and backfill batches sent.
    pub batches_sent: u64,
    /// Samples of the backfill sent (also counted in `samples_sent`).
    pub samples_backfilled: u64,
    /// Voice clips sent.
    pub voice_sent: u64,
    /// Commands acknowledged with `ok: true`.
    pub commands_obeyed: u64,
    /// Connections re-established after a drop (simulated or real).
    pub reconnects: u64,
    /// Oldest backlog samples discarded because the backlog was full.
    pub samples_dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const BANGKOK: (f64, f64) = (13.7563, 100.5018);

    pub(super) fn options() -> SimulateOptions {
        SimulateOptions {
            collars: 3,
            broker: "mqtt://127.0.0.1:1883".into(),
            interval_s: 5,
            seconds: Some(1),
            topic_prefix: "pettysync/v1".into(),
            serial_prefix: "SIM-".into(),
            centre: BANGKOK,
            progress: false,
            seed: 1,
            backfill_days: 0,
            backfill_interval_s: 300,
        }
    }

    #[test]
    fn serials_are_the_prefix_and_four_digits() {
        let options = options();
        assert_eq!(options.serial(1), "SIM-0001");
        assert!(options.validate().is_ok());
        let bad = SimulateOptions {
            serial_prefix: "SIM/".into(),
            ..options
        };
        assert!(bad.validate().is_err());
    }
}
