use std::path::PathBuf;

use hostproc_container::RunOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Path to the bundle (the directory holding config.json)
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// The container's id
    id: String,
}

pub fn exec(cli: &crate::Cli, a: &Args) -> super::Result {
    let code = hostproc_container::run(&RunOptions { root: cli.root.clone() }, &a.bundle, &a.id)?;
    Ok(code.clamp(0, 255) as u8)
}
