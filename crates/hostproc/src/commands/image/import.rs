use hostproc_image::Store;

#[derive(clap::Args)]
pub struct Args {
    /// oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME]
    source: String,
    /// The name to store it under (default: the source's io.containerd.image.name or
    /// org.opencontainers.image.ref.name annotation)
    name: Option<String>,
}

pub fn exec(store: &Store, a: &Args) -> super::Result {
    let s = store.import(&a.source, a.name.as_deref())?;
    println!("{} {}", s.name, s.digest);
    Ok(0)
}
