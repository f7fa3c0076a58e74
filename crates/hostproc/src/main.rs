//! `hostproc`: the command line, runc's. Thin: each command (one file each under
//! `commands/`) parses its flags and calls the container crate.
//!
//! The entry point is C's `main`, not Rust's: every container command starts a hostproc
//! process, and std's runtime set-up for a Rust `main` (reading /proc/self/maps for the
//! main thread's stack guard, an alternate signal stack and SIGSEGV/SIGBUS handlers for
//! stack-overflow messages: 17 system calls) took 0.1 ms of each (docs/benchmarks.md).
//! What of it matters is done here: descriptors 0-2 kept open, SIGPIPE's action, and
//! `process::exit` flushing stdout. The arguments still come through `std::env::args`
//! (glibc hands them to std's initializer). A stack overflow ends the process with
//! SIGSEGV and no message.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

mod commands;
mod logging;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hostproc",
    version = VERSION,
    about = "HostProcess containers on Linux: an OCI runtime with runc's command line",
    disable_version_flag = true
)]
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
    /// cgroupsPath is systemd's slice:prefix:name; placed at the cgroupfs path systemd would use
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility (checkpointing is not supported)
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// Accepted for runc compatibility: "false" or "auto"; "true" is refused
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Print the version
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
    #[command(subcommand)]
    command: Command,
}

// clap prints "<name> <version>": this makes runc's "hostproc version X.Y.Z".
const VERSION: &str = concat!("version ", env!("CARGO_PKG_VERSION"), "\ncommit: ", env!("HOSTPROC_COMMIT"), "\nspec: 1.3.0");

#[derive(Subcommand)]
enum Command {
    /// Create a container: its job, storage and an init held before exec
    Create(commands::create::Args),
    /// Let a created container's init exec its payload
    Start(commands::start::Args),
    /// Create and start a container; in the foreground unless --detach
    Run(commands::run::Args),
    /// Print a container's state as JSON
    State(commands::state::Args),
    /// Send a signal to a container's init (or, with --all, every process of its job)
    Kill(commands::kill::Args),
    /// Remove a container's job, storage and state
    Delete(commands::delete::Args),
    /// Run another process in a container's job
    Exec(commands::exec::Args),
    /// List the processes of a container's job
    Ps(commands::ps::Args),
    /// Print a container's usage (--stats) or stream it with OOM events
    Events(commands::events::Args),
    /// Freeze every process of a container
    Pause(commands::pause::Args),
    /// Thaw a paused container
    Resume(commands::pause::ResumeArgs),
    /// Change a container's limits
    Update(commands::update::Args),
    /// List containers
    List(commands::list::Args),
    /// Print the runtime-spec features hostproc supports
    Features,
    /// Write a starter config.json for a HostProcess bundle
    Spec(commands::spec::Args),
}

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(_argc: std::ffi::c_int, _argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    hostproc_sys::ensure_std_fds();
    // `hostproc state ID | head` should end quietly, as runc does, not panic on EPIPE.
    hostproc_sys::default_sigpipe();
    // process::exit flushes stdout (a C-level return would not).
    std::process::exit(i32::from(hostproc_main()))
}

fn hostproc_main() -> u8 {
    // Usage errors exit 1 as runc's do (clap's own would be 2); --help and --version 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    if let Err(e) = logging::init(cli.log.as_deref(), &cli.log_format, cli.debug) {
        eprintln!("hostproc: {e}");
        return 1;
    }
    let res = if cli.rootless.as_deref() == Some("true") {
        Err(hostproc_container::ContainerError::invalid(
            "--rootless",
            "rootless mode is not supported: HostProcess containers run host processes and need root",
        ))
    } else {
        dispatch(&cli)
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e}");
            logging::report(&cli.log, &e.to_string());
            1
        }
    }
}

fn dispatch(cli: &Cli) -> commands::Result {
    match &cli.command {
        Command::Create(a) => commands::create::exec(cli, a),
        Command::Start(a) => commands::start::exec(cli, a),
        Command::Run(a) => commands::run::exec(cli, a),
        Command::State(a) => commands::state::exec(cli, a),
        Command::Kill(a) => commands::kill::exec(cli, a),
        Command::Delete(a) => commands::delete::exec(cli, a),
        Command::Exec(a) => commands::exec::exec(cli, a),
        Command::Ps(a) => commands::ps::exec(cli, a),
        Command::Events(a) => commands::events::exec(cli, a),
        Command::Pause(a) => commands::pause::exec(cli, a),
        Command::Resume(a) => commands::pause::exec_resume(cli, a),
        Command::Update(a) => commands::update::exec(cli, a),
        Command::List(a) => commands::list::exec(cli, a),
        Command::Features => commands::features::exec(),
        Command::Spec(a) => commands::spec::exec(a),
    }
}
