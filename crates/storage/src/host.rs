//! Host mode: mounts under `<rootfs>/<destination>` in the host's own mount namespace.
//!
//! Every path inside the rootfs is opened with `openat2(RESOLVE_BENEATH)`, so a symlink
//! in the image can never resolve to a host path outside it, and the mount is made onto
//! the opened descriptor (`/proc/self/fd/N`), so nothing can swap the path in between.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{openat2, AtFlags, Mode, OFlags, ResolveFlags};
use rustix::mount::{mount, mount_change, mount_remount, unmount, MountFlags, MountPropagationFlags, UnmountFlags};

use crate::error::io_err;
use crate::{Plan, Record, StorageError};

fn resolve() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS
}

fn open_root(root: &Path) -> Result<OwnedFd, StorageError> {
    rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| io_err("open the rootfs", root)(e.into()))
}

fn beneath(root_fd: &OwnedFd, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let rel: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    Ok(openat2(root_fd, rel, flags | OFlags::CLOEXEC, Mode::empty(), resolve())?)
}

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn escape(plan_root: &Path, dest: &Path) -> StorageError {
    StorageError::Escape { destination: dest.display().to_string(), rootfs: plan_root.to_path_buf() }
}

/// The mounts a host-mode container makes, so they can be undone.
#[derive(Debug, Default)]
pub struct HostMounts;

impl HostMounts {
    /// What host mode will make, computed before anything is made, so that the state can
    /// list it first and a crash half-way is undone by `delete --force`.
    pub fn record(plan: &Plan) -> Record {
        let mut rec = Record { rootfs: Some(plan.rootfs.clone()), ..Default::default() };
        for m in &plan.mounts {
            let rel = m.destination.strip_prefix("/").unwrap_or(&m.destination);
            let mut cur = PathBuf::new();
            for c in rel.components() {
                cur.push(c);
                if std::fs::symlink_metadata(plan.rootfs.join(&cur)).is_err() && !rec.created.contains(&cur) {
                    rec.created.push(cur.clone());
                }
            }
            rec.host_mounts.push(rel.to_path_buf());
            if m.propagation.is_some_and(|p| p.kind == crate::PropagationKind::Shared) {
                rec.shared_host_mounts.push(rel.to_path_buf());
            }
        }
        rec
    }

    /// Makes every mount of `plan` under the rootfs. On failure, undoes what it made.
    pub fn apply(plan: &Plan, rec: &Record) -> Result<(), StorageError> {
        let root_fd = open_root(&plan.rootfs)?;
        for m in &plan.mounts {
            if let Err(e) = mount_one(&root_fd, plan, m) {
                let _ = release(&plan.rootfs, &rec.host_mounts, &rec.created, &rec.shared_host_mounts);
                return Err(e);
            }
        }
        Ok(())
    }
}

