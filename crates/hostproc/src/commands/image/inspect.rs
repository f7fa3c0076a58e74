use hostproc_image::Store;

#[derive(clap::Args)]
pub struct Args {
    /// The image's name in the local store
    name: String,
}

pub fn exec(store: &Store, a: &Args) -> super::Result {
    let v = store.inspect(&a.name)?;
    println!("{}", serde_json::to_string_pretty(&v).expect("inspect serializes"));
    Ok(0)
}
