//! `hostproc image pull|import|ls|inspect|rm|prune`: hostproc's local image store (docs/images.md).

pub mod import;
pub mod inspect;
pub mod ls;
pub mod prune;
pub mod pull;
pub mod rm;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Import an image from oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME] into the local store
    Import(import::Args),
    /// Pull an image from its registry into the local store
    Pull(pull::Args),
    /// List the images in the local store
    #[command(alias = "list")]
    Ls(ls::Args),
    /// Print an image's store entry, manifest and config as JSON
    Inspect(inspect::Args),
    /// Remove the unpacked trees and blobs no named image (and no running container) uses
    Prune(prune::Args),
    /// Remove an image from the local store
    #[command(alias = "remove")]
    Rm(rm::Args),
}

pub fn exec(g: &crate::Global, a: &Args) -> super::Result {
    let store = hostproc_image::Store::open(&g.root).map_err(err)?;
    match &a.command {
        Command::Import(a) => import::exec(&store, a),
        Command::Ls(a) => ls::exec(&store, a),
        Command::Pull(a) => pull::exec(&store, a),
        Command::Prune(a) => prune::exec(&store, a),
        Command::Inspect(a) => inspect::exec(&store, a),
        Command::Rm(a) => rm::exec(&store, a),
    }
    .map_err(err)
}

/// The image crate's error, printed as it is.
fn err(e: hostproc_image::ImageError) -> hostproc_container::ContainerError {
    hostproc_container::ContainerError::Start(e.to_string())
}

pub type Result = std::result::Result<u8, hostproc_image::ImageError>;
