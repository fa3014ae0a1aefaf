//! The pet: a random walk that stays near home, an activity that changes now and then, and
//! what the collar's sensors read of both. Pure given its seed: one [`Collar::step`] per sample.

use std::f64::consts::{PI, TAU};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::activity::{Activity, DayPart};
use super::wire::Sample;

/// Long intervals are integrated in model steps of at most this many seconds.
const MAX_SUBSTEP_S: f64 = 5.0;
const HOME_SPREAD_M: f64 = 3_000.0;
/// Beyond `PULL_START_M` from home a pet turns homeward, fully so at `ROAM_LIMIT_M`.
const PULL_START_M: f64 = 300.0;
const ROAM_LIMIT_M: f64 = 500.0;
const METRES_PER_DEGREE: f64 = 111_320.0;
const NO_FIX_PROBABILITY: f64 = 0.01;
const ACC_SPIKE_PROBABILITY: f64 = 0.02;
/// Per sample rather than per hour, so a demo visibly drains and live mode (3 s) drains fast.
const BATTERY_DRAIN_PER_SAMPLE: f64 = 0.2;
const BATTERY_RECHARGE_AT: f64 = 5.0;

/// One pet wearing a collar: where it is, what it does, and what the sensors read.
pub(super) struct Collar {
    rng: StdRng,
    home: (f64, f64),
    /// True position, metres east and north of home.
    offset: (f64, f64),
    /// Direction of travel, radians counter-clockwise from east.
    heading: f64,
    activity: Activity,
    activity_left_s: f64,
    hr_baseline: f64,
    temp_baseline: f64,
    battery: f64,
    next_seq: u64,
}

impl Collar {
    pub(super) fn new(centre: (f64, f64), seed: u64) -> Collar {
        let mut rng = StdRng::seed_from_u64(seed);
        Collar {
            home: displace(centre, random_offset(&mut rng, HOME_SPREAD_M)),
            offset: random_offset(&mut rng, 50.0),
            heading: rng.gen_range(0.0..TAU),
            activity: Activity::Rest,
            activity_left_s: rng.gen_range(0.0..600.0),
            // Pets differ: a big dog's heart beats slower than a terrier's.
            hr_baseline: rng.gen_range(-10.0..25.0),
            temp_baseline: rng.gen_range(38.2..38.8),
            battery: rng.gen_range(40.0..100.0),
            // Collars have been running for a while: seq does not start at zero.
            next_seq: rng.gen_range(1..1_000_000_000),
            rng,
        }
    }

    /// Lives through `dt` and reads the sensors as the collar would at `ts_ms`.
    pub(super) fn step(&mut self, dt: Duration, ts_ms: i64) -> Sample {
        let mut left = dt.as_secs_f64();
        let mut steps = 0.0;
        while left > 0.0 {
            let sub = left.min(MAX_SUBSTEP_S);
            let at_ms = ts_ms - (left * 1000.0) as i64;
            steps += self.advance(sub, DayPart::at(at_ms, self.home.1));
            left -= sub;
        }
        self.read_sensors(steps, ts_ms)
    }

    /// Moves the pet for `dt_s` seconds in `part` of its day; returns the steps it took.
    fn advance(&mut self, dt_s: f64, part: DayPart) -> f64 {
        self.activity_left_s -= dt_s;
        if self.activity_left_s <= 0.0 {
            self.activity = self.activity.next(part, &mut self.rng);
            let (min, max) = self.activity.profile().dwell_s;
            self.activity_left_s = self.rng.gen_range(min..max);
        }
        let profile = self.activity.profile();
        if self.activity == Activity::Play {
            self.heading = self.rng.gen_range(0.0..TAU);
        } else {
            self.heading += self.rng.gen_range(-0.3..0.3);
        }
        self.turn_home();
        let distance = profile.speed_mps * dt_s * self.rng.gen_range(0.8..1.2);
        self.offset.0 += distance * self.heading.cos();
        self.offset.1 += distance * self.heading.sin();
        profile.steps_per_s * dt_s
    }

    /// Turns toward home the further the pet has strayed, so it stays within about 500 m.
    fn turn_home(&mut self) {
        let distance = self.offset.0.hypot(self.offset.1);
        if distance <= PULL_START_M {
            return;
        }
        let home_bearing = (-self.offset.1).atan2(-self.offset.0);
        let weight = ((distance - PULL_START_M) / (ROAM_LIMIT_M - PULL_START_M)).min(1.0);
        let turn = (home_bearing - self.heading + PI).rem_euclid(TAU) - PI;
        self.heading += weight * turn;
    }

