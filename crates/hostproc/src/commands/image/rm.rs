use hostproc_image::Store;

#[derive(clap::Args)]
pub struct Args {
    /// The images' names in the local store
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn exec(store: &Store, a: &Args) -> super::Result {
    for n in &a.names {
        let s = store.remove(n)?;
        println!("{}", s.name);
    }
    Ok(0)
}
