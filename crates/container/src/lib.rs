//! The container: from an OCI bundle to a running HostProcess job and back to nothing.
//!
//! * `bundle`: loads config.json (oci-spec) and checks it against what a HostProcess
//!   container can be.
//! * `config`: everything resolved once: the job's limits, storage plan, identity,
//!   environment and the annotations.
//! * `init`: our own fork/exec of the payload, held before exec until it is in its job.
//! * `hooks`: the runtime spec's hooks, run at their points of the lifecycle.
//! * `state`: the state directory, written atomically.
//! * `lifecycle`: run, stop (SIGTERM, grace, kill-all), tear down, delete.
//! * `checkpoint`: checkpoint and restore with CRIU, runc's layout; the checkpoint archive.

mod annotations;
mod bundle;
pub mod checkpoint;
mod config;
mod console;
pub mod crashpoint;
mod env;
mod error;
mod hooks;
mod id;
mod init;
mod lifecycle;
mod state;

pub use annotations::{parse_duration, Annotations};
pub use bundle::{load_spec, parse_spec, starter_spec};
pub use config::Config;
pub use error::ContainerError;
pub use hooks::HookError;
pub use id::validate_id;
pub use config::convert_resources;
pub use lifecycle::{create, delete, exec, kill, pause, ps, resume, run, start, stats, update, CreateOptions, ExecOptions, RunOptions, MOUNTPOINT_LOCKS};
pub use state::{civil, list, load_state, now_rfc3339, parse_state, State, Status};

/// The OCI runtime-spec version hostproc implements (the newest it accepts).
pub const OCI_VERSION: &str = "1.3.0";
