use std::path::PathBuf;

use hostproc_container::checkpoint::{self, RestoreOptions};

/// runc's restore flags.
#[derive(clap::Args)]
#[group(skip)]
pub struct Args {
    /// Directory holding the CRIU images
    #[arg(long = "image-path", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for CRIU's work files and logs (default: the image directory)
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Path to the bundle (default: the current directory; with --from-archive its spec.dump)
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// Restore from Kubernetes' checkpoint archive (as `checkpoint --export` writes)
    #[arg(long = "from-archive")]
    pub from_archive: Option<PathBuf>,
    /// Return once restored instead of waiting for init to exit
    #[arg(short, long)]
    pub detach: bool,
    /// Write the restored init's pid here
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Accepted for runc compatibility: a container with a terminal cannot be restored
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// In the foreground, do not become the restored processes' subreaper
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Accepted for runc compatibility (hostproc never pivots)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
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
    /// CRIU's cgroups mode (default ignore: the processes stay in the job hostproc makes)
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<String>,
    /// Accepted for runc compatibility: namespaces to leave empty (hostproc makes none)
    #[arg(long = "empty-ns")]
    pub empty_ns: Vec<String>,
    /// The container's id
    pub id: String,
}

pub fn exec(g: &crate::Global, a: &Args) -> super::Result {
    let o = RestoreOptions {
        root: g.root.clone(),
        criu: g.criu.clone(),
        systemd_cgroup: g.systemd_cgroup,
        image_path: a.image_path.clone(),
        work_path: a.work_path.clone(),
        bundle: a.bundle.clone(),
        from_archive: a.from_archive.clone(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_subreaper: a.no_subreaper,
        tcp_established: a.tcp_established,
        ext_unix_sk: a.ext_unix_sk,
        shell_job: a.shell_job,
        file_locks: a.file_locks,
        manage_cgroups_mode: a.manage_cgroups_mode.clone(),
    };
    let code = checkpoint::restore(&o, &a.id)?;
    Ok(u8::try_from(code).unwrap_or(1))
}
