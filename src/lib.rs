//! PettySync: the back end of a smart pet collar and its app.
//!
//! # Layout
//!
//! - `config`: the typed [`config::Settings`], the only reader of the environment.
//! - `startup`: builds every client and the HTTP server ([`startup::Application`]).
//! - `migrate`: the PostgreSQL schema (`migrations/`) and MongoDB collections and indexes.
//! - `http/`: the HTTP API, one module per resource; `http::authz` decides who may do what
//!   with a pet; `http::error` is the one error type and its status/code table.
//! - `store/`: every PostgreSQL query, one module per aggregate.
//! - `ingest/`: collar traffic: the MQTT connection, the pure decoder, the pipeline that
//!   hands messages to actors and stores, commands to collars, voice clips.
//! - `actors/`: the collar actors and their registry, the live hub and WebSocket sessions,
//!   the persistence and alert supervisors.
//! - `auth`: password hashing, access tokens, opaque tokens; `cache`: Redis and rate limits;
//!   `geofence`: fence shapes and their validation; `fence_index`: H3 cells in front of them; `ids`: identifier newtypes;
//!   `telemetry`: logging and metrics set-up; `rt`: futures safe to drop at shutdown; `validation`: field errors; `cli`: commands; `simulate`: the virtual collar fleet.

pub mod actors;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod fence_index;
pub mod geofence;
pub mod http;
pub mod ids;
pub mod ingest;
pub mod migrate;
pub mod rt;
pub mod simulate;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod validation;
