//! The command line (`pettysync --help`), and the short commands that are not the server.

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::ids::CollarSerial;
use crate::store::collars;

/// PettySync: smart pet collar back end. Settings come from PETTYSYNC_* environment variables.
#[derive(Debug, Parser)]
#[command(name = "pettysync", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: HTTP + WebSocket, MQTT ingest, all actors.
    Serve,
    /// Apply the PostgreSQL migrations and create the MongoDB collections and indexes.
    Migrate,
    /// Provision one collar and print its pairing code.
    ProvisionCollar {
        /// 4 to 64 characters of A-Z a-z 0-9 - _
        serial: String,
    },
}

/// Why a command failed: a bad setting or argument (exit 2), or anything else (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Usage(#[from] crate::config::ConfigError),
    #[error("{0}")]
    BadArgument(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) | Self::BadArgument(_) => 2,
            Self::Failed(_) => 1,
        }
    }
}

/// `provision-collar`: prints `serial pairing-code` on one line for scripts to read.
pub async fn provision_collar(settings: &Settings, serial: &str) -> Result<String, CliError> {
    let serial =
        CollarSerial::parse(serial).map_err(|m| CliError::BadArgument(format!("SERIAL {m}")))?;
    let pg = crate::startup::pg_pool(settings).await?;
    let code = collars::provision(&pg, &serial)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| CliError::BadArgument(format!("collar {serial} is provisioned already")))?;
    Ok(format!("{serial} {code}"))
}
