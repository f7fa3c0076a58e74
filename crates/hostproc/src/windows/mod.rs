//! `hostproc` on Windows: the foreground `run` (the container's whole life in this
//! process, which holds its Job Object: hostproc_job::windows::run) and runc's lifecycle as
//! separate commands (create/start/state/kill/delete, `lifecycle.rs`) with the state in
//! the Linux layout (`state.rs`). `pod` and the image store are Linux-only
//! (docs/windows.md).

mod lifecycle;
mod state;

use std::os::windows::io::AsHandle;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hostproc_job::windows::{run, sandbox::SandboxError, JobError};

/// What a Windows command failed at, naming the container, the path or the input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {0:?}: use letters, digits and _ + - . (at most 255 bytes, not . or ..)")]
    BadId(String),
    #[error("container {id} does not exist (no state under {})", root.display())]
    NotExist { id: String, root: PathBuf },
    #[error("container {0} exists already: choose another id, or delete it first")]
    Exists(String),
    #[error("the state of container {id} ({}) is unreadable: {detail}; remove it with `hostproc delete --force {id}`", path.display())]
    BadState { id: String, path: PathBuf, detail: String },
    #[error("container {id} is {status}: {hint}")]
    WrongStatus { id: String, status: state::Status, hint: &'static str },
    #[error("unknown signal {0:?}: Windows has TERM (CTRL_SHUTDOWN), INT (CTRL_C), QUIT (CTRL_BREAK) and KILL (terminate), by name (with or without SIG) or number")]
    Signal(String),
    #[error("the supervisor of container {id} did not start: {detail}")]
    Supervisor { id: String, detail: String },
    #[error("cannot {what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Grace(String),
    #[error(transparent)]
    Run(#[from] run::RunError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

#[derive(Parser)]
#[command(name = "hostproc", version, about = "HostProcess containers on Windows Job Objects, with runc's command line")]
struct Cli {
    /// Where container state lives (`<root>\<id>\state.json`); default %ProgramData%\hostproc
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Accepted for runc compatibility (containerd passes them); errors go to stderr
    #[arg(long, global = true, hide = true)]
    log: Option<PathBuf>,
    #[arg(long = "log-format", global = true, hide = true)]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and start a container in the foreground; exits with the payload's code
    Run {
        /// The bundle (its config.json and rootfs)
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        id: String,
    },
    /// Create a container: its job, sandbox and payload (suspended until `start`)
    Create {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// Write the payload's pid here
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        id: String,
    },
    /// Let a created container's payload run
    Start { id: String },
    /// Print the container's state (runc's JSON)
    State { id: String },
    /// Stop the container: TERM/INT ask (console control event), then the grace period, then terminate; KILL terminates
    Kill {
        /// Accepted for runc compatibility: on Windows the event reaches every process of the job anyway
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Remove a stopped (or created) container; --force stops a running one first
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// (internal) Hold a created container's job until its init exits
    #[command(hide = true)]
    Supervise { id: String },
}

/// `hostproc.io/grace-period`: `5s`, `500ms`, `1m` or plain seconds; 5 s by default.
fn grace(bundle: &std::path::Path) -> Result<Duration, String> {
    let Ok(spec) = oci_spec::runtime::Spec::load(bundle.join("config.json")) else { return Ok(Duration::from_secs(5)) };
    let Some(v) = spec.annotations().as_ref().and_then(|a| a.get("hostproc.io/grace-period")).cloned() else {
        return Ok(Duration::from_secs(5));
    };
    let bad = || format!("hostproc.io/grace-period = {v:?}: give a duration like 5s, 500ms or 1m");
    let (num, unit) = v.trim().split_at(v.trim().find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.trim().len()));
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    if !(0.0..=86400.0).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn default_root() -> PathBuf {
    let base = std::env::var_os("ProgramData").map_or_else(|| PathBuf::from("C:\\ProgramData"), PathBuf::from);
    base.join("hostproc")
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("hostproc: {e}");
    ExitCode::from(1)
}

fn foreground(bundle: &Path, id: &str) -> ExitCode {
    let grace = match grace(bundle) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    match run::run(bundle, id, grace, [i.as_handle(), o.as_handle(), e.as_handle()]) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(e) => fail(e),
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let root = cli.root.unwrap_or_else(default_root);
    let result = match cli.command {
        Command::Run { bundle, id } => return foreground(&bundle, &id),
        Command::Create { bundle, pid_file, id } => {
            grace(&bundle).map_err(Error::Grace).and_then(|g| lifecycle::create(&root, &bundle, &id, pid_file.as_deref(), g))
        }
        Command::Start { id } => lifecycle::start(&root, &id),
        Command::State { id } => lifecycle::state_json(&root, &id).map(|s| println!("{s}")),
        Command::Kill { all, id, signal } => lifecycle::kill(&root, &id, &signal, all),
        Command::Delete { force, id } => lifecycle::delete(&root, &id, force),
        Command::Supervise { id } => lifecycle::supervise(&root, &id),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}
