//! What a share link shows: the scopes and precision of a link, and the pure functions that
//! cut a pet's live state and its alerts down to them. A share viewer sees exactly what this
//! module lets through and nothing else, on the REST answer and on the WebSocket alike.
//!
//! - Always: `online`, `last_seen`, `live`.
//! - `location`: `location`, and `geofences` at `exact` precision only (which fences a pet is
//!   inside can be finer than an H3 cell: a small fence around a house would pin it down).
//! - `vitals`: `vitals`, `battery`, `activity`.
//! - `mood`: the state's `mood` and the `mood` frames of the link's pet.
//! - `alerts`: alert frames of the link's pet; their `details` keep only what the other
//!   scopes allow (a geofence alert's position only with `location` at `exact`).
//!
//! `approximate` precision replaces the position with the centre of its H3 cell at the
//! link's resolution, `acc` with the distance from that centre to the cell's farthest
//! vertex, and `h3` with that cell: the exact position never leaves the server.

use serde::{Deserialize, Serialize};

use super::events::{ActivityState, Alert, AlertKind, Battery, FenceMembership, LiveState};
use super::events::{Location, MoodRecorded, MoodState, Vitals};

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mood: Option<MoodState>,
}

impl ShareView {
    /// The part of `state` this link shows.
    pub fn state(&self, state: &LiveState) -> SharedState {
        let Scopes {
            location,
            vitals,
            mood,
            ..
        } = self.scopes;
        let exact = self.precision == Precision::Exact;
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
            mood: state.mood.clone().filter(|_| mood),
        }
    }

    /// The `mood` frame's mood as this link shows it: whole with the `mood` scope, else
    /// `None` (not sent).
    pub fn mood<'a>(&self, recorded: &'a MoodRecorded) -> Option<&'a MoodRecorded> {
        self.scopes.mood.then_some(recorded)
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
mod tests;
