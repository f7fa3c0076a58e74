#[derive(clap::Args)]
pub struct Args {
    /// Kill the container first if it is running; succeed if it does not exist
    #[arg(short, long)]
    force: bool,
    /// The container's id
    id: String,
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    hostproc_container::delete(&cli.root, &a.id, a.force)?;
    Ok(0)
}
