//! What every benchmark shares: the machine a run is on, the server under test started in the
//! bench process against databases of its own, CPU time read from `/proc`, percentiles, and
//! the run summary each figure is added to.
//!
//! - `host`: CPUs, memory and load average of the machine;
//! - `server`: the load generator's runtime, isolated settings, starting the server;
//! - `cpu`: a process's or a thread's CPU ticks;
//! - `stats`: nearest-rank percentiles;
//! - `summary`: the rows (figure, value, target, met?) every benchmark appends to the run's
//!   summary file, which `scripts/bench.sh` prints as one table (`summary.py`).
//!
//! Each benchmark's `main.rs` includes this folder with
//! `#[path = "../support/mod.rs"] mod support;`; not every benchmark uses every part.
#![allow(dead_code)]

pub mod cpu;
pub mod host;
pub mod server;
pub mod stats;
pub mod summary;
