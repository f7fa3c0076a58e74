//! Applying a layer (a tar, plain, gzip or zstd) onto a directory, safely.
//!
//! Every path is made relative and checked (no `..`, not absolute), and every directory
//! on the way is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` from the
//! target: a symlink in the image (absolute, or relative and climbing out) can never make
//! an entry land outside it. The entry itself is made with `*at` calls on that directory
//! descriptor without following its last component (`O_CREAT|O_EXCL|O_NOFOLLOW`,
//! `symlinkat`, `linkat` without AT_SYMLINK_FOLLOW). A hostile entry refuses the layer.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{
    chownat, fchmod, fchown, fsetxattr, futimens, linkat, mkdirat, mknodat, openat, openat2, statat, symlinkat, unlinkat,
    utimensat, AtFlags, Dir, FileType, Gid, Mode, OFlags, ResolveFlags, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};
use tar::EntryType;

use crate::ImageError;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// A reader that hashes what passes through it (the layer's diff id).
pub(crate) struct Hashing<R> {
    pub inner: R,
    pub hash: Sha256,
    pub count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// The layer's stream, decompressed by what its first bytes say it is.
fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let head = r.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(r))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(ruzstd::decoding::StreamingDecoder::new(r).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?)
    } else {
        Box::new(r)
    })
}

/// Opens `root` for unpacking into it.
pub(crate) fn open_root(root: &Path) -> Result<OwnedFd, ImageError> {
    rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(crate::error::rio_err("open", root))
}

/// Applies one layer onto `root`; returns the sha256 of the uncompressed tar (its diff id).
pub(crate) fn apply_layer(root: &OwnedFd, layer: &str, r: impl Read) -> Result<String, ImageError> {
    let bad = |detail: String| ImageError::BadLayer { layer: layer.to_owned(), detail };
    let mut plain = Hashing { inner: decompress(r).map_err(|e| bad(format!("cannot read it: {e}")))?, hash: Sha256::new(), count: 0 };
    let mut u = Unpack { root, layer, written: HashSet::new(), dirs: Vec::new(), xattr_warned: false };
    {
        let mut ar = tar::Archive::new(&mut plain);
        for e in ar.entries().map_err(|e| bad(format!("not a tar: {e}")))? {
            let mut e = e.map_err(|e| bad(format!("not a valid tar: {e}")))?;
            u.entry(&mut e)?;
        }
    }
    // The diff id covers the whole stream, the end-of-archive blocks included.
    io::copy(&mut plain, &mut io::sink()).map_err(|e| bad(format!("cannot read it: {e}")))?;
    u.finish();
    Ok(format!("sha256:{:x}", plain.hash.finalize()))
}

struct Unpack<'a> {
    root: &'a OwnedFd,
    layer: &'a str,
    /// The paths this layer made: an opaque directory hides only the lower layers' entries.
    written: HashSet<PathBuf>,
    /// Directories' times, set once their entries are in.
    dirs: Vec<(PathBuf, Timestamps)>,
    xattr_warned: bool,
}

fn resolve() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS
}

/// `path` made relative, `.` dropped; `..` and absolute paths refused.
fn clean(path: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("a `..` component would reach outside the image"),
            Component::RootDir | Component::Prefix(_) => return Err("an absolute path"),
        }
    }
    Ok(out)
}

fn timestamps(secs: u64) -> Timestamps {
    let t = rustix::fs::Timespec { tv_sec: secs.min(i64::MAX as u64) as i64, tv_nsec: 0 };
    Timestamps { last_access: t, last_modification: t }
}

