//! What a share link shows: the scopes and precision of a link, and the pure functions that
//! cut a pet's live state and its alerts down to them. A share viewer sees exactly what this
//! module lets through and nothing else, on the REST answer and on the WebSocket alike.
//!
//! - Always: `online`, `last_seen`, `live`.
//! - `location`: `location`, and `geofences` at `exact` precision only (which fences a pet is
//!   inside can be finer than an H3 cell: a small fence around a house would pin it down).
//! - `vitals`: `vitals`, `battery`, `activity`.
//! - `mood`: the pet's mood, once the live state carries one (the hook is [`ShareView::state`]).
//! - `alerts`: alert frames of the link's pet; their `details` keep only what the other
//!   scopes allow (a geofence alert's position only with `location` at `exact`).
//!
//! `approximate` precision replaces the position with the centre of its H3 cell at the
//! link's resolution, `acc` with the distance from that centre to the cell's farthest
//! vertex, and `h3` with that cell: the exact position never leaves the server.

use serde::{Deserialize, Serialize};

use super::events::{ActivityState, Alert, AlertKind, Battery, FenceMembership, LiveState};
use super::events::{Location, Vitals};

/// The scope names of the API, in their canonical order.
pub const SCOPE_NAMES: [&str; 4] = ["location", "vitals", "mood", "alerts"];

/// Keys of alert `details` that reveal where the pet is.
const POSITION_DETAILS: [&str; 4] = ["lat", "lon", "acc", "distance_m"];

/// The scopes of a share link: which parts of the pet's state it shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes {
    pub location: bool,
    pub vitals: bool,
    pub mood: bool,
    pub alerts: bool,
}

impl Scopes {
    /// Parses scope names; `Err` names the problem (empty, unknown or repeated name).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, &'static str> {
        if names.is_empty() {
            return Err("must name at least one scope");
        }
        let mut scopes = Self::default();
        for name in names {
            let flag = match name.as_ref() {
                "location" => &mut scopes.location,
                "vitals" => &mut scopes.vitals,
                "mood" => &mut scopes.mood,
                "alerts" => &mut scopes.alerts,
                _ => return Err("each scope must be location, vitals, mood or alerts"),
            };
            if std::mem::replace(flag, true) {
                return Err("must not name a scope twice");
            }
        }
        Ok(scopes)
    }

    /// The scope names, in canonical order.
    pub fn names(&self) -> Vec<String> {
        let on = [self.location, self.vitals, self.mood, self.alerts];
        SCOPE_NAMES
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(name, _)| (*name).to_owned())
            .collect()
    }
}

/// How exactly a share link shows the pet's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Exact,
    /// Snapped to the centre of its H3 cell at the link's resolution.
    Approximate,
}

impl Precision {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Approximate => "approximate",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "exact" => Some(Self::Exact),
            "approximate" => Some(Self::Approximate),
            _ => None,
        }
    }
}

/// Everything the filter needs to know about a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareView {
    pub scopes: Scopes,
    pub precision: Precision,
    /// The H3 resolution of `approximate` positions.
    pub resolution: h3o::Resolution,
}

/// A pet's live state as a share link shows it: the live protocol's `state` object with the
/// fields its scopes do not allow left out.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SharedState {
    pub online: bool,
    pub last_seen: Option<i64>,
    pub live: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vitals: Option<Vitals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<ActivityState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery: Option<Battery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geofences: Option<FenceMembership>,
}

impl ShareView {
    /// The part of `state` this link shows.
    pub fn state(&self, state: &LiveState) -> SharedState {
        let Scopes {
            location, vitals, ..
        } = self.scopes;
        let exact = self.precision == Precision::Exact;
        // `mood` goes here, under `self.scopes.mood`, once `LiveState` carries it.
        SharedState {
            online: state.online,
            last_seen: state.last_seen,
            live: state.live,
            location: state
                .location
                .as_ref()
                .filter(|_| location)
                .and_then(|at| self.position(at)),
            vitals: state.vitals.clone().filter(|_| vitals),
            activity: state.activity.clone().filter(|_| vitals),
            battery: state.battery.clone().filter(|_| vitals),
            geofences: Some(state.geofences.clone()).filter(|_| location && exact),
        }
    }

