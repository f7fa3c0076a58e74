//! `hostproc`: the command line. Thin: each command parses its flags and calls the
//! container crate.

mod commands;
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hostproc", version = version(), about = "HostProcess containers on Linux: an OCI runtime with runc's command line")]
pub struct Cli {
    /// Directory for the containers' state
    #[arg(long, global = true, default_value = "/run/hostproc")]
    root: PathBuf,
    /// Write the log to this file instead of stderr
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log debug messages
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and run a container in the foreground; exits with the payload's status
    Run(commands::run::Args),
    /// Write a starter config.json for a HostProcess bundle
    Spec(commands::spec::Args),
    /// Print a container's state as JSON
    State(commands::state::Args),
    /// List containers
    List(commands::list::Args),
    /// Send a signal to a container's init (or, with --all, every process of its job)
    Kill(commands::kill::Args),
    /// Remove a container's job, storage and state
    Delete(commands::delete::Args),
}

fn version() -> &'static str {
    concat!(env!("CARGO_PKG_VERSION"), "\nspec: ", "1.3.0")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log.as_deref(), &cli.log_format, cli.debug) {
        eprintln!("hostproc: {e}");
        return ExitCode::from(1);
    }
    let res = match &cli.command {
        Command::Run(a) => commands::run::exec(&cli, a),
        Command::Spec(a) => commands::spec::exec(a),
        Command::State(a) => commands::state::exec(&cli, a),
        Command::List(a) => commands::list::exec(&cli, a),
        Command::Kill(a) => commands::kill::exec(&cli, a),
        Command::Delete(a) => commands::delete::exec(&cli, a),
    };
    match res {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tracing::error!("{e}");
            logging::report(&cli.log, &e.to_string());
            ExitCode::from(1)
        }
    }
}
