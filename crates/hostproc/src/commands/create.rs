use std::path::PathBuf;

use hostproc_container::CreateOptions;

#[derive(clap::Args)]
#[group(skip)]
pub struct Args {
    /// Path to the bundle (the directory holding config.json)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write init's pid here (atomically, once it is in its job)
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the terminal's master when process.terminal is true
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Keep this many descriptors above 2 open for the payload
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility (hostproc never pivots)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for runc compatibility (hostproc makes no session keyring)
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// The container's id
    pub id: String,
}

pub fn options(cli: &crate::Global, a: &Args) -> CreateOptions {
    CreateOptions {
        root: cli.root.clone(),
        systemd_cgroup: cli.systemd_cgroup,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
    }
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    hostproc_container::create(&options(cli, a), &a.bundle, &a.id)?;
    Ok(0)
}