    fn read_sensors(&mut self, steps: f64, ts_ms: i64) -> Sample {
        let profile = self.activity.profile();
        let fix = self.gps_fix();
        let hr = profile.hr_bpm + self.hr_baseline + self.rng.gen_range(-8.0..8.0);
        let steps = steps * self.rng.gen_range(0.85..1.15);
        let temp = self.temp_baseline + profile.temp_delta + self.rng.gen_range(-0.15..0.15);
        // Never below the sample's second: a simulator restarted with the same seed (as
        // `scripts/dev.sh` does) goes on with new seqs instead of repeating stored ones.
        let seq = self.next_seq.max((ts_ms / 1000).max(0) as u64);
        self.next_seq = seq + 1;
        Sample {
            seq,
            ts: ts_ms,
            lat: fix.map(|(lat, _, _)| lat),
            lon: fix.map(|(_, lon, _)| lon),
            acc: fix.map(|(_, _, acc)| acc),
            hr: hr.round().clamp(1.0, 400.0) as u16,
            steps: steps.round().clamp(0.0, 100_000.0) as u32,
            act: self.activity,
            bat: self.drain_battery(),
            temp: round_to(temp.clamp(37.5, 39.5), 1),
        }
    }

    /// (lat, lon, acc): the true position blurred by GPS error, sometimes badly, sometimes none.
    fn gps_fix(&mut self) -> Option<(f64, f64, f64)> {
        if self.rng.gen_bool(NO_FIX_PROBABILITY) {
            return None;
        }
        let acc = if self.rng.gen_bool(ACC_SPIKE_PROBABILITY) {
            self.rng.gen_range(50.0..=300.0)
        } else {
            self.rng.gen_range(3.0..=8.0)
        };
        let error = random_offset(&mut self.rng, acc);
        let seen = (self.offset.0 + error.0, self.offset.1 + error.1);
        let (lat, lon) = displace(self.home, seen);
        Some((round_to(lat, 6), round_to(lon, 6), round_to(acc, 1)))
    }

    /// Reports the level, then plugs the collar in once it is nearly empty.
    fn drain_battery(&mut self) -> u8 {
        self.battery = (self.battery - BATTERY_DRAIN_PER_SAMPLE).max(0.0);
        let reported = self.battery.round() as u8;
        if self.battery <= BATTERY_RECHARGE_AT {
            self.battery = 100.0;
        }
        reported
    }
}

/// A point uniformly spread over a disc of `radius_m`, as (east, north) metres.
fn random_offset(rng: &mut impl Rng, radius_m: f64) -> (f64, f64) {
    let r = radius_m * rng.gen::<f64>().sqrt();
    let angle = rng.gen_range(0.0..TAU);
    (r * angle.cos(), r * angle.sin())
}

