use hostproc_container::RunOptions;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    create: super::create::Args,
    /// Return once the payload runs, as create + start do
    #[arg(short, long)]
    detach: bool,
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    let c = &a.create;
    if a.detach {
        hostproc_container::create(&super::create::options(cli, c), &c.bundle, &c.id)?;
        if let Err(e) = hostproc_container::start(&cli.root, &c.id) {
            let _ = hostproc_container::delete(&cli.root, &c.id, true);
            return Err(e);
        }
        return Ok(0);
    }
    if c.console_socket.is_some() || c.preserve_fds > 0 {
        tracing::debug!("run in the foreground ignores --console-socket and --preserve-fds; the payload shares hostproc's stdio");
    }
    let opts = RunOptions { root: cli.root.clone(), systemd_cgroup: cli.systemd_cgroup, pid_file: c.pid_file.clone() };
    let code = hostproc_container::run(&opts, &c.bundle, &c.id)?;
    Ok(code.clamp(0, 255) as u8)
}
