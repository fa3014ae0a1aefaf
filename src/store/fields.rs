//! Numbers out of MongoDB documents, whatever numeric type the server hands back: MongoDB
//! keeps the Int64 and Double we write, but wire-compatible servers may return small
//! integers as Int32 and whole doubles as integers. Every reader of telemetry documents
//! (persistence's duplicate check, the alert outbox, the history reader) goes through these.

use mongodb::bson::{Bson, Document};

/// An integer field however the server typed it.
pub fn integer(doc: &Document, key: &str) -> Option<i64> {
    match doc.get(key)? {
        Bson::Int64(v) => Some(*v),
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

/// A number field as `f64`, whatever numeric type it came back as.
pub fn number(doc: &Document, key: &str) -> Option<f64> {
    match doc.get(key)? {
        Bson::Double(v) => Some(*v),
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        _ => None,
    }
}
