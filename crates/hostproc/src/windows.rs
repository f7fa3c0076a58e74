//! `hostproc` on Windows, for now the foreground `run` alone (runc's flags for it): the
//! container's whole life in this process, which holds its Job Object
//! (hostproc_job::windows::run). create/start/state/kill/delete and `pod` are Linux-only
//! until the container crate has a Windows side (docs/windows.md).

use std::os::windows::io::AsHandle;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hostproc_job::windows::run;

#[derive(Parser)]
#[command(name = "hostproc", version, about = "HostProcess containers on Windows Job Objects (run only, for now)")]
struct Cli {
    /// Accepted for runc compatibility (run keeps no state on Windows yet)
    #[arg(long, global = true)]
    root: Option<PathBuf>,
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

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let Command::Run { bundle, id } = cli.command;
    let grace = match grace(&bundle) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("hostproc: {e}");
            return ExitCode::from(1);
        }
    };
    let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    match run::run(&bundle, &id, grace, [i.as_handle(), o.as_handle(), e.as_handle()]) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(e) => {
            eprintln!("hostproc: {e}");
            ExitCode::from(1)
        }
    }
}
