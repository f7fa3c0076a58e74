use std::path::PathBuf;

use hostproc_container::checkpoint::{self, CheckpointOptions};

/// runc's checkpoint flags.
#[derive(clap::Args)]
#[group(skip)]
pub struct Args {
    /// Directory for the CRIU images (made if missing; must be empty)
    #[arg(long = "image-path", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for CRIU's work files and logs (default: the image directory)
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Previous (pre-dump) images, relative to the image directory
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Allow open TCP connections
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Allow file locks
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Dump memory only, leaving the container running (for a later --parent-path)
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// CRIU's cgroups mode: soft (default), full, strict or ignore
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<String>,
    /// Accepted for runc compatibility: namespaces to leave empty (hostproc makes none)
    #[arg(long = "empty-ns")]
    pub empty_ns: Vec<String>,
    /// Also write Kubernetes' checkpoint archive (checkpoint/, config.dump, spec.dump) here
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// The container's id
    pub id: String,
}

pub fn exec(g: &crate::Global, a: &Args) -> super::Result {
    let o = CheckpointOptions {
        root: g.root.clone(),
        criu: g.criu.clone(),
        image_path: a.image_path.clone(),
        work_path: a.work_path.clone(),
        parent_path: a.parent_path.clone(),
        leave_running: a.leave_running,
        tcp_established: a.tcp_established,
        ext_unix_sk: a.ext_unix_sk,
        shell_job: a.shell_job,
        file_locks: a.file_locks,
        pre_dump: a.pre_dump,
        manage_cgroups_mode: a.manage_cgroups_mode.clone(),
        export: a.export.clone(),
    };
    checkpoint::checkpoint(&o, &a.id)?;
    Ok(0)
}