fn mount_one(root_fd: &OwnedFd, plan: &Plan, m: &crate::MountSpec) -> Result<(), StorageError> {
    let rel = m.destination.strip_prefix("/").unwrap_or(&m.destination);
    let comps: Vec<&OsStr> = rel.iter().collect();
    let mut cur = PathBuf::new();
    for (i, name) in comps.iter().enumerate() {
        let parent = cur.clone();
        cur.push(name);
        match beneath(root_fd, &cur, OFlags::PATH) {
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error())
                || e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) =>
            {
                return Err(escape(&plan.rootfs, &m.destination));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("open the mount point", plan.rootfs.join(&cur))(e)),
        }
        let pfd = beneath(root_fd, &parent, OFlags::PATH | OFlags::DIRECTORY).map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) {
                escape(&plan.rootfs, &m.destination)
            } else {
                io_err("open the parent of", plan.rootfs.join(&cur))(e)
            }
        })?;
        let last = i + 1 == comps.len();
        let made = if last && !m.source_is_dir {
            rustix::fs::openat(&pfd, *name, OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC, Mode::from_raw_mode(0o644)).map(drop)
        } else {
            rustix::fs::mkdirat(&pfd, *name, Mode::from_raw_mode(0o755))
        };
        match made {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(io_err("create the mount point", plan.rootfs.join(&cur))(e.into())),
        }
        // A dangling symlink makes EEXIST above; re-opening beneath the root settles it.
        if let Err(e) = beneath(root_fd, &cur, OFlags::PATH) {
            if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) {
                return Err(escape(&plan.rootfs, &m.destination));
            }
            return Err(io_err("open the mount point", plan.rootfs.join(&cur))(e));
        }
    }
    let target = beneath(root_fd, rel, OFlags::PATH).map_err(|e| {
        if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) {
            escape(&plan.rootfs, &m.destination)
        } else {
            io_err("open the mount point", plan.rootfs.join(rel))(e)
        }
    })?;
    let mut flags = MountFlags::BIND;
    if m.recursive {
        flags |= MountFlags::REC;
    }
    mount(&m.source, fd_path(&target).as_str(), "", flags, None)
        .map_err(|e| io_err("bind-mount onto", plan.rootfs.join(rel))(e.into()))?;
    if m.readonly || m.propagation.is_some() {
        // Re-open: the path now leads to the new mount's root, which is what we change.
        let mounted = beneath(root_fd, rel, OFlags::PATH).map_err(io_err("open the mount", plan.rootfs.join(rel)))?;
        if m.readonly {
            mount_remount(fd_path(&mounted).as_str(), MountFlags::BIND | MountFlags::RDONLY, "")
                .map_err(|e| io_err("make read-only", plan.rootfs.join(rel))(e.into()))?;
        }
        if let Some(p) = m.propagation {
            // A bind of a shared source is already the source's peer; this keeps it so
            // (rshared), or cuts the payload's way to the host (rslave, private).
            mount_change(fd_path(&mounted).as_str(), p.volume_flags())
                .map_err(|e| io_err("set the mount propagation of", plan.rootfs.join(rel))(e.into()))?;
        }
    }
    Ok(())
}

/// Unmounts `mounts` and removes `created` (both relative to `root`), newest first.
/// Missing paths and non-mounts are skipped: safe to repeat after a crash. Those of
/// `shared` are made private first: an unmount propagates to the peers, and would take the
/// payload's mounts off the volume's source on the host.
pub(crate) fn release(root: &Path, mounts: &[PathBuf], created: &[PathBuf], shared: &[PathBuf]) -> Result<(), StorageError> {
    let root_fd = match open_root(root) {
        Ok(fd) => fd,
        Err(_) if !root.exists() => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut first = None;
    for rel in mounts.iter().rev() {
        // Unmount every layer stacked there (a payload may have mounted on top).
        for _ in 0..16 {
            let Ok(fd) = beneath(&root_fd, rel, OFlags::PATH) else { break };
            if shared.contains(rel) {
                let _ = mount_change(fd_path(&fd).as_str(), MountPropagationFlags::PRIVATE | MountPropagationFlags::REC);
            }
            match unmount(fd_path(&fd).as_str(), UnmountFlags::DETACH) {
                Ok(()) => continue,
                Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => break,
                Err(e) => {
                    first.get_or_insert(io_err("unmount", root.join(rel))(e.into()));
                    break;
                }
            }
        }
    }
    for rel in created.iter().rev() {
        let name = rel.file_name().unwrap_or_default();
        let parent = rel.parent().unwrap_or(Path::new(""));
        let Ok(pfd) = beneath(&root_fd, parent, OFlags::PATH | OFlags::DIRECTORY) else { continue };
        let is_dir = rustix::fs::statat(&pfd, name, AtFlags::SYMLINK_NOFOLLOW)
            .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory);
        let r = match is_dir {
            Ok(true) => rustix::fs::unlinkat(&pfd, name, AtFlags::REMOVEDIR),
            Ok(false) => {
                let empty = rustix::fs::statat(&pfd, name, AtFlags::SYMLINK_NOFOLLOW).map(|s| s.st_size == 0).unwrap_or(false);
                if empty { rustix::fs::unlinkat(&pfd, name, AtFlags::empty()) } else { Ok(()) }
            }
            Err(_) => Ok(()),
        };
        if let Err(e) = r {
            if !matches!(e, rustix::io::Errno::NOENT | rustix::io::Errno::NOTEMPTY) {
                first.get_or_insert(io_err("remove the mount point", root.join(rel))(e.into()));
            }
        }
    }
    first.map_or(Ok(()), Err)
}
