use std::io;
use std::path::PathBuf;

/// What went wrong with a job, and on which path.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot read the cgroup layout from {path}: {source}")]
    Layout { path: PathBuf, source: io::Error },
    #[error("no cgroup hierarchy is mounted under {0}: mount cgroup2 (or the v1 controllers) there")]
    NoCgroups(PathBuf),
    #[error("cgroupsPath {0:?} is not valid: it must not contain `..` or be empty after the mount point")]
    BadPath(String),
    #[error("cannot create the job's cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot create the job's cgroup {path}: a parent's cgroup.max.depth or cgroup.max.descendants forbids another cgroup there; raise that limit or place the job elsewhere (linux.cgroupsPath)")]
    Limited { path: PathBuf },
    #[error("cgroup {path} already exists and holds processes: another container uses this cgroupsPath; choose another linux.cgroupsPath")]
    InUse { path: PathBuf },
    #[error("cannot put process {pid} into the job's cgroup {path}: {source}")]
    Join { pid: i32, path: PathBuf, source: io::Error },
    #[error("cannot start a process in the job's cgroup {path}: {source}")]
    Enter { path: PathBuf, source: io::Error },
    #[error("cannot set {limit} to {value:?}: the host refused writing {path}: {reason}")]
    Limit { limit: &'static str, value: String, path: PathBuf, reason: String },
    #[error("cannot set {limit}: this host has no {controller} cgroup controller for the job (no cgroup v1 hierarchy of it is mounted and cgroup v2 does not offer it); enable it or drop the field")]
    NoController { limit: &'static str, controller: &'static str },
    #[error("cannot set {limit}: the container's job has no {controller} cgroup: hostproc joins that hierarchy at create only when the spec sets such a limit (and this host may have none); create the container with it")]
    NotJoined { limit: &'static str, controller: &'static str },
    #[error("cannot set {limit}: the {controller} cgroup controller is not enabled for the job's cgroup: cgroup v2 offers it, but {parent} does not pass it down (cgroup.subtree_control), and hostproc enables it only in the cgroups it makes, never in the caller's own; enable it there or drop the field")]
    NotEnabled { limit: &'static str, controller: &'static str, parent: PathBuf },
    #[error("cannot set {limit}: {why}")]
    Unsupported { limit: &'static str, why: String },
    #[error("cannot set {limit} to {value}: the job uses {usage} bytes now, and checkBeforeUpdate refuses a limit below the usage; give a higher limit")]
    BelowUsage { limit: &'static str, value: i64, usage: u64 },
    #[error("{limit} = {value} is out of range: {hint}")]
    OutOfRange { limit: &'static str, value: String, hint: &'static str },
    #[error("cannot {what} the job's cgroup {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("cannot remove the job's cgroup {path}: processes are still in it after kill-all")]
    Busy { path: PathBuf },
}
