//! Container images from registries and local sources: `dir:`, `oci:` layouts,
//! `oci-archive:` and `docker-archive:` tars and names in hostproc's local store; layers
//! unpacked safely (nothing written outside the target); each image unpacked once and shared read-only; each container given its own
//! writable view (overlayfs, or a copy where the kernel does not allow it).
//!
//! Registry pulls ([`registry`]) go through oci-client into the same store: blobs by
//! sha256, checked while they arrive, temp name then rename, a store lock.

mod blob;
pub mod config;
mod error;
mod gc;
pub mod docker_archive;
mod layout;
pub mod registry;
pub mod reference;
mod rootfs;
mod store;
mod unpack;

pub use config::ImageConfig;
pub use gc::Pruned;
pub use error::ImageError;
pub use reference::{ImageRef, Name};
pub use rootfs::ContainerRootfs;
pub use registry::{Platform, PullOptions};
pub use store::{Image, ImageSummary, Store};

/// Dies here with SIGKILL if `HOSTPROC_CRASH_AT` names this point (tests prove that a
/// crash anywhere leaves the store usable). One environment lookup per point.
pub(crate) fn crash_point(name: &str) {
    if std::env::var_os("HOSTPROC_CRASH_AT").is_some_and(|v| v == name) {
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

/// The crash points, in the order an import meets them.
pub const CRASH_POINTS: &[&str] = &["image-blob-written", "image-after-blobs", "image-mid-unpack", "image-after-rootfs"];

/// Kubernetes' imagePullPolicy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pulled every time (blobs already in the store are not downloaded again).
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn parse(s: &str) -> Result<PullPolicy, ImageError> {
        match s {
            "Always" => Ok(PullPolicy::Always),
            "IfNotPresent" => Ok(PullPolicy::IfNotPresent),
            "Never" => Ok(PullPolicy::Never),
            _ => Err(ImageError::BadPolicy(s.to_owned())),
        }
    }

    /// Kubernetes' default: Always for `:latest` or no tag (and no digest), else IfNotPresent.
    pub fn default_for(image: &str) -> PullPolicy {
        match ImageRef::parse(image) {
            Ok(ImageRef::Name(n)) if n.digest.is_none() && n.tag.as_deref() == Some("latest") => PullPolicy::Always,
            _ => PullPolicy::IfNotPresent,
        }
    }
}