impl Unpack<'_> {
    fn unsafe_entry(&self, entry: &Path, detail: impl Into<String>) -> ImageError {
        ImageError::Unsafe { layer: self.layer.to_owned(), entry: entry.display().to_string(), detail: detail.into() }
    }

    fn fail(&self, entry: &Path, what: &str, e: impl std::fmt::Display) -> ImageError {
        ImageError::BadLayer { layer: self.layer.to_owned(), detail: format!("entry {:?}: cannot {what}: {e}", entry.display().to_string()) }
    }

    /// The directory `rel` beneath the root (made, 0755, when `create`), or None if absent.
    fn dir(&self, entry: &Path, rel: &Path, create: bool) -> Result<Option<OwnedFd>, ImageError> {
        let open = |p: &Path| {
            let p = if p.as_os_str().is_empty() { Path::new(".") } else { p };
            openat2(self.root, p, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty(), resolve())
        };
        let escape = |e: Errno| match e {
            Errno::XDEV | Errno::LOOP => Some(self.unsafe_entry(entry, "its directory resolves outside the image (through a symlink or `..`)")),
            _ => None,
        };
        match open(rel) {
            Ok(fd) => return Ok(Some(fd)),
            Err(Errno::NOENT) if create => {}
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(escape(e).unwrap_or_else(|| self.fail(entry, "open its directory", e))),
        }
        // Make the missing directories one by one, each resolved from the root again.
        let mut cur = PathBuf::new();
        let mut fd = open(&cur).map_err(|e| self.fail(entry, "open the root", e))?;
        for c in rel.components() {
            cur.push(c);
            fd = match open(&cur) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    mkdirat(&fd, c.as_os_str(), Mode::from_raw_mode(0o755)).map_err(|e| self.fail(entry, "make a directory", e))?;
                    open(&cur).map_err(|e| escape(e).unwrap_or_else(|| self.fail(entry, "open a directory", e)))?
                }
                Err(e) => return Err(escape(e).unwrap_or_else(|| self.fail(entry, "open its directory", e))),
            };
        }
        Ok(Some(fd))
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<(), ImageError> {
        let raw = e.path().map_err(|err| ImageError::BadLayer { layer: self.layer.to_owned(), detail: format!("an entry's path: {err}") })?.into_owned();
        let kind = e.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink) {
            return Ok(());
        }
        let path = clean(&raw).map_err(|d| self.unsafe_entry(&raw, d))?;
        let Some(name) = path.file_name().map(OsStr::to_owned) else {
            // `./`: the image's root directory itself; only its metadata applies.
            if kind == EntryType::Directory {
                let fd = openat(self.root, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|err| self.fail(&raw, "open the root", err))?;
                self.metadata(&raw, &fd, e)?;
            }
            return Ok(());
        };
        let parent_rel = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let name_s = name.to_string_lossy();
        if let Some(hidden) = name_s.strip_prefix(WHITEOUT) {
            if name_s == OPAQUE {
                return self.opaque(&raw, &parent_rel);
            }
            if hidden.starts_with(WHITEOUT) {
                return Ok(()); // aufs' own metadata (.wh..wh.plnk ...)
            }
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(self.unsafe_entry(&raw, "a whiteout must name an entry of its directory"));
            }
            if let Some(dir) = self.dir(&raw, &parent_rel, false)? {
                remove_all(&dir, OsStr::new(hidden)).map_err(|err| self.fail(&raw, "remove the whited-out entry", err))?;
            }
            return Ok(());
        }
        let dir = self.dir(&raw, &parent_rel, true)?.expect("made");
        let existing = statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW).ok();
        let is_dir = |st: &rustix::fs::Stat| FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if let Some(st) = &existing {
            if !(kind == EntryType::Directory && is_dir(st)) {
                remove_all(&dir, &name).map_err(|err| self.fail(&raw, "replace what a lower layer had there", err))?;
            }
        }
        let h = e.header().clone();
        let mode = Mode::from_raw_mode(h.mode().unwrap_or(0o644) & 0o7777);
        let (uid, gid) = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
        let times = timestamps(h.mtime().unwrap_or(0));
        match kind {
            EntryType::Directory => {
                if !existing.as_ref().is_some_and(is_dir) {
                    mkdirat(&dir, &name, Mode::from_raw_mode(0o700)).map_err(|err| self.fail(&raw, "make the directory", err))?;
                }
                let fd = openat(&dir, &name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|err| self.fail(&raw, "open the directory", err))?;
                self.metadata(&raw, &fd, e)?;
                self.dirs.push((path.clone(), times));
            }
            EntryType::Regular | EntryType::Continuous => {
                let fd = openat(&dir, &name, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::from_raw_mode(0o600))
                    .map_err(|err| self.fail(&raw, "create the file", err))?;
                let mut f = std::fs::File::from(fd);
                io::copy(e, &mut f).map_err(|err| self.fail(&raw, "write the file", err))?;
                let fd = OwnedFd::from(f);
                self.metadata(&raw, &fd, e)?;
                futimens(&fd, &times).map_err(|err| self.fail(&raw, "set its times", err))?;
            }
            EntryType::Symlink => {
                let target = e.link_name().ok().flatten().ok_or_else(|| self.fail(&raw, "read the symlink's target", "none"))?;
                symlinkat(target.as_os_str(), &dir, &name).map_err(|err| self.fail(&raw, "make the symlink", err))?;
                chownat(&dir, &name, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|err| self.fail(&raw, "set its owner", err))?;
                utimensat(&dir, &name, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(|err| self.fail(&raw, "set its times", err))?;
            }
            EntryType::Link => {
                let target_raw = e.link_name().ok().flatten().ok_or_else(|| self.fail(&raw, "read the link's target", "none"))?.into_owned();
                let target = clean(&target_raw).map_err(|d| self.unsafe_entry(&raw, format!("a hard link to {target_raw:?}: {d}")))?;
                let (Some(tname), tparent) = (target.file_name(), target.parent().unwrap_or(Path::new(""))) else {
                    return Err(self.unsafe_entry(&raw, "a hard link to the image's root"));
                };
                let tdir = self.dir(&raw, tparent, false)?.ok_or_else(|| self.fail(&raw, "link", format!("its target {target_raw:?} is not in the image")))?;
                linkat(&tdir, tname, &dir, &name, AtFlags::empty()).map_err(|err| self.fail(&raw, &format!("link to {target_raw:?}"), err))?;
            }
            EntryType::Fifo => {
                mknodat(&dir, &name, FileType::Fifo, mode, 0).map_err(|err| self.fail(&raw, "make the fifo", err))?;
                chownat(&dir, &name, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|err| self.fail(&raw, "set its owner", err))?;
            }
            other => {
                // Device nodes: a HostProcess payload uses the host's /dev; an image's own
                // nodes would only be a way around the host's device permissions.
                tracing::warn!("layer {}: entry {:?} ({other:?}) is not unpacked: device nodes are not made", self.layer, raw);
                return Ok(());
            }
        }
        self.written.insert(path);
        Ok(())
    }

    /// Owner, mode (after the owner: chown clears set-id bits) and xattrs.
    fn metadata<R: Read>(&mut self, raw: &Path, fd: &OwnedFd, e: &mut tar::Entry<'_, R>) -> Result<(), ImageError> {
        let h = e.header();
        let (mut uid, mut gid) = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
        let mode = Mode::from_raw_mode(h.mode().unwrap_or(0o644) & 0o7777);
        let mut xattrs = Vec::new();
        if let Ok(Some(pax)) = e.pax_extensions() {
            for x in pax.flatten() {
                match (x.key(), x.value()) {
                    (Ok("uid"), Ok(v)) => uid = v.parse().unwrap_or(uid),
                    (Ok("gid"), Ok(v)) => gid = v.parse().unwrap_or(gid),
                    (Ok(k), _) if k.starts_with("SCHILY.xattr.") => {
                        xattrs.push((k["SCHILY.xattr.".len()..].to_owned(), x.value_bytes().to_vec()));
                    }
                    _ => {}
                }
            }
        }
        fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).map_err(|err| self.fail(raw, "set its owner", err))?;
        fchmod(fd, mode).map_err(|err| self.fail(raw, "set its mode", err))?;
        for (k, v) in xattrs {
            if let Err(err) = fsetxattr(fd, k.as_str(), &v, XattrFlags::empty()) {
                if !self.xattr_warned {
                    tracing::warn!("layer {}: entry {:?}: xattr {k} not set ({err}); later ones are not reported", self.layer, raw);
                    self.xattr_warned = true;
                }
            }
        }
        Ok(())
    }

    /// `.wh..wh..opq`: the directory keeps only what this layer put in it.
    fn opaque(&mut self, raw: &Path, rel: &Path) -> Result<(), ImageError> {
        let Some(dir) = self.dir(raw, rel, true)? else { return Ok(()) };
        let rd = openat(&dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| self.fail(raw, "open the opaque directory", e))?;
        for name in list(&rd).map_err(|e| self.fail(raw, "list the opaque directory", e))? {
            if !self.written.contains(&rel.join(&name)) {
                remove_all(&dir, &name).map_err(|e| self.fail(raw, "empty the opaque directory", e))?;
            }
        }
        Ok(())
    }

    /// Directory times, deepest first, now that nothing more is written in them.
    fn finish(&mut self) {
        for (p, t) in self.dirs.iter().rev() {
            if let Ok(fd) = openat2(self.root, p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), resolve()) {
                let _ = futimens(&fd, t);
            }
        }
    }
}

