//! What both benchmarks share: the machine a run is on, the server under test started in the
//! bench process against databases of its own, CPU time read from `/proc`, percentiles.
//!
//! - `host`: CPUs, memory and load average of the machine;
//! - `server`: the load generator's runtime, isolated settings, starting the server;
//! - `cpu`: a process's or a thread's CPU ticks;
//! - `stats`: nearest-rank percentiles.
//!
//! Each benchmark's `main.rs` includes this folder with
//! `#[path = "../support/mod.rs"] mod support;`.

pub mod cpu;
pub mod host;
pub mod server;
pub mod stats;
