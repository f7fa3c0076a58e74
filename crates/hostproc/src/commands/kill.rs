#[derive(clap::Args)]
pub struct Args {
    /// Signal every process of the container's job
    #[arg(short, long)]
    all: bool,
    /// The container's id
    id: String,
    /// Signal name (TERM, SIGTERM) or number
    #[arg(default_value = "SIGTERM")]
    signal: String,
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    let Some(sig) = hostproc_sys::signal_from_str(&a.signal) else {
        return Err(hostproc_container::ContainerError::invalid(
            "signal",
            format!("{:?} is not a signal; give a name such as TERM or SIGKILL, or a number", a.signal),
        ));
    };
    hostproc_container::kill(&cli.root, &a.id, sig, a.all)?;
    Ok(0)
}