fn list(dir: &OwnedFd) -> io::Result<Vec<std::ffi::OsString>> {
    let mut out = Vec::new();
    for ent in Dir::read_from(dir)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(n).to_owned());
        }
    }
    Ok(out)
}

/// Removes `name` in `dir` and, if a directory, all beneath it, never following a symlink.
pub(crate) fn remove_all(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let st = match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Ok(unlinkat(dir, name, AtFlags::empty())?);
    }
    let sub = openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    for n in list(&sub)? {
        remove_all(&sub, &n)?;
    }
    Ok(unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_refuses_parent_and_absolute_paths() {
        assert_eq!(clean(Path::new("./a/./b/")).unwrap(), PathBuf::from("a/b"));
        assert!(clean(Path::new("a/../../b")).is_err());
        assert!(clean(Path::new("/etc/passwd")).is_err());
        assert_eq!(clean(Path::new("./")).unwrap(), PathBuf::new());
    }
}

#[cfg(test)]
mod layer_tests {
    use super::*;

    fn entry(b: &mut tar::Builder<Vec<u8>>, kind: EntryType, path: &str, link: &str, data: &[u8]) {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        let u = h.as_ustar_mut().unwrap();
        u.name[..path.len()].copy_from_slice(path.as_bytes());
        u.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn apply(dir: &Path, f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Result<String, ImageError> {
        let mut b = tar::Builder::new(Vec::new());
        f(&mut b);
        let data = b.into_inner().unwrap();
        apply_layer(&open_root(dir)?, "test", &data[..])
    }

    #[test]
    fn the_diff_id_is_the_plain_tars_sha256() {
        let d = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, EntryType::Regular, "f", "", b"x");
        let data = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &data).unwrap();
        let got = apply_layer(&open_root(d.path()).unwrap(), "t", &gz.finish().unwrap()[..]).unwrap();
        assert_eq!(got, format!("sha256:{:x}", Sha256::digest(&data)));
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"x");
    }

    #[test]
    fn a_symlinked_directory_on_the_way_out_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("t");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let e = apply(&target, |b| {
            entry(b, EntryType::Symlink, "l", "../outside", b"");
            entry(b, EntryType::Regular, "l/x", "", b"x");
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("resolves outside the image"), "{e}");
        assert!(!outside.join("x").exists());
        // Relative symlinks that stay inside are followed.
        let t2 = d.path().join("t2");
        std::fs::create_dir_all(&t2).unwrap();
        apply(&t2, |b| {
            entry(b, EntryType::Directory, "usr/lib", "", b"");
            entry(b, EntryType::Symlink, "lib", "usr/lib", b"");
            entry(b, EntryType::Regular, "lib/x", "", b"x");
        })
        .unwrap();
        assert!(t2.join("usr/lib/x").is_file());
    }

    #[test]
    fn a_file_replaces_a_lower_directory_and_a_symlink_is_not_written_through() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("victim");
        std::fs::write(&outside, "safe").unwrap();
        let t = d.path().join("t");
        std::fs::create_dir_all(t.join("dir/sub")).unwrap();
        std::os::unix::fs::symlink(&outside, t.join("ln")).unwrap();
        apply(&t, |b| {
            entry(b, EntryType::Regular, "dir", "", b"file now");
            entry(b, EntryType::Regular, "ln", "", b"replaced");
        })
        .unwrap();
        assert_eq!(std::fs::read(t.join("dir")).unwrap(), b"file now");
        assert_eq!(std::fs::read(t.join("ln")).unwrap(), b"replaced");
        assert_eq!(std::fs::read(&outside).unwrap(), b"safe");
    }
}
