//! Commands to collars, as the collar protocol writes them.

use serde::{Deserialize, Serialize};

/// Shortest and longest reporting interval a collar accepts (collar protocol).
pub const INTERVAL_RANGE_S: std::ops::RangeInclusive<u32> = 2..=3600;
/// A command as the collar protocol writes it (without `v` and `id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum CollarCommand {
    SetInterval {
        /// Seconds between reports, 2 to 3600.
        #[schema(minimum = 2, maximum = 3600)]
        interval_s: u32,
    },
    FindMe,
    LostMode {
        on: bool,
    },
}

impl CollarCommand {
    /// Checks the protocol's bounds.
    pub fn validate(&self) -> Result<(), &'static str> {
        match self {
            Self::SetInterval { interval_s } if !INTERVAL_RANGE_S.contains(interval_s) => {
                Err("interval_s must be between 2 and 3600")
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_interval_is_bounded() {
        assert!(CollarCommand::SetInterval { interval_s: 1 }
            .validate()
            .is_err());
        assert!(CollarCommand::SetInterval { interval_s: 2 }
            .validate()
            .is_ok());
        assert!(CollarCommand::SetInterval { interval_s: 3601 }
            .validate()
            .is_err());
    }
}
