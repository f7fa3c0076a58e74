//! Bind mode, run in the payload's process before exec: a private mount namespace in
//! which the rootfs and the volumes appear.

use rustix::mount::{mount, mount_change, mount_remount, MountFlags, MountPropagationFlags};

use crate::error::io_err;
use crate::{Plan, StorageError};

/// Enters a new mount namespace whose `/` is a slave of the host's (host mounts keep
/// arriving, ours never leave) and makes the plan's mounts in it.
pub fn enter(plan: &Plan) -> Result<(), StorageError> {
    hostproc_sys::unshare_mount_namespace().map_err(io_err("create a mount namespace for", "/"))?;
    mount_change("/", MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC)
        .map_err(|e| io_err("make the mount namespace a slave of", "/")(e.into()))?;
    bind(&plan.rootfs, &plan.location, true, plan.rootfs_readonly)?;
    for m in &plan.mounts {
        bind(&m.source, &m.destination, m.recursive, m.readonly)?;
    }
    Ok(())
}

fn bind(source: &std::path::Path, target: &std::path::Path, recursive: bool, readonly: bool) -> Result<(), StorageError> {
    let mut flags = MountFlags::BIND;
    if recursive {
        flags |= MountFlags::REC;
    }
    mount(source, target, "", flags, None).map_err(|e| io_err("bind-mount onto", target)(e.into()))?;
    if readonly {
        mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "").map_err(|e| io_err("make read-only", target)(e.into()))?;
    }
    Ok(())
}
