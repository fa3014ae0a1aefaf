//! PostgreSQL queries, one module per aggregate. Handlers call these; no SQL elsewhere.

pub mod accounts;
pub mod alert_outbox;
pub mod alerts;
pub mod archive;
pub mod bus;
pub mod collars;
pub mod feed;
pub mod fields;
pub mod forward;
pub mod geofences;
pub mod history;
pub mod invitations;
pub mod locks;
pub mod mood_corrections;
pub mod mood_models;
pub mod mood_retrain;
pub mod mood_training;
pub mod moods;
pub mod notifications;
pub mod pets;
pub mod posts;
pub mod rollups;
pub mod share;
pub mod social;
pub mod voice;

use chrono::{DateTime, Utc};

/// Times leave the server as Unix epoch milliseconds.
pub fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// True when the error is a unique-constraint violation (a conflict, not a failure).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// True when retrying cannot mend the error: the data breaks a constraint (class 23) or
/// cannot be represented (class 22: a NUL in text, a value out of range). Connections,
/// timeouts and a full pool are not permanent.
pub fn is_permanent(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.code().is_some_and(|code| code.starts_with("22") || code.starts_with("23")))
}
