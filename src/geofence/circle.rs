//! Reading a `Circle` fence: a valid `[lon, lat]` centre and a radius within the limits; both
//! are checked, so a client learns of both mistakes at once.

use geo::Point;
use serde_json::Value;

use super::{read_position, FenceGeometry, MAX_RADIUS_M, MIN_RADIUS_M};
use crate::validation::FieldError;

pub(super) fn parse_circle(value: &Value) -> Result<FenceGeometry, Vec<FieldError>> {
    let center = read_position(&value["center"])
        .map_err(|message| FieldError::new("geometry.center", message));
    let radius_m = value["radius_m"]
        .as_f64()
        .filter(|r| (MIN_RADIUS_M..=MAX_RADIUS_M).contains(r))
        .ok_or_else(|| {
            FieldError::new(
                "geometry.radius_m",
                format!(
                    "radius_m must be a number of metres from {MIN_RADIUS_M} to {MAX_RADIUS_M}"
                ),
            )
        });
    match (center, radius_m) {
        (Ok(center), Ok(radius_m)) => Ok(FenceGeometry::Circle {
            center: Point(center),
            radius_m,
        }),
        (center, radius_m) => Err(center.err().into_iter().chain(radius_m.err()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::fields_of;
    use super::*;

    #[test]
    fn a_circle_with_a_bad_center_and_radius_reports_both() {
        let geometry = json!({"type": "Circle", "center": [0, 95], "radius_m": 5});
        assert_eq!(
            fields_of(geometry),
            ["geometry.center", "geometry.radius_m"]
        );
        let geometry = json!({"type": "Circle", "radius_m": "100"});
        assert_eq!(
            fields_of(geometry),
            ["geometry.center", "geometry.radius_m"]
        );
    }

    #[test]
    fn a_circle_radius_outside_the_limits_is_refused() {
        for radius in [json!(9.9), json!(100_000.1), json!(-50), json!(null)] {
            let geometry = json!({"type": "Circle", "center": [0, 0], "radius_m": radius});
            assert_eq!(fields_of(geometry), ["geometry.radius_m"]);
        }
        for radius in [MIN_RADIUS_M, MAX_RADIUS_M] {
            let geometry = json!({"type": "Circle", "center": [0, 0], "radius_m": radius});
            assert!(FenceGeometry::parse(&geometry).is_ok());
        }
    }
}
