use std::io;
use std::path::PathBuf;

/// What went wrong with the container's storage, and on which path.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rootfs location {0:?} is not valid: give an absolute path such as /hpc, not /, and not under /proc, /sys or /dev")]
    BadLocation(String),
    #[error("mount destination {0:?} is not valid: give an absolute path without `..`")]
    BadDestination(String),
    #[error("mount {destination}: type {typ:?} is not supported by a HostProcess container; use a bind mount (type \"bind\")")]
    UnsupportedType { destination: String, typ: String },
    #[error("mount {destination}: named-pipe mounts are not available on Linux")]
    NamedPipe { destination: String },
    #[error("mount source {path} does not exist: create it or fix the mount's source")]
    MissingSource { path: PathBuf },
    #[error("mount destination {destination} resolves outside the rootfs {rootfs} through a symlink; refusing to mount onto a host path (remove the symlink from the image)")]
    Escape { destination: String, rootfs: PathBuf },
    #[error("the rootfs location {0} exists but is not a directory: remove it or choose another location (microsoft.com/hostprocess-rootfs-location)")]
    LocationNotDir(PathBuf),
    #[error("linux.rootfsPropagation {0:?} is not a mount propagation: give one of rslave (the default), rshared, rprivate, runbindable, or slave, shared, private, unbindable")]
    BadRootPropagation(String),
    #[error("cannot {what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
}

pub(crate) fn io_err(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.into();
    move |source| StorageError::Io { what, path, source }
}
