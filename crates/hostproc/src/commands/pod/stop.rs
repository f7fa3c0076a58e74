#[derive(clap::Args)]
pub struct Args {
    /// The pod: NAME, NAMESPACE/NAME
    pod: String,
}

pub fn exec(g: &crate::Global, a: &Args) -> super::super::Result {
    hostproc_pod::run::stop(&g.root, &a.pod).map_err(super::err)?;
    Ok(0)
}
