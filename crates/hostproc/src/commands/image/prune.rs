use hostproc_image::Store;

#[derive(clap::Args)]
pub struct Args {}

pub fn exec(store: &Store, _: &Args) -> super::Result {
    let p = store.prune()?;
    for r in &p.rootfs {
        println!("rootfs {r}");
    }
    println!("removed {} unpacked trees and {} blobs, {} bytes", p.rootfs.len(), p.blobs, p.bytes);
    Ok(0)
}
