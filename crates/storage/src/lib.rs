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
//! points outside the rootfs (a location set by annotation, the destinations of volumes)
//! are reference-counted with a lock file each, so one container's end never removes a
//! directory another still mounts on. The default location `/hpc` is the exception: it is
//! the host's fixed mount point for every bind-mode container (as `C:\hpc` is on Windows),
//! so it is made once and kept, which spares every container a lock file and a
//! directory made and removed at the top of the root file system (see [`ensure_location`]).

mod error;
mod plan;
mod points;
mod host;
mod bind;
mod propagation;

pub use error::StorageError;
pub use plan::{Mode, MountSpec, Plan, DEFAULT_LOCATION};
pub use points::SharedPoints;
pub use propagation::{Propagation, PropagationKind};
pub use host::HostMounts;
pub use bind::enter as enter_bind_mode;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Makes the default location (`/hpc`) if it is missing, and keeps it: an empty directory
/// that only ever holds mounts inside containers' private namespaces. A mkdir at the top of
/// an ext4 file system takes the Orlov allocator's scan of every block group (0.5 ms on the
/// machine in docs/benchmarks.md) and its rmdir 0.2 ms more; doing both for each container,
/// with the lock file that would make it safe, cost more than the rest of bind mode.
pub(crate) fn ensure_location(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::DirBuilderExt;
    // Once made, one lstat: the common case.
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(StorageError::LocationNotDir(path.to_path_buf())),
        Err(_) => {}
    }
    match std::fs::DirBuilder::new().mode(0o755).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => Ok(()),
            _ => Err(StorageError::LocationNotDir(path.to_path_buf())),
        },
        Err(e) => Err(error::io_err("create the rootfs location", path)(e)),
    }
}

/// True for the location that is made once and kept (see [`ensure_location`]).
fn is_fixed_location(path: &Path) -> bool {
    path == Path::new(DEFAULT_LOCATION)
}

/// Bind mode: makes the fixed location if missing, then takes the shared mount points
/// (`None` when there are none to hold).
pub fn acquire_bind_points(plan: &Plan, lock_dir: &Path) -> Result<Option<SharedPoints>, StorageError> {
    if is_fixed_location(&plan.location) {
        ensure_location(&plan.location)?;
    }
    let points = plan.shared_points();
    if points.is_empty() {
        return Ok(None);
    }
    SharedPoints::acquire(lock_dir, &points).map(Some)
}

/// What a container's storage left on the host, saved in its state so that the normal
/// end and `delete --force` after a crash can release it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Shared mount points this container uses (bind mode: the volume destinations, and a
    /// location other than `/hpc`, which is kept once made and needs no release).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_points: Vec<PathBuf>,
    /// Host-mode mounts made on the host, in the order they were made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_mounts: Vec<PathBuf>,
    /// Host-mode mount points created inside the rootfs, in the order they were made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<PathBuf>,
    /// Host-mode mounts asked to be shared (`rshared`): made private before they are
    /// unmounted, so that the payload's mounts under them stay on the host (as with runc).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_host_mounts: Vec<PathBuf>,
    /// The rootfs, the boundary for host-mode clean-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PathBuf>,
}

/// Releases everything `rec` lists. Idempotent: safe after a crash at any point and when
/// called twice. `lock_dir` holds the shared mount points' lock files.
pub fn release(rec: &Record, lock_dir: &std::path::Path) -> Result<(), StorageError> {
    let mut first = None;
    if let Some(root) = &rec.rootfs {
        if let Err(e) = host::release(root, &rec.host_mounts, &rec.created, &rec.shared_host_mounts) {
            first.get_or_insert(e);
        }
    }
    for p in &rec.shared_points {
        if let Err(e) = points::release_with_parents(lock_dir, p) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_location_is_made_once_and_must_be_a_directory() {
        let dir = std::env::temp_dir().join(format!("hostproc-loc-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let loc = dir.join("hpc");
        ensure_location(&loc).unwrap();
        assert!(loc.is_dir());
        ensure_location(&loc).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, "").unwrap();
        let e = ensure_location(&file).unwrap_err().to_string();
        assert!(e.contains("is not a directory") && e.contains("rootfs-location"), "{e}");
        let link = dir.join("link");
        std::os::unix::fs::symlink(&loc, &link).unwrap();
        assert!(matches!(ensure_location(&link), Err(StorageError::LocationNotDir(_))), "a symlink is not the directory");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(is_fixed_location(Path::new("/hpc")) && !is_fixed_location(&loc));
    }
}
