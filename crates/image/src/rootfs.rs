//! Each container's own writable view of a shared, unpacked image.
//!
//! In the container's directory: `image-rootfs.json` (the record, written before anything
//! is made, removed last), `rootfs/` (the view), and for overlayfs `rootfs-upper/` and
//! `rootfs-work/`. `release` works from the record alone, so it also undoes a view whose
//! maker crashed half-way, and does nothing the second time.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{chownat, mknodat, utimensat, AtFlags, FileType, Gid, Mode, Timespec, Timestamps, Uid, CWD};
use rustix::io::Errno;
use rustix::mount::{mount, unmount, MountFlags, UnmountFlags};
use serde::{Deserialize, Serialize};

use crate::error::io_err;
use crate::{Image, ImageError};

const RECORD: &str = "image-rootfs.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    /// The image's own directory (`dir:`): nothing made, nothing to release.
    Direct,
    Overlay,
    Copy,
}

/// A container's rootfs made from an image; `path()` is what its bundle's root.path names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRootfs {
    kind: Kind,
    path: PathBuf,
    lower: PathBuf,
    /// The container's directory the view lives in.
    dir: PathBuf,
}

impl Image {
    /// A writable view of this image for one container, made in `dir` (which must exist):
    /// overlayfs with the shared rootfs as its lower layer where the kernel allows it, else
    /// a copy. A `dir:` image is the directory itself (written to as it is).
    pub fn container_rootfs(&self, dir: &Path) -> Result<ContainerRootfs, ImageError> {
        if self.direct {
            return Ok(ContainerRootfs { kind: Kind::Direct, path: self.rootfs.clone(), lower: self.rootfs.clone(), dir: dir.to_path_buf() });
        }
        let mut v = ContainerRootfs { kind: Kind::Overlay, path: dir.join("rootfs"), lower: self.rootfs.clone(), dir: dir.to_path_buf() };
        let overlay_ok = [&v.lower, &v.dir].iter().all(|p| !p.to_string_lossy().contains([',', ':', '\\']));
        if overlay_ok {
            v.write_record()?;
            match v.mount_overlay() {
                Ok(()) => return Ok(v),
                Err(e) => {
                    tracing::debug!("overlayfs for {} not possible ({e}): the image is copied", dir.display());
                    let _ = v.release();
                }
            }
        }
        v.kind = Kind::Copy;
        v.write_record()?;
        let res = std::fs::create_dir(&v.path).map_err(io_err("create", &v.path)).and_then(|_| copy_tree(&v.lower, &v.path));
        if let Err(e) = res {
            let _ = v.release();
            return Err(e);
        }
        Ok(v)
    }
}

impl ContainerRootfs {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_overlay(&self) -> bool {
        self.kind == Kind::Overlay
    }

    fn upper(&self) -> PathBuf {
        self.dir.join("rootfs-upper")
    }

    fn work(&self) -> PathBuf {
        self.dir.join("rootfs-work")
    }

    fn write_record(&self) -> Result<(), ImageError> {
        let p = self.dir.join(RECORD);
        let t = self.dir.join(format!(".{RECORD}.tmp"));
        std::fs::write(&t, serde_json::to_vec(self).expect("record serializes")).map_err(io_err("write", &t))?;
        std::fs::rename(&t, &p).map_err(io_err("rename into place", &p))
    }

    fn mount_overlay(&self) -> Result<(), ImageError> {
        for d in [self.upper(), self.work(), self.path.clone()] {
            std::fs::create_dir(&d).map_err(io_err("create", &d))?;
        }
        // The merged root takes the upper directory's owner and mode: the image's.
        let m = std::fs::metadata(&self.lower).map_err(io_err("read", &self.lower))?;
        std::os::unix::fs::chown(self.upper(), Some(m.uid()), Some(m.gid())).map_err(io_err("chown", self.upper()))?;
        std::fs::set_permissions(self.upper(), std::fs::Permissions::from_mode(m.mode() & 0o7777)).map_err(io_err("chmod", self.upper()))?;
        let data = format!("lowerdir={},upperdir={},workdir={}", self.lower.display(), self.upper().display(), self.work().display());
        let data = std::ffi::CString::new(data).map_err(|e| io_err("mount overlayfs on", &self.path)(io::Error::other(e)))?;
        mount("overlay", &self.path, "overlay", MountFlags::NODEV, data.as_c_str()).map_err(|e| io_err("mount overlayfs on", &self.path)(e.into()))
    }

