//! PettySync: the back end of a smart pet collar and its app.
//!
//! # Layout
//!
//! The crate is layered, and every import looks down (`src/README.md` has the picture and
//! the rule, which `scripts/check-layers.sh` checks):
//!
//! - wiring: `main`, `cli` (commands), `startup` (builds every client and actor, hands them
//!   to the handlers as `web::Data`), `simulate` (the virtual collar fleet: a collar, not the
//!   server);
//! - the doors: `http/` (the API, one module per resource; `http::authz`, `http::error`) and
//!   `ingest/` (MQTT in: the connection, the pure decoder, the pipeline);
//! - `actors/`: collar actors and their registry, the live hub and WebSocket sessions, and
//!   the supervisors of slow effects (persistence, alerts, notifications, feed, voice spool);
//! - `store/`: every query of PostgreSQL, MongoDB, Redis and S3, one module per aggregate;
//! - `domain/`: the vocabulary several layers speak (samples, live state, alerts, commands,
//!   pages, access rules), with no I/O;
//! - the ground floor: `config` (the only reader of the environment), `ids`, `auth`,
//!   `cache` (Redis and rate limits), `geofence` and `fence_index`, `migrate`, `mood` (the
//!   mood classifier core: WAV → features → mood, the seed set, training, per-pet
//!   calibration), `rt` (futures
//!   safe to drop at shutdown), `telemetry` (logs and metrics), `validation`.

pub mod actors;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod fence_index;
pub mod geofence;
pub mod http;
pub mod ids;
pub mod ingest;
pub mod migrate;
pub mod mood;
pub mod retry;
pub mod rt;
pub mod simulate;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod validation;