    /// The alert as this link shows it; `None` when the link has no `alerts` scope.
    pub fn alert(&self, alert: &Alert) -> Option<Alert> {
        if !self.scopes.alerts {
            return None;
        }
        let mut shown = alert.clone();
        if let Some(details) = shown.details.as_object_mut() {
            let keep = |key: &str| self.may_show_detail(alert.kind, key);
            details.retain(|key, _| keep(key));
        }
        Some(shown)
    }

    /// Whether an alert's `details` entry stays: each is shown under the scope its value
    /// belongs to, so `alerts` alone tells what happened and when, not the readings.
    fn may_show_detail(&self, kind: AlertKind, key: &str) -> bool {
        match kind {
            AlertKind::GeofenceExit | AlertKind::GeofenceEnter
                if POSITION_DETAILS.contains(&key) =>
            {
                self.scopes.location && self.precision == Precision::Exact
            }
            AlertKind::GeofenceExit | AlertKind::GeofenceEnter => self.scopes.location,
            AlertKind::HeartRateHigh | AlertKind::HeartRateLow | AlertKind::BatteryLow => {
                self.scopes.vitals
            }
            AlertKind::MoodDistress => self.scopes.mood,
            AlertKind::CollarOffline => key == "reason",
        }
    }

    /// The location as shown: as it is, or snapped to its cell; `None` for a position H3
    /// cannot place (never shown rather than shown exactly).
    fn position(&self, location: &Location) -> Option<Location> {
        match self.precision {
            Precision::Exact => Some(location.clone()),
            Precision::Approximate => {
                let cell = h3o::LatLng::new(location.lat, location.lon)
                    .ok()?
                    .to_cell(self.resolution);
                let centre = h3o::LatLng::from(cell);
                Some(Location {
                    lat: centre.lat(),
                    lon: centre.lng(),
                    acc: Some(cell_radius_m(cell)),
                    at: location.at,
                    h3: cell.to_string(),
                })
            }
        }
    }
}

