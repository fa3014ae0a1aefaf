//! The ground floor's shared vocabulary: the types several layers speak (samples, alerts,
//! live state, collar commands, pages, the access rules), with no I/O. Every layer may use
//! it; it uses nothing above the ground floor.
//!
//! - `sample`: a validated telemetry sample;
//! - `live`: a pet's live state (the live protocol's `state`);
//! - `alert`: alert kinds and alerts;
//! - `command`: commands to collars;
//! - `page`: cursor pagination;
//! - `access`: roles on a pet and what each may do;
//! - `ack`: acknowledging a collar message once what it carried is stored.
//! - `stats`: a pet's statistics per quarter hour, and the days of a time zone.

pub mod access;
pub mod ack;
pub mod alert;
pub mod command;
pub mod live;
pub mod page;
pub mod sample;
pub mod stats;

pub use self::page::{Page, Paged};
