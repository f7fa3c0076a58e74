//! `hostproc pod ...`: Kubernetes pods on this host (crates/pod does the work). One file per
//! subcommand. Nothing here runs for the container commands: clap builds this group's flags
//! only when `pod` is the command.

pub mod validate;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Check manifests as the Kubernetes API server checks HostProcess pods
    Validate(validate::Args),
}

pub fn exec(g: &crate::Global, a: &Args) -> super::Result {
    let _ = g;
    match &a.command {
        Command::Validate(v) => validate::exec(v),
    }
}

/// A pod error as the command's error: the container crate's free-form variant, whose
/// message is the error's own.
pub fn failed(e: impl std::fmt::Display) -> hostproc_container::ContainerError {
    hostproc_container::ContainerError::Start(e.to_string())
}