/// Distance in metres (great circle) from a cell's centre to its farthest boundary vertex.
pub fn cell_radius_m(cell: h3o::CellIndex) -> f64 {
    let centre = h3o::LatLng::from(cell);
    cell.boundary()
        .iter()
        .map(|vertex| centre.distance_m(*vertex))
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::ids::PetId;

    const EXACT: (f64, f64) = (48.855_123, 2.355_987);

    fn full_state() -> LiveState {
        LiveState {
            online: true,
            last_seen: Some(10),
            live: true,
            location: Some(Location {
                lat: EXACT.0,
                lon: EXACT.1,
                acc: Some(4.0),
                at: 10,
                h3: "8b1fb46622dcfff".into(),
            }),
            vitals: Some(Vitals {
                hr: Some(96),
                temp: Some(38.6),
                at: 10,
            }),
            activity: Some(ActivityState {
                act: Some("walk".into()),
                steps_today: 5,
            }),
            battery: Some(Battery { pct: 83, at: 10 }),
            geofences: FenceMembership {
                inside: vec!["fence".into()],
            },
        }
    }

    fn view(names: &[&str], precision: Precision) -> ShareView {
        ShareView {
            scopes: Scopes::parse(names).unwrap(),
            precision,
            resolution: h3o::Resolution::Eight,
        }
    }

    fn keys(value: &impl Serialize) -> Vec<String> {
        let value = serde_json::to_value(value).unwrap();
        let mut keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn each_scope_combination_shows_exactly_its_fields() {
        let always = ["last_seen", "live", "online"];
        for mask in 1..16u8 {
            let names: Vec<&str> = (0..4)
                .filter(|bit| mask & (1 << bit) != 0)
                .map(|bit| SCOPE_NAMES[bit])
                .collect();
            let shown = view(&names, Precision::Exact).state(&full_state());
            let mut expected: Vec<&str> = always.to_vec();
            if names.contains(&"location") {
                expected.extend(["location", "geofences"]);
            }
            if names.contains(&"vitals") {
                expected.extend(["vitals", "battery", "activity"]);
            }
            expected.sort();
            assert_eq!(keys(&shown), expected, "scopes {names:?}");
        }
    }

    #[test]
    fn an_approximate_position_is_its_cell_centre_and_never_the_exact_one() {
        let shown = view(&["location"], Precision::Approximate).state(&full_state());
        let location = shown.location.unwrap();
        let cell = h3o::LatLng::new(EXACT.0, EXACT.1)
            .unwrap()
            .to_cell(h3o::Resolution::Eight);
        let centre = h3o::LatLng::from(cell);
        assert_eq!((location.lat, location.lon), (centre.lat(), centre.lng()));
        assert_ne!(location.lat, EXACT.0);
        assert_ne!(location.lon, EXACT.1);
        assert_eq!(location.h3, cell.to_string());
        let acc = location.acc.unwrap();
        assert!(
            (300.0..700.0).contains(&acc),
            "a res-8 cell's radius: {acc}"
        );
        assert_eq!(location.at, 10);
        assert!(shown.geofences.is_none(), "fences can be finer than a cell");
    }

    #[test]
    fn every_position_in_a_cell_is_shown_the_same() {
        let v = view(&["location"], Precision::Approximate);
        let mut state = full_state();
        let first = v.state(&state).location.unwrap();
        let centre = (first.lat, first.lon);
        for (dlat, dlon) in [(0.0005, 0.0), (0.0, -0.0005), (-0.0003, 0.0004)] {
            let location = state.location.as_mut().unwrap();
            location.lat = centre.0 + dlat;
            location.lon = centre.1 + dlon;
            let shown = v.state(&state).location.unwrap();
            assert_eq!((shown.lat, shown.lon), centre);
        }
    }

    #[test]
    fn exact_precision_shows_the_location_as_it_is() {
        let shown = view(&["location"], Precision::Exact).state(&full_state());
        assert_eq!(shown.location, full_state().location);
    }

    fn alert(kind: AlertKind, details: Value) -> Alert {
        Alert {
            id: uuid::Uuid::new_v4(),
            pet_id: PetId::new(),
            kind,
            at: 1,
            details,
            acknowledged_at: None,
        }
    }

    #[test]
    fn alerts_need_the_alerts_scope_and_their_details_the_other_scopes() {
        let fence = alert(
            AlertKind::GeofenceExit,
            json!({"geofence_id": "f", "lat": 1.0, "lon": 2.0, "acc": 3.0, "distance_m": 4.0}),
        );
        let hr = alert(
            AlertKind::HeartRateHigh,
            json!({"hr": 200, "min": 50, "max": 180}),
        );
        assert!(view(&["location"], Precision::Exact)
            .alert(&fence)
            .is_none());

        let alone = view(&["alerts"], Precision::Exact);
        assert_eq!(alone.alert(&fence).unwrap().details, json!({}));
        assert_eq!(alone.alert(&hr).unwrap().details, json!({}));

        let rough = view(&["alerts", "location"], Precision::Approximate);
        assert_eq!(
            rough.alert(&fence).unwrap().details,
            json!({"geofence_id": "f"})
        );
        let exact = view(&["alerts", "location", "vitals"], Precision::Exact);
        assert_eq!(exact.alert(&fence).unwrap().details, fence.details);
        assert_eq!(exact.alert(&hr).unwrap().details, hr.details);
    }

    #[test]
    fn scopes_must_be_known_distinct_and_at_least_one() {
        assert!(Scopes::parse::<&str>(&[]).is_err());
        assert!(Scopes::parse(&["location", "location"]).is_err());
        assert!(Scopes::parse(&["history"]).is_err());
        let scopes = Scopes::parse(&["alerts", "location"]).unwrap();
        assert_eq!(scopes.names(), ["location", "alerts"]);
    }
}
