//! `hostproc pod ...`: Kubernetes pods on this host (crates/pod does the work). One file per
//! subcommand. Nothing here runs for the container commands: clap builds this group's flags
//! only when `pod` is the command.

pub mod ls;
pub mod rm;
pub mod run;
pub mod stop;
pub mod validate;

#[derive(clap::Subcommand)]
pub enum PodCommand {
    /// Check manifests as the Kubernetes API server checks HostProcess pods
    Validate(validate::Args),
    /// Run a pod (every container a HostProcess container) as a kubelet would
    Run(run::Args),
    /// List pods: NAME, PHASE, READY, RESTARTS, AGE
    Ls(ls::Args),
    /// Stop a pod: each container gets SIGTERM, its grace, then the kill
    Stop(stop::Args),
    /// Remove a finished pod (--force: any pod, with everything it made)
    Rm(rm::Args),
    /// The detached supervisor of `pod run --detach` (internal)
    #[command(hide = true)]
    Supervise(run::SuperviseArgs),
}

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: PodCommand,
}

pub fn exec(g: &crate::Global, a: &Args) -> super::Result {
    match &a.command {
        PodCommand::Validate(v) => validate::exec(v),
        PodCommand::Run(a) => run::exec(g, a),
        PodCommand::Ls(a) => ls::exec(g, a),
        PodCommand::Stop(a) => stop::exec(g, a),
        PodCommand::Rm(a) => rm::exec(g, a),
        PodCommand::Supervise(a) => run::supervise(g, a),
    }
}

/// A pod error as the command's error: the container crate's free-form variant, whose
/// message is the error's own.
pub fn failed(e: impl std::fmt::Display) -> hostproc_container::ContainerError {
    hostproc_container::ContainerError::Start(e.to_string())
}

/// The runner's errors, printed as the engine's are.
pub fn err(e: hostproc_pod::run::PodError) -> hostproc_container::ContainerError {
    match e {
        hostproc_pod::run::PodError::Container(e) => e,
        e => failed(e),
    }
}
