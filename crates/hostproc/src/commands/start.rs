#[derive(clap::Args)]
pub struct Args {
    /// The container's id
    id: String,
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    hostproc_container::start(&cli.root, &a.id)?;
    Ok(0)
}