/// `origin` (lat, lon) moved by (east, north) metres; flat-earth is fine at these distances.
fn displace(origin: (f64, f64), (east, north): (f64, f64)) -> (f64, f64) {
    let lat = origin.0 + north / METRES_PER_DEGREE;
    let lon = origin.1 + east / (METRES_PER_DEGREE * origin.0.to_radians().cos());
    (lat, lon)
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::tests::BANGKOK;

    fn walk(collar: &mut Collar, samples: usize, every: Duration) -> Vec<Sample> {
        (0..samples)
            .map(|i| collar.step(every, 1_764_151_500_000 + i as i64))
            .collect()
    }

    fn metres_between(a: (f64, f64), b: (f64, f64)) -> f64 {
        let north = (a.0 - b.0) * METRES_PER_DEGREE;
        let east = (a.1 - b.1) * METRES_PER_DEGREE * a.0.to_radians().cos();
        east.hypot(north)
    }

    #[test]
    fn a_pet_stays_near_home_over_many_steps() {
        for seed in 0..8 {
            let mut collar = Collar::new(BANGKOK, seed);
            assert!(metres_between(collar.home, BANGKOK) <= HOME_SPREAD_M + 1.0);
            for sample in walk(&mut collar, 3_000, Duration::from_secs(30)) {
                let true_distance = collar.offset.0.hypot(collar.offset.1);
                assert!(
                    true_distance < ROAM_LIMIT_M + 50.0,
                    "{true_distance} m from home"
                );
                if let (Some(lat), Some(lon), Some(acc)) = (sample.lat, sample.lon, sample.acc) {
                    assert!(metres_between((lat, lon), collar.home) < ROAM_LIMIT_M + 50.0 + acc);
                }
            }
        }
    }

    #[test]
    fn seq_is_strictly_increasing() {
        let mut collar = Collar::new(BANGKOK, 1);
        let samples = walk(&mut collar, 1_000, Duration::from_secs(3));
        assert!(samples
            .windows(2)
            .all(|pair| pair[1].seq == pair[0].seq + 1));
        assert!(samples[0].seq < 1 << 53);
    }

    #[test]
    fn every_reading_stays_within_the_protocol_ranges() {
        let mut collar = Collar::new(BANGKOK, 2);
        for sample in walk(&mut collar, 20_000, Duration::from_secs(60)) {
            assert!((1..=400).contains(&sample.hr), "hr {}", sample.hr);
            assert!((37.5..=39.5).contains(&sample.temp), "temp {}", sample.temp);
            assert!(sample.bat <= 100 && sample.steps <= 100_000);
            assert_eq!(sample.lat.is_some(), sample.lon.is_some());
            assert!(sample.acc.is_none_or(|acc| (0.0..=10_000.0).contains(&acc)));
        }
    }

    #[test]
    fn heart_rate_and_steps_follow_the_activity() {
        let mut collar = Collar::new(BANGKOK, 3);
        let samples = walk(&mut collar, 20_000, Duration::from_secs(30));
        let mean_hr = |act| {
            let hrs: Vec<f64> = samples
                .iter()
                .filter(|s| s.act == act)
                .map(|s| f64::from(s.hr))
                .collect();
            assert!(!hrs.is_empty(), "{act:?} never happened");
            hrs.iter().sum::<f64>() / hrs.len() as f64
        };
        assert!(mean_hr(Activity::Sleep) < mean_hr(Activity::Walk));
        assert!(mean_hr(Activity::Walk) < mean_hr(Activity::Run));
        assert!(mean_hr(Activity::Rest) < mean_hr(Activity::Play));
        assert!(samples
            .iter()
            .filter(|s| s.act == Activity::Sleep)
            .all(|s| s.steps == 0 || s.steps < 10));
    }

    #[test]
    fn a_week_has_sleepy_nights_and_walks_morning_and_evening() {
        let mut collar = Collar::new(BANGKOK, 9);
        let start = 1_764_000_000_000_i64;
        let every = Duration::from_secs(300);
        let samples: Vec<Sample> = (1..=7 * 288)
            .map(|i| collar.step(every, start + i * 300_000))
            .collect();
        let share = |part: DayPart, act: Activity| {
            let in_part: Vec<&Sample> = samples
                .iter()
                .filter(|s| DayPart::at(s.ts, collar.home.1) == part)
                .collect();
            in_part.iter().filter(|s| s.act == act).count() as f64 / in_part.len() as f64
        };
        assert!(
            share(DayPart::Night, Activity::Sleep) > 0.7,
            "nights are for sleeping"
        );
        assert!(
            share(DayPart::WalkTime, Activity::Walk) > 2.0 * share(DayPart::Day, Activity::Walk),
            "walks happen at walk times"
        );
        let steps_per_day = samples.iter().map(|s| u64::from(s.steps)).sum::<u64>() / 7;
        assert!(
            (3_000..40_000).contains(&steps_per_day),
            "{steps_per_day} steps a day"
        );
    }

    #[test]
    fn the_battery_drains_and_recharges_at_five_percent() {
        let mut collar = Collar::new(BANGKOK, 4);
        let levels: Vec<u8> = walk(&mut collar, 2_000, Duration::from_secs(60))
            .iter()
            .map(|s| s.bat)
            .collect();
        assert!(levels.iter().all(|&bat| bat >= 5));
        let recharges = levels
            .windows(2)
            .filter(|pair| pair[0] == 5 && pair[1] == 100)
            .count();
        assert!(recharges >= 2, "{recharges} recharges");
        assert!(levels
            .windows(2)
            .all(|pair| pair[1] <= pair[0] || pair[0] == 5));
    }

    #[test]
    fn the_same_seed_walks_the_same_way() {
        let a = walk(&mut Collar::new(BANGKOK, 5), 100, Duration::from_secs(10));
        let b = walk(&mut Collar::new(BANGKOK, 5), 100, Duration::from_secs(10));
        assert_eq!(a, b);
    }

    #[test]
    fn some_fixes_are_missing_or_inaccurate() {
        let samples = walk(
            &mut Collar::new(BANGKOK, 6),
            10_000,
            Duration::from_secs(10),
        );
        let missing = samples.iter().filter(|s| s.lat.is_none()).count();
        let spikes = samples
            .iter()
            .filter(|s| s.acc.is_some_and(|acc| acc >= 50.0))
            .count();
        assert!((30..300).contains(&missing), "{missing} without a fix");
        assert!((100..400).contains(&spikes), "{spikes} accuracy spikes");
    }
}
