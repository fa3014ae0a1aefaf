//! The actors of ARCHITECTURE.md: one `CollarActor` per active collar (found or started by
//! the `CollarRegistry`), one `UserSession` per WebSocket, the `LiveHub` between them, and
//! the supervisors that own slow effects (persistence, alerts).

pub mod alerts;
pub mod archival;
pub mod bus;
pub mod collar;
pub mod commands;
pub mod events;
pub mod feed;
pub mod hub;
pub mod mood;
pub mod mood_retrain;
pub mod notifications;
pub mod persistence;
pub mod registry;
pub mod rollup;
pub mod rules;
pub mod scope;
pub mod session;
pub mod voice_spool;

/// Handles to the long-lived actors that HTTP handlers talk to (as `web::Data`).
#[derive(Clone)]
pub struct Actors {
    pub registry: actix::Addr<registry::CollarRegistry>,
    pub hub: actix::Addr<hub::LiveHub>,
}
