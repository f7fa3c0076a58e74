use std::io;
use std::path::PathBuf;

/// What went wrong with an image, naming the input (the reference, the file, the layer
/// entry) and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {image:?}: {detail}")]
    BadRef { image: String, detail: String },
    #[error("imagePullPolicy {0:?} is not valid: use Always, IfNotPresent or Never")]
    BadPolicy(String),
    #[error("image {image}: {detail}")]
    Registry { image: String, detail: String },
    #[error("credentials from {origin}: {detail}")]
    Credentials { origin: String, detail: String },
    #[error("image {0:?} is not in the local store and imagePullPolicy is Never: pull it with `hostproc image pull {0}` or import it with `hostproc image import oci-archive:FILE {0}`")]
    NotPresent(String),
    #[error("image {0:?} is not in the local store (see `hostproc image ls`)")]
    NotInStore(String),
    #[error("{source_ref}: {detail}")]
    BadSource { source_ref: String, detail: String },
    #[error("blob {digest} from {source_ref}: {detail}")]
    BadBlob { source_ref: String, digest: String, detail: String },
    #[error("layer {layer}, entry {entry:?}: {detail}; the image is refused and nothing of it is kept")]
    Unsafe { layer: String, entry: String, detail: String },
    #[error("layer {layer}: {detail}")]
    BadLayer { layer: String, detail: String },
    #[error("image {image} is in use by a container's rootfs mounted at {mount}: stop the container first")]
    InUse { image: String, mount: String },
    #[error("cannot {what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
}

pub(crate) fn io_err(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ImageError {
    let path = path.into();
    move |source| ImageError::Io { what, path, source }
}

pub(crate) fn rio_err(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(rustix::io::Errno) -> ImageError {
    let path = path.into();
    move |e| ImageError::Io { what, path, source: e.into() }
}
