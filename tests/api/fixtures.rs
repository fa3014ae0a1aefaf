//! Fixtures for fault tests: a Mosquitto of a test's own with stock settings (`broker`),
//! `pettysync serve` as a child process that can be stopped or killed (`process`), and a
//! TCP proxy that can cut a store off and bring it back (`switch`).

pub mod broker;
pub mod process;
pub mod switch;
