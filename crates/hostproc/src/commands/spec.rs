use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Where to write config.json
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
}

pub fn exec(a: &Args) -> super::Result {
    let path = a.bundle.join("config.json");
    if path.exists() {
        return Err(hostproc_container::ContainerError::Exists(format!("{} (remove it first)", path.display())));
    }
    let body = serde_json::to_string_pretty(&hostproc_container::starter_spec()).expect("spec serializes");
    std::fs::write(&path, body + "\n").map_err(|source| hostproc_container::ContainerError::Io { what: "write", path, source })?;
    Ok(0)
}
