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
#![cfg_attr(all(unix, not(test)), no_main)]
#![cfg_attr(test, allow(dead_code))]

// On Windows the binary is the minimal `run` of windows.rs (docs/windows.md); everything
// below is the Linux runtime's.
#[cfg(windows)]
mod windows;
#[cfg(windows)]
fn main() -> std::process::ExitCode {
    windows::main()
}
macro_rules! unix_only { ($($item:item)*) => { $(#[cfg(unix)] $item)* } }
unix_only! {

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
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// The flags every command takes (before or after its name; `--version` only before).
#[derive(clap::Args)]
pub struct Global {
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
    /// The CRIU binary for checkpoint and restore (default: criu in PATH)
    #[arg(long, global = true)]
    criu: Option<String>,
    /// Accepted for runc compatibility: "false" or "auto"; "true" is refused
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Print the version
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
}

// clap prints "<name> <version>": this makes runc's "hostproc version X.Y.Z".
const VERSION: &str = concat!("version ", env!("CARGO_PKG_VERSION"), "\ncommit: ", env!("HOSTPROC_COMMIT"), "\nspec: 1.3.0");

// Deferred: a subcommand's flags are made only when it is the one being run.
#[derive(Subcommand)]
#[command(defer = true)]
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
    /// Checkpoint a running container with CRIU
    Checkpoint(commands::checkpoint::Args),
    /// Restore a container from a checkpoint
    Restore(commands::restore::Args),
    /// Print the runtime-spec features hostproc supports
    Features,
    /// Write a starter config.json for a HostProcess bundle
    Spec(commands::spec::Args),
    /// Images in hostproc's local store: pull, import, ls, inspect, rm, prune
    #[cfg(feature = "pod")]
    Image(commands::image::Args),
    /// Kubernetes HostProcess pods on this host: validate, run, ls, stop, rm, logs
    #[cfg(feature = "pod")]
    Pod(commands::pod::Args),
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
    let cli = match parse(std::env::args_os().map(single_dash_flag).collect()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let g = &cli.global;
    if let Err(e) = logging::init(g.log.as_deref(), &g.log_format, g.debug) {
        eprintln!("hostproc: {e}");
        return 1;
    }
    let res = if g.rootless.as_deref() == Some("true") {
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
            logging::report(&g.log, &e.to_string());
            1
        }
    }
}

/// containerd's runc shim passes restore's `-no-subreaper` with one dash (Go's flag
/// package takes both forms); clap wants two.
fn single_dash_flag(a: std::ffi::OsString) -> std::ffi::OsString {
    if a == "-no-subreaper" {
        "--no-subreaper".into()
    } else {
        a
    }
}

/// Parses the command line. clap copies each global flag into every subcommand before it
/// parses (some hundred `Arg` clones and 20 heap pages for hostproc's 15 commands, on
/// every container command), so the command line is first built with only the
/// subcommand named; anything that does not parse that way (help, typos, a name that is
/// really a flag's value) is parsed again against the whole tree, so that errors and help
/// are clap's own.
fn parse(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    if let Some(m) = partial_command(&args).and_then(|c| c.try_get_matches_from(&args).ok()) {
        return Cli::from_arg_matches(&m);
    }
    let m = Cli::command().try_get_matches_from(&args)?;
    Cli::from_arg_matches(&m)
}

/// The top level with its global flags and only the subcommand named in `args`.
fn partial_command(args: &[std::ffi::OsString]) -> Option<clap::Command> {
    use clap::Args;
    // The subcommands alone, deferred: names and descriptions, no flags yet.
    let subcommands = Command::augment_subcommands(clap::Command::new("hostproc"));
    let sub = subcommands.find_subcommand(subcommand_named(args)?)?;
    // No help text: help and errors always come from the whole tree (`parse`).
    let top = clap::Command::new("hostproc").version(VERSION).disable_version_flag(true);
    Some(Global::augment_args(top).subcommand(sub.clone()).subcommand_required(true))
}

/// The first word that is neither a flag nor a global flag's value: the subcommand's
/// name if the command line is well formed (`parse` checks it).
fn subcommand_named(args: &[std::ffi::OsString]) -> Option<&str> {
    let mut it = args.iter().skip(1).map(|a| a.to_str());
    while let Some(a) = it.next() {
        let a = a?;
        match a {
            "--root" | "--log" | "--log-format" | "--criu" => {
                it.next();
            }
            "--" => return None,
            _ if a.starts_with('-') => {}
            _ => return Some(a),
        }
    }
    None
}

fn dispatch(cli: &Cli) -> commands::Result {
    let g = &cli.global;
    match &cli.command {
        Command::Create(a) => commands::create::exec(g, a),
        Command::Start(a) => commands::start::exec(g, a),
        Command::Run(a) => commands::run::exec(g, a),
        Command::State(a) => commands::state::exec(g, a),
        Command::Kill(a) => commands::kill::exec(g, a),
        Command::Delete(a) => commands::delete::exec(g, a),
        Command::Exec(a) => commands::exec::exec(g, a),
        Command::Ps(a) => commands::ps::exec(g, a),
        Command::Events(a) => commands::events::exec(g, a),
        Command::Pause(a) => commands::pause::exec(g, a),
        Command::Resume(a) => commands::pause::exec_resume(g, a),
        Command::Update(a) => commands::update::exec(g, a),
        Command::List(a) => commands::list::exec(g, a),
        Command::Checkpoint(a) => commands::checkpoint::exec(g, a),
        Command::Restore(a) => commands::restore::exec(g, a),
        Command::Features => commands::features::exec(g),
        Command::Spec(a) => commands::spec::exec(a),
        #[cfg(feature = "pod")]
        Command::Image(a) => commands::image::exec(g, a),
        #[cfg(feature = "pod")]
        Command::Pod(a) => commands::pod::exec(g, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn argv(s: &str) -> Vec<std::ffi::OsString> {
        std::iter::once("hostproc").chain(s.split_whitespace()).map(Into::into).collect()
    }

    /// What a parse gave, comparable: the globals and the subcommand's name.
    fn summary(c: &Cli) -> String {
        let g = &c.global;
        let name = match &c.command {
            Command::Create(_) => "create",
            Command::Start(_) => "start",
            Command::Run(_) => "run",
            Command::State(_) => "state",
            Command::Kill(_) => "kill",
            Command::Delete(_) => "delete",
            Command::Exec(_) => "exec",
            Command::Ps(_) => "ps",
            Command::Events(_) => "events",
            Command::Pause(_) => "pause",
            Command::Resume(_) => "resume",
            Command::Update(_) => "update",
            Command::List(_) => "list",
            Command::Checkpoint(_) => "checkpoint",
            Command::Restore(_) => "restore",
            Command::Features => "features",
            Command::Spec(_) => "spec",
            #[cfg(feature = "pod")]
            Command::Image(_) => "image",
            #[cfg(feature = "pod")]
            Command::Pod(_) => "pod",
        };
        format!("{name} {:?} {:?} {} {} {} {:?} {:?}", g.root, g.log, g.log_format, g.debug, g.systemd_cgroup, g.criu, g.rootless)
    }

    #[test]
    fn the_partial_command_line_parses_as_the_whole_tree_does() {
        let cases = [
            "state x",
            "--root /r state x",
            "state --root /r x",
            "state x --root=/r --debug",
            "--log /l --log-format json delete --force x",
            "--log-format json run --bundle /b x",
            "--systemd-cgroup create --bundle /b --pid-file /p x",
            "--criu /c --rootless false kill x KILL",
            "--rootless list",
            "--rootless auto list -q",
            "exec --tty x /bin/sh",
            "events --stats x",
            "update --memory 1M x",
            "features",
            "--criu /c features",
            "--criu /c checkpoint --image-path /i --leave-running x",
            "restore -d --image-path /i --bundle /b --pid-file /p --no-subreaper x",
            "spec",
            "image ls",
            "--root /r image import oci-archive:/x.tar name",
            "pod validate a.yaml b.json",
            "--root /r pod validate --disallow-privileged a.yaml",
            "pod",
            "--root state list",
            "-- state x",
            "stat x",
            "state",
            "--help",
            "help state",
            "state --help",
            "--version",
            "",
        ];
        for c in cases {
            let whole = Cli::command().try_get_matches_from(argv(c)).map_err(|e| e.kind()).and_then(|m| {
                use clap::FromArgMatches;
                Cli::from_arg_matches(&m).map_err(|e| e.kind())
            });
            let ours = parse(argv(c)).map_err(|e| e.kind());
            match (&whole, &ours) {
                (Ok(w), Ok(o)) => assert_eq!(summary(w), summary(o), "{c:?}"),
                (Err(w), Err(o)) => assert_eq!(w, o, "{c:?}"),
                _ => panic!("{c:?}: the whole tree gave {:?}, the partial one {:?}", whole.as_ref().map(summary), ours.as_ref().map(summary)),
            }
            // What parses at all parses on the partial tree alone, the same (`parse` would
            // hide a broken partial path behind its fallback), but for the command lines
            // whose subcommand the word scan cannot tell (an optional flag value).
            let fallbacks = ["--criu /c --rootless false kill x KILL", "--rootless auto list -q"];
            if let (Ok(w), false) = (&whole, fallbacks.contains(&c)) {
                use clap::FromArgMatches;
                let m = partial_command(&argv(c)).and_then(|p| p.try_get_matches_from(argv(c)).ok());
                let partial = m.and_then(|m| Cli::from_arg_matches(&m).ok());
                assert_eq!(partial.as_ref().map(summary), Some(summary(w)), "{c:?} did not parse on the partial tree");
            }
        }
        Cli::command().debug_assert();
        // containerd's shim spells restore's flag with one dash.
        let shim: Vec<std::ffi::OsString> = argv("restore -d -no-subreaper x").into_iter().map(single_dash_flag).collect();
        assert!(matches!(parse(shim).map(|c| c.command), Ok(Command::Restore(a)) if a.no_subreaper && a.detach));
        // The partial tree really is the one used where it can be: one subcommand.
        let one = partial_command(&argv("--root /r --log-format json state x")).expect("a partial command line");
        assert_eq!(one.get_subcommands().map(|c| c.get_name()).collect::<Vec<_>>(), ["state"]);
        assert!(partial_command(&argv("--debug -- state")).is_none());
        assert!(partial_command(&argv("--help")).is_none());
    }
}

} // unix_only!
