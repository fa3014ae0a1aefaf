use clap::Parser;

use pettysync::cli::{Cli, CliError, Command};
use pettysync::config::Settings;
use pettysync::startup::Application;
use pettysync::{migrate, telemetry};

#[actix_web::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli).await {
        tracing::error!(error = ?error, "pettysync stopped");
        eprintln!("pettysync: {error:#}");
        std::process::exit(error.exit_code());
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let settings = Settings::load()?;
    telemetry::init_tracing(&settings.log, settings.log_format);
    match cli.command {
        Command::Simulate(args) => {
            let report = pettysync::simulate::run(args.options())
                .await
                .map_err(|e| CliError::BadArgument(format!("{e:#}")))?;
            println!("{report:?}");
        }
        Command::Serve => {
            settings.require_jwt_secret()?;
            let app = Application::build(settings).await?;
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            migrate::run(&settings).await?;
            tracing::info!("migrations applied");
        }
        Command::Mood(command) => pettysync::cli::mood::run(&settings, command).await?,
        Command::Rollup { from, to } => {
            println!("{}", pettysync::cli::rollup(&settings, from.zip(to)).await?);
        }
        Command::Archive { dry_run } => {
            println!("{}", pettysync::cli::archive(&settings, dry_run).await?);
        }
        Command::ProvisionCollar { serial } => {
            println!(
                "{}",
                pettysync::cli::provision_collar(&settings, &serial).await?
            );
        }
    }
    Ok(())
}
