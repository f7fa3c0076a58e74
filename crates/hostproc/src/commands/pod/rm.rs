#[derive(clap::Args)]
pub struct Args {
    /// Remove a running pod too, and whatever a lost supervisor left
    #[arg(short, long)]
    force: bool,
    /// The pod: NAME, NAMESPACE/NAME
    pod: String,
}

pub fn exec(g: &crate::Global, a: &Args) -> super::super::Result {
    hostproc_pod::run::remove(&g.root, &a.pod, a.force).map_err(super::err)?;
    Ok(0)
}
