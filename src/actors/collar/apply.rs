//! One sample's effect on a collar actor: the live state, today's steps, and the alert
//! rules. Every alert gets an id derived from what raised it (collar, pet, kind and the
//! sample's `seq`, or the time the collar was last heard of), so an alert raised again
//! after a crash — the broker redelivers the sample, the actor resumes from an older
//! snapshot — is the same alert, stored and pushed once.

use uuid::Uuid;

use super::CollarActor;
use crate::actors::alerts::RaiseAlert;
use crate::actors::events::{ActivityState, AlertKind, Battery, Location, Vitals};
use crate::actors::rules::{Crossing, FixPlacement};
use crate::domain::sample::Sample;
use crate::geofence::FenceKind;

/// H3 resolution of the `h3` cell in the live state (cells of about 2 000 m²).
const STATE_H3_RESOLUTION: h3o::Resolution = h3o::Resolution::Eleven;
/// Namespace of alert ids (UUID v5 of what raised the alert).
const ALERT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_4c52_9d1e_4b0a_8f3e_52d7_c0a1_b2e3);

impl CollarActor {
    /// Applies one sample of the current pet; late ones only add to today's steps.
    pub(super) fn apply(&mut self, sample: &Sample) {
        self.count_steps(sample);
        if sample.ts_ms <= self.snap.newest_ts {
            return;
        }
        self.snap.newest_ts = sample.ts_ms;
        let state = &mut self.snap.state;
        state.last_seen = Some(state.last_seen.unwrap_or(0).max(sample.ts_ms));
        if let Some(act) = sample.act {
            let activity = state.activity.get_or_insert(ActivityState {
                act: None,
                steps_today: 0,
            });
            activity.act = Some(act.as_str().to_owned());
        }
        if sample.hr.is_some() || sample.temp.is_some() {
            state.vitals = Some(Vitals {
                hr: sample.hr,
                temp: sample.temp,
                at: sample.ts_ms,
            });
        }
        if let Some(hr) = sample.hr {
            if let Some(kind) = self.snap.heart_rate.observe(hr, self.hr_band) {
                let (min, max) = self.hr_band;
                let details = serde_json::json!({ "hr": hr, "min": min, "max": max });
                self.raise(kind, sample, None, details);
            }
        }
        if let Some(pct) = sample.bat {
            self.snap.state.battery = Some(Battery {
                pct,
                at: sample.ts_ms,
            });
            if let Some(kind) = self.snap.battery.observe(pct) {
                self.raise(kind, sample, None, serde_json::json!({ "pct": pct }));
            }
        }
        if sample.fix.is_some() {
            self.apply_fix(sample);
        }
    }

    /// Adds the sample's steps to today's, once per `seq`: a redelivered or re-sent sample
    /// is stored once, and counted once here too.
    fn count_steps(&mut self, sample: &Sample) {
        let Some(steps) = sample.steps else { return };
        let day = sample.ts_ms.div_euclid(86_400_000);
        let snap = &mut self.snap;
        let activity = snap.state.activity.get_or_insert(ActivityState {
            act: None,
            steps_today: 0,
        });
        if day > snap.steps_day {
            activity.steps_today = 0;
            snap.steps_day = day;
            snap.steps_counted.clear();
        }
        if day == snap.steps_day && snap.steps_counted.insert(sample.seq) {
            activity.steps_today += u64::from(steps);
        }
    }

    fn apply_fix(&mut self, sample: &Sample) {
        let Some(fix) = sample.fix else { return };
        let (lat, lon, acc) = (fix.lat, fix.lon, fix.acc);
        let h3 = h3o::LatLng::new(lat, lon)
            .map(|ll| ll.to_cell(STATE_H3_RESOLUTION).to_string())
            .unwrap_or_default();
        self.snap.state.location = Some(Location {
            lat,
            lon,
            acc,
            at: sample.ts_ms,
            h3,
        });
        let point = geo::Point::new(lon, lat);
        let acc_m = acc.unwrap_or(0.0);
        let mut alerts = Vec::new();
        let mut inside = Vec::new();
        for fence in self.fences.iter() {
            let placement = fence.place(point, acc_m);
            let tracker = self.snap.fences.entry(fence.id).or_default();
            let crossing = tracker.observe(FixPlacement {
                inside: placement.inside,
                distance_to_boundary_m: placement.distance_to_boundary_m,
                acc_m,
            });
            if tracker.is_inside() {
                inside.push(fence.id.to_string());
            }
            let kind = match (fence.kind, crossing) {
                (FenceKind::Safe, Some(Crossing::Exited)) => AlertKind::GeofenceExit,
                (FenceKind::KeepOut, Some(Crossing::Entered)) => AlertKind::GeofenceEnter,
                _ => continue,
            };
            // The index may have answered with a lower bound; an alert reports the exact distance.
            let distance = fence.geometry.distance_to_boundary_m(point);
            let details = serde_json::json!({
                "geofence_id": fence.id, "lat": lat, "lon": lon, "acc": acc,
                "distance_m": distance.round(),
            });
            alerts.push((kind, fence.id.to_string(), details));
        }
        self.snap.state.geofences.inside = inside;
        for (kind, fence, details) in alerts {
            self.raise(kind, sample, Some(&fence), details);
        }
    }

    /// Raises an alert caused by `sample` (and, for fences, by one fence).
    fn raise(
        &mut self,
        kind: AlertKind,
        sample: &Sample,
        fence: Option<&str>,
        details: serde_json::Value,
    ) {
        let cause = match fence {
            Some(fence) => format!("seq:{}:fence:{fence}", sample.seq),
            None => format!("seq:{}", sample.seq),
        };
        self.push_alert(kind, sample.ts_ms, &cause, details);
    }

    /// Raises `collar_offline`; one offline spell is known by when the collar was last heard of.
    pub(super) fn raise_offline(&mut self, reason: &str) {
        let at = self
            .snap
            .state
            .last_seen
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        let details = serde_json::json!({ "reason": reason });
        self.push_alert(
            AlertKind::CollarOffline,
            at,
            &format!("offline:{at}"),
            details,
        );
    }

    fn push_alert(&mut self, kind: AlertKind, at: i64, cause: &str, details: serde_json::Value) {
        let Some(pet_id) = self.pet_id else { return };
        let name = format!("{}/{pet_id}/{}/{cause}", self.serial, kind.as_str());
        let id = Uuid::new_v5(&ALERT_ID_NAMESPACE, name.as_bytes());
        tracing::info!(collar = %self.serial, kind = kind.as_str(), alert = %id, "alert");
        self.raised.push(RaiseAlert {
            id,
            pet_id,
            serial: self.serial.clone(),
            kind,
            at,
            details,
        });
    }
}
