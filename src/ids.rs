//! Newtypes for identifiers, so a pet id is never passed where a user id is meant.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A user account.
    UserId
);
uuid_id!(
    /// A pet.
    PetId
);
uuid_id!(
    /// A geofence of a pet.
    GeofenceId
);

/// Shortest and longest collar serial (collar protocol).
pub const SERIAL_LEN: std::ops::RangeInclusive<usize> = 4..=64;

/// A collar's serial number: 4 to 64 characters of `A-Z a-z 0-9 - _`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(transparent)]
#[sqlx(transparent)]
#[schema(value_type = String, example = "PS-00017")]
pub struct CollarSerial(String);

impl CollarSerial {
    /// Checks the collar protocol's rule for serials.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if !SERIAL_LEN.contains(&raw.len()) || !raw.chars().all(allowed) {
            return Err("must be 4 to 64 characters of A-Z a-z 0-9 - _");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CollarSerial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_follow_the_collar_protocol() {
        assert!(CollarSerial::parse("PS-0001_a").is_ok());
        assert!(CollarSerial::parse("abc").is_err());
        assert!(CollarSerial::parse(&"a".repeat(65)).is_err());
        assert!(CollarSerial::parse("has space").is_err());
        assert!(CollarSerial::parse("slash/no").is_err());
        assert!(CollarSerial::parse("plus+no").is_err());
    }
}
