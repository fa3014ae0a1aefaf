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
//! - `ingest/`: the MQTT connection to the collar broker.
//! - `auth`: password hashing, access tokens, opaque tokens; `cache`: Redis and rate limits;
//!   `geofence`: fence shapes and their validation; `ids`: identifier newtypes;
//!   `telemetry`: logging and metrics set-up; `validation`: field errors; `cli`: commands.

pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod geofence;
pub mod http;
pub mod ids;
pub mod ingest;
pub mod migrate;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod validation;