    /// The view recorded in `dir`, if one is (after a crash, for `release`).
    pub fn load(dir: &Path) -> Result<Option<ContainerRootfs>, ImageError> {
        let p = dir.join(RECORD);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| ImageError::BadSource { source_ref: p.display().to_string(), detail: format!("not hostproc's rootfs record: {e}") }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    /// Releases whatever view `dir` records; nothing to do when none is.
    pub fn release_at(dir: &Path) -> Result<(), ImageError> {
        match Self::load(dir)? {
            Some(v) => v.release(),
            None => Ok(()),
        }
    }

    /// Unmounts and removes the view; idempotent. The image's own files are never
    /// touched: the view is removed only once it is no longer a mount.
    pub fn release(&self) -> Result<(), ImageError> {
        if self.kind == Kind::Direct {
            return Ok(());
        }
        if self.kind == Kind::Overlay {
            match unmount(&self.path, UnmountFlags::NOFOLLOW) {
                Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => {}
                Err(e) => return Err(io_err("unmount", &self.path)(e.into())),
            }
        }
        // Host mode binds volumes under the rootfs: removing through them would delete the
        // host's files.
        for d in [&self.path, &self.upper(), &self.work()] {
            if let Some(m) = mount_beneath(d) {
                return Err(io_err("remove", d)(io::Error::other(format!("{m} is still mounted beneath it: delete the container first"))));
            }
        }
        match (std::fs::symlink_metadata(&self.path), std::fs::metadata(&self.dir)) {
            (Ok(v), Ok(d)) if v.dev() != d.dev() => {
                return Err(io_err("remove", &self.path)(io::Error::other("it is still a mount point: unmount it first")));
            }
            (Ok(_), _) => std::fs::remove_dir_all(&self.path).map_err(io_err("remove", &self.path))?,
            _ => {}
        }
        for d in [self.upper(), self.work()] {
            match std::fs::remove_dir_all(&d) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err("remove", &d)(e)),
                _ => {}
            }
        }
        match std::fs::remove_file(self.dir.join(RECORD)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", self.dir.join(RECORD))(e)),
            _ => Ok(()),
        }
    }
}

/// The mount point of an overlay whose lower layer is `rootfs`, if one is mounted.
pub(crate) fn overlay_using(rootfs: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = format!("lowerdir={}", rootfs.display());
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split(' ');
        let (fstype, opts) = (post.next()?, post.nth(1)?);
        (fstype == "overlay" && opts.split(',').any(|o| o == want)).then(|| pre.split(' ').nth(4).unwrap_or("?").to_owned())
    })
}

/// A mount point at or beneath `dir` in this mount namespace, if there is one.
fn mount_beneath(dir: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().filter_map(|l| l.split(' ').nth(4)).map(unescape).find(|m| Path::new(m).starts_with(dir))
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Copies the image's tree (trusted: the store's own) with modes, owners and times;
/// symlinks are copied, never followed.
fn copy_tree(src: &Path, dst: &Path) -> Result<(), ImageError> {
    for e in std::fs::read_dir(src).map_err(io_err("read", src))? {
        let e = e.map_err(io_err("read", src))?;
        let (s, d) = (e.path(), dst.join(e.file_name()));
        let m = std::fs::symlink_metadata(&s).map_err(io_err("read", &s))?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&d).map_err(io_err("create", &d))?;
            copy_tree(&s, &d)?;
        } else if ft.is_file() {
            std::fs::copy(&s, &d).map_err(io_err("copy to", &d))?;
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&s).map_err(io_err("read", &s))?;
            std::os::unix::fs::symlink(t, &d).map_err(io_err("create", &d))?;
        } else {
            use std::os::unix::fs::FileTypeExt;
            if !ft.is_fifo() {
                continue;
            }
            mknodat(CWD, &d, FileType::Fifo, Mode::from_raw_mode(m.mode() & 0o7777), 0).map_err(|e| io_err("create", &d)(e.into()))?;
        }
        copy_meta(&m, &d)?;
    }
    let m = std::fs::symlink_metadata(src).map_err(io_err("read", src))?;
    copy_meta(&m, dst)
}

fn copy_meta(m: &std::fs::Metadata, d: &Path) -> Result<(), ImageError> {
    let err = |what| move |e: Errno| io_err(what, d)(e.into());
    chownat(CWD, d, Some(Uid::from_raw(m.uid())), Some(Gid::from_raw(m.gid())), AtFlags::SYMLINK_NOFOLLOW).map_err(err("set the owner of"))?;
    if !m.file_type().is_symlink() {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(m.mode() & 0o7777)).map_err(io_err("chmod", d))?;
    }
    let t = |s: i64, ns: i64| Timespec { tv_sec: s, tv_nsec: ns as _ };
    let ts = Timestamps { last_access: t(m.atime(), m.atime_nsec()), last_modification: t(m.mtime(), m.mtime_nsec()) };
    utimensat(CWD, d, &ts, AtFlags::SYMLINK_NOFOLLOW).map_err(err("set the times of"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(super::unescape("/a\\040b\\011c\\134d"), "/a b\tc\\d");
        assert_eq!(super::unescape("/plain\\04"), "/plain\\04");
    }
}
