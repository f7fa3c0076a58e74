use std::path::PathBuf;

use hostproc_container::{ContainerError, ExecOptions};

#[derive(clap::Args)]
pub struct Args {
    /// The process as JSON (runtime-spec process), instead of a command line
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Return once the process runs
    #[arg(short, long)]
    detach: bool,
    /// Write the process's pid here
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Give the process a terminal (needs --console-socket)
    #[arg(short, long)]
    tty: bool,
    /// Unix socket that receives the terminal's master
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Working directory (default: the sandbox mount point)
    #[arg(long)]
    cwd: Option<String>,
    /// Environment entries KEY=VALUE
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid] (default: the container's user)
    #[arg(short, long)]
    user: Option<String>,
    /// Supplementary group ids
    #[arg(short = 'g', long = "additional-gids", value_delimiter = ',')]
    additional_gids: Vec<u32>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Keep this many descriptors above 2 open
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// The container's id
    id: String,
    /// The command and its arguments (when no --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}


pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    let process = match &a.process {
        Some(p) => {
            let text = std::fs::read(p).map_err(|source| ContainerError::ReadBundle { path: p.clone(), source })?;
            Some(serde_json::from_slice(&text).map_err(|e| ContainerError::BadJson { path: p.clone(), what: "OCI process (give --process a runtime-spec process object)", detail: e.to_string() })?)
        }
        None => {
            if a.command.is_empty() {
                return Err(ContainerError::invalid("exec", "give --process FILE or a command after the container id"));
            }
            None
        }
    };
    let user = match &a.user {
        None => None,
        Some(u) => {
            let (uid, gid) = u.split_once(':').map_or((u.as_str(), None), |(x, y)| (x, Some(y)));
            let uid = uid.parse().map_err(|_| ContainerError::invalid("--user", format!("{u:?}: give uid[:gid] as numbers")))?;
            let gid = gid.map(|g| g.parse().map_err(|_| ContainerError::invalid("--user", format!("{u:?}: give uid[:gid] as numbers")))).transpose()?;
            Some((uid, gid))
        }
    };
    let opts = ExecOptions {
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        process,
        args: a.command.clone(),
        cwd: a.cwd.clone(),
        env: a.env.clone(),
        user,
        additional_gids: a.additional_gids.clone(),
        tty: a.tty,
        no_new_privs: a.no_new_privs,
    };
    let code = hostproc_container::exec(&cli.root, &a.id, &opts)?;
    Ok(code.clamp(0, 255) as u8)
}
