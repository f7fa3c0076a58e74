//! Bind mode, run in the payload's process before exec: a private mount namespace in
//! which the rootfs and the volumes appear.
//!
//! Propagation: in the new namespace every copy of a shared host mount is a peer of the
//! host's. `/` is made a recursive slave first, so nothing mounted here reaches the host
//! (not the rootfs, not the volumes). A volume that must stay tied to the host (`shared`,
//! `slave` and their `r` forms) is cloned with `open_tree` before that: a clone of a shared
//! mount is still the host's peer, and attaching it with `move_mount` under a parent that
//! is now a slave propagates nowhere. Then its own propagation is applied.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::mount::{
    mount, mount_change, mount_remount, move_mount, open_tree, MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags,
};

use crate::error::io_err;
use crate::{Plan, Propagation, PropagationKind, StorageError};

/// Enters a new mount namespace whose `/` is a slave of the host's (host mounts keep
/// arriving, ours never leave), applies rootfsPropagation and makes the plan's mounts in it.
pub fn enter(plan: &Plan) -> Result<(), StorageError> {
    hostproc_sys::unshare_mount_namespace().map_err(io_err("create a mount namespace for", "/"))?;
    let mut clones: Vec<Option<OwnedFd>> = Vec::new();
    if plan.mounts.iter().any(|m| m.propagation.is_some_and(Propagation::tied)) {
        for m in &plan.mounts {
            clones.push(if m.propagation.is_some_and(Propagation::tied) { Some(clone(&m.source, m.recursive)?) } else { None });
        }
    }
    change("/", MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC)?;
    let root = plan.root_propagation.filter(|p| p.kind != PropagationKind::Slave);
    let mut rootfs_clone = None;
    match root {
        None => {}
        // Nothing can be bound from an unbindable tree: clone what is still to mount first.
        Some(p) if p.kind == PropagationKind::Unbindable => {
            rootfs_clone = Some(clone(&plan.rootfs, true)?);
            clones.resize_with(plan.mounts.len(), || None);
            for (c, m) in clones.iter_mut().zip(&plan.mounts) {
                if c.is_none() {
                    *c = Some(clone(&m.source, m.recursive)?);
                }
            }
            change("/", p.flags())?;
        }
        Some(p) => change("/", p.flags())?,
    }
    attach(rootfs_clone, &plan.rootfs, &plan.location, true, plan.rootfs_readonly, None)?;
    for (i, m) in plan.mounts.iter().enumerate() {
        let c = clones.get_mut(i).and_then(Option::take);
        attach(c, &m.source, &m.destination, m.recursive, m.readonly, m.propagation)?;
    }
    Ok(())
}

fn change(target: &str, flags: MountPropagationFlags) -> Result<(), StorageError> {
    mount_change(target, flags).map_err(|e| io_err("set the mount propagation of", target)(e.into()))
}

/// A detached copy of the mount at `source` (with its submounts if `recursive`).
fn clone(source: &Path, recursive: bool) -> Result<OwnedFd, StorageError> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    open_tree(rustix::fs::CWD, source, flags).map_err(|e| io_err("clone the mount of", source)(e.into()))
}

/// Mounts `source` (or its clone, made earlier) onto `target`, then makes it read-only and
/// applies its propagation as asked.
fn attach(
    cloned: Option<OwnedFd>,
    source: &Path,
    target: &Path,
    recursive: bool,
    readonly: bool,
    propagation: Option<Propagation>,
) -> Result<(), StorageError> {
    let made = match cloned {
        Some(fd) => move_mount(&fd, "", rustix::fs::CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_SYMLINKS),
        None => {
            let mut flags = MountFlags::BIND;
            if recursive {
                flags |= MountFlags::REC;
            }
            mount(source, target, "", flags, None)
        }
    };
    made.map_err(|e| io_err("bind-mount onto", target)(e.into()))?;
    if readonly {
        mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "").map_err(|e| io_err("make read-only", target)(e.into()))?;
    }
    if let Some(p) = propagation {
        mount_change(target, p.volume_flags()).map_err(|e| io_err("set the mount propagation of", target)(e.into()))?;
    }
    Ok(())
}
