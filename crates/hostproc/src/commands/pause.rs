#[derive(clap::Args)]
pub struct Args {
    /// The container's id
    id: String,
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    /// The container's id
    id: String,
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    hostproc_container::pause(&cli.root, &a.id)?;
    Ok(0)
}

pub fn exec_resume(cli: &crate::Global, a: &ResumeArgs) -> super::Result {
    hostproc_container::resume(&cli.root, &a.id)?;
    Ok(0)
}
