//! Reference-counted mount points outside the rootfs.
//!
//! Every user of a path holds a shared `flock` on the path's lock file for as long as it
//! runs; whoever created the path writes "created" into the lock file first (creation
//! itself is serialized by one host-wide lock, held only for the check and the mkdir).
//! At the end a user drops its lock and tries an exclusive one without waiting: if it gets
//! it, nobody else uses the path and, if hostproc created it, the path is removed and the
//! lock file unlinked. A crashed user's locks vanish with its descriptors, so
//! `delete --force` can do the same later.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

use crate::error::io_err;
use crate::StorageError;

const MARK: &[u8] = b"created\n";

/// The locks a running container holds on its shared mount points.
#[derive(Debug, Default)]
pub struct SharedPoints {
    held: Vec<(PathBuf, File)>,
}

fn lock_name(path: &Path) -> String {
    let s = path.to_string_lossy();
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    if out.len() > 200 {
        // FNV-1a: stable, and collisions only make two paths share a lock.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in s.as_bytes() {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
        }
        out = format!("h{h:016x}");
    }
    out
}

/// Opens and locks `path`'s lock file, making sure the lock is on the file that is still
/// linked at that name (a releaser may have unlinked it meanwhile).
fn open_locked(lock_dir: &Path, path: &Path, op: FlockOperation, create: bool) -> Result<Option<(File, PathBuf)>, StorageError> {
    let lp = lock_dir.join(lock_name(path));
    loop {
        let f = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&lp)
        {
            Ok(f) => f,
            Err(e) if !create && e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open the lock file", &lp)(e)),
        };
        match flock(&f, op) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
            Err(e) => return Err(io_err("lock", &lp)(e.into())),
        }
        let same = fs::symlink_metadata(&lp).map(|m| m.ino() == f.metadata().map(|n| n.ino()).unwrap_or(0)).unwrap_or(false);
        if same {
            return Ok(Some((f, lp)));
        }
        if !create {
            return Ok(None);
        }
    }
}

impl SharedPoints {
    /// Makes sure each path exists (creating missing ones, and their missing parents, as
    /// directories or, where `is_dir` is false, as empty files) and holds it for this
    /// container until `release`.
    pub fn acquire(lock_dir: &Path, paths: &[(PathBuf, bool)]) -> Result<SharedPoints, StorageError> {
        {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new().recursive(true).mode(0o700).create(lock_dir).map_err(io_err("create the lock directory", lock_dir))?;
        }
        let mut me = SharedPoints::default();
        for (path, is_dir) in paths {
            // Missing parents first, each as a shared point of its own.
            let mut missing = Vec::new();
            let mut cur = path.parent();
            while let Some(p) = cur {
                if p.as_os_str().len() <= 1 || fs::symlink_metadata(p).is_ok() {
                    break;
                }
                missing.push(p.to_path_buf());
                cur = p.parent();
            }
            for p in missing.into_iter().rev() {
                if let Err(e) = me.take(lock_dir, &p, true) {
                    me.release(lock_dir);
                    return Err(e);
                }
            }
            if let Err(e) = me.take(lock_dir, path, *is_dir) {
                me.release(lock_dir);
                return Err(e);
            }
        }
        Ok(me)
    }

    fn take(&mut self, lock_dir: &Path, path: &Path, is_dir: bool) -> Result<(), StorageError> {
        if self.held.iter().any(|(p, _)| p == path) {
            return Ok(());
        }
        let (mut f, _) = open_locked(lock_dir, path, FlockOperation::LockShared, true)?.expect("blocking lock");
        if fs::symlink_metadata(path).is_err() {
            let create_lock = lock_dir.join(".create.lock");
            let c = OpenOptions::new()
                .write(true)
                .create(true)
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&create_lock)
                .map_err(io_err("open the lock file", &create_lock))?;
            flock(&c, FlockOperation::LockExclusive).map_err(|e| io_err("lock", &create_lock)(e.into()))?;
            self.create(path, is_dir, &mut f)?;
        }
        self.held.push((path.to_path_buf(), f));
        Ok(())
    }

    /// Makes the missing mount point, marking it as ours first (under the creation lock).
    fn create(&mut self, path: &Path, is_dir: bool, f: &mut File) -> Result<(), StorageError> {
        if fs::symlink_metadata(path).is_err() {
            f.write_all(MARK).map_err(io_err("write the lock file for", path))?;
            let made = if is_dir {
                fs::create_dir(path)
            } else {
                OpenOptions::new().write(true).create_new(true).mode(0o644).open(path).map(drop)
            };
            match made {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    let _ = f.set_len(0);
                    return Err(io_err("create the mount point", path)(e));
                }
            }
        }
        Ok(())
    }

    /// Drops this container's hold and removes each path nobody else holds, if hostproc
    /// created it. Errors are logged: clean-up goes on past them.
    pub fn release(&mut self, lock_dir: &Path) {
        while let Some((path, f)) = self.held.pop() {
            drop(f);
            if let Err(e) = release_path(lock_dir, &path) {
                tracing::warn!("{e}");
            }
        }
    }

}

/// `release_path` of a recorded point, then of the parents that were taken with it (see
/// `acquire`): a record names only the points themselves, so after a crash the parents
/// hostproc made for them are found by their lock files, deepest first, up to the first
/// parent that has none or that someone still holds.
pub(crate) fn release_with_parents(lock_dir: &Path, path: &Path) -> Result<(), StorageError> {
    release_path(lock_dir, path)?;
    for parent in path.ancestors().skip(1).take_while(|p| p.as_os_str().len() > 1) {
        if !release_path(lock_dir, parent)? {
            break;
        }
    }
    Ok(())
}

/// Removes `path` if nobody holds it and hostproc created it (see the module's text).
/// Returns whether its lock file was there to let go of.
pub(crate) fn release_path(lock_dir: &Path, path: &Path) -> Result<bool, StorageError> {
    let Some((mut f, lp)) = open_locked(lock_dir, path, FlockOperation::NonBlockingLockExclusive, false)? else {
        return Ok(false);
    };
    let mut mark = Vec::new();
    let _ = f.read_to_end(&mut mark);
    if mark == MARK {
        let res = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir(path),
            Ok(m) if m.is_file() && m.len() == 0 => fs::remove_file(path),
            _ => Ok(()),
        };
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Someone put files there, or mounted on it on the host: not ours to remove.
            Err(e) => {
                tracing::info!(path = %path.display(), "mount point left in place: {e}");
                return Ok(false);
            }
        }
    }
    fs::remove_file(&lp).map_err(io_err("remove the lock file", &lp))?;
    Ok(true)
}
