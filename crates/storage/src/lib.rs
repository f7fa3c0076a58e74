//! Storage: how the payload reaches the image's files (the rootfs) and the pod's volumes.
//!
//! * Bind mode (default): the payload gets a private mount namespace that still receives
//!   the host's mounts (`/` made a slave). There the rootfs appears at a fixed location
//!   (`/hpc` by default) and each bind mount at its real destination. The host's view is
//!   unchanged.
//! * Host mode: no mount namespace. The sandbox is the rootfs's own path, and each mount
//!   is bound under `<rootfs>/<destination>` on the host, resolved so that no symlink in
//!   the rootfs can turn it onto a host path outside (the CVE-2021-30465 class), and
//!   unmounted when the container ends.
//!
//! A mount point that does not exist is created and removed again at the end. Shared mount
//! points outside the rootfs (such as `/hpc`, used by every bind-mode container) are
//! reference-counted with a lock file each, so one container's end never removes a
//! directory another still mounts on.

mod error;
mod plan;
mod points;
mod host;
mod bind;

pub use error::StorageError;
pub use plan::{Mode, MountSpec, Plan, DEFAULT_LOCATION};
pub use points::SharedPoints;
pub use host::HostMounts;
pub use bind::enter as enter_bind_mode;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a container's storage left on the host, saved in its state so that the normal
/// end and `delete --force` after a crash can release it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Shared mount points this container uses (bind mode: the location and destinations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_points: Vec<PathBuf>,
    /// Host-mode mounts made on the host, in the order they were made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_mounts: Vec<PathBuf>,
    /// Host-mode mount points created inside the rootfs, in the order they were made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<PathBuf>,
    /// The rootfs, the boundary for host-mode clean-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PathBuf>,
}

/// Releases everything `rec` lists. Idempotent: safe after a crash at any point and when
/// called twice. `lock_dir` holds the shared mount points' lock files.
pub fn release(rec: &Record, lock_dir: &std::path::Path) -> Result<(), StorageError> {
    let mut first = None;
    if let Some(root) = &rec.rootfs {
        if let Err(e) = host::release(root, &rec.host_mounts, &rec.created) {
            first.get_or_insert(e);
        }
    }
    for p in &rec.shared_points {
        if let Err(e) = points::release_path(lock_dir, p) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}
