//! The fallback storage of hcsshim's job containers, for hosts without the bind filter:
//! the rootfs appears at `C:\hpc\<id>` (or `<microsoft.com/hostprocess-rootfs-location>\<id>`),
//! a directory link to the bundle's rootfs, and each volume is a link at
//! `<sandbox>\<destination without its drive>` to its host path. Everything made is
//! recorded, so release (also after a crash) removes exactly that: links and the empty
//! directories made for them, never anything recursively.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf, Prefix};

use serde::{Deserialize, Serialize};

/// Where sandboxes go without the annotation (hcsshim's fallback `C:\hpc\<id>`).
pub const FALLBACK_LOCATION: &str = "C:\\hpc";

/// What the sandbox made on the host, in order; saved with the container's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    /// CONTAINER_SANDBOX_MOUNT_POINT: the link to the rootfs.
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<PathBuf>,
    /// Directories made for the volumes' links (removed again when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<PathBuf>,
}

/// One volume: a host path shown at a container path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub source: PathBuf,
    pub destination: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{path} exists already: another container uses this id (or a crashed one left it: `delete --force` it)")]
    Exists { path: PathBuf },
    #[error("the volume destination {0:?} must be an absolute Windows path without `..` (like C:\\data)")]
    BadDestination(String),
    #[error("the volume destination {dest:?} passes through {link}, a link inside the container's files: refused, it could lead outside them")]
    ThroughLink { dest: String, link: PathBuf },
    #[error("the volume source {0} does not exist")]
    NoSource(PathBuf),
    #[error("cannot {what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("the link {path} was reported made but is not there (Wine 8.0's CreateSymbolicLinkW is a stub; on Windows, run hostproc as an administrator or enable developer mode for symbolic links)")]
    LinkMissing { path: PathBuf },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SandboxError + 'a {
    move |source| SandboxError::Io { what, path: path.to_path_buf(), source }
}

/// The sandbox of container `id`: `<location>\<id>`, the location being the annotation's
/// value or `C:\hpc`.
pub fn sandbox_path(id: &str, location: Option<&Path>) -> PathBuf {
    location.unwrap_or(Path::new(FALLBACK_LOCATION)).join(id)
}

/// The path of `destination` under the sandbox: the drive (or UNC prefix) dropped,
/// refused when relative or holding `..`.
pub fn under_sandbox(sandbox: &Path, destination: &str) -> Result<PathBuf, SandboxError> {
    let bad = || SandboxError::BadDestination(destination.to_string());
    let mut comps = Path::new(destination).components();
    match comps.next() {
        Some(Component::Prefix(p)) if matches!(p.kind(), Prefix::Disk(_) | Prefix::VerbatimDisk(_)) => {}
        _ => return Err(bad()),
    }
    if comps.next() != Some(Component::RootDir) {
        return Err(bad());
    }
    let mut out = sandbox.to_path_buf();
    for c in comps {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

fn link(source: &Path, at: &Path) -> Result<(), SandboxError> {
    let meta = fs::metadata(source).map_err(|_| SandboxError::NoSource(source.to_path_buf()))?;
    let made = if meta.is_dir() { std::os::windows::fs::symlink_dir(source, at) } else { std::os::windows::fs::symlink_file(source, at) };
    made.map_err(io_err("make the link", at))?;
    // Checked, since a stub (Wine's) reports success without a link.
    match fs::symlink_metadata(at) {
        Ok(m) if m.is_symlink() => Ok(()),
        _ => Err(SandboxError::LinkMissing { path: at.to_path_buf() }),
    }
}

/// Makes the sandbox for `rootfs` and links the volumes. On failure everything made so far
/// is removed again.
pub fn setup(id: &str, rootfs: &Path, location: Option<&Path>, volumes: &[Volume]) -> Result<Sandbox, SandboxError> {
    let path = sandbox_path(id, location);
    if fs::symlink_metadata(&path).is_ok() {
        return Err(SandboxError::Exists { path });
    }
    let parent = path.parent().unwrap_or(Path::new(FALLBACK_LOCATION));
    // The location is made once and kept, as C:\hpc is.
    fs::create_dir_all(parent).map_err(io_err("create the rootfs location", parent))?;
    let mut sb = Sandbox { path: path.clone(), ..Default::default() };
    link(rootfs, &path)?;
    sb.links.push(path.clone());
    let result = volumes.iter().try_for_each(|v| add_volume(&mut sb, rootfs, v));
    if let Err(e) = result {
        let _ = release(&sb);
        return Err(e);
    }
    Ok(sb)
}

/// Host mode: the sandbox is the rootfs's own path (no link for it); volumes as in
/// [`setup`].
pub fn setup_in_place(rootfs: &Path, volumes: &[Volume]) -> Result<Sandbox, SandboxError> {
    let mut sb = Sandbox { path: rootfs.to_path_buf(), ..Default::default() };
    let result = volumes.iter().try_for_each(|v| add_volume(&mut sb, rootfs, v));
    if let Err(e) = result {
        let _ = release(&sb);
        return Err(e);
    }
    Ok(sb)
}

fn add_volume(sb: &mut Sandbox, rootfs: &Path, v: &Volume) -> Result<(), SandboxError> {
    // Resolved inside the rootfs itself: the sandbox is only a link to it.
    let at = under_sandbox(rootfs, &v.destination)?;
    let mut dir = rootfs.to_path_buf();
    let rel: Vec<_> = at.strip_prefix(rootfs).map(|r| r.components().collect()).unwrap_or_default();
    for (i, c) in rel.iter().enumerate() {
        dir.push(c);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_symlink() => return Err(SandboxError::ThroughLink { dest: v.destination.clone(), link: dir }),
            Ok(m) if i + 1 < rel.len() && !m.is_dir() => return Err(SandboxError::BadDestination(v.destination.clone())),
            Ok(_) if i + 1 == rel.len() => return Err(SandboxError::Exists { path: dir }),
            Ok(_) => {}
            Err(_) if i + 1 < rel.len() => {
                fs::create_dir(&dir).map_err(io_err("create the volume's parent", &dir))?;
                sb.dirs.push(dir.clone());
            }
            Err(_) => {}
        }
    }
    link(&v.source, &at)?;
    sb.links.push(at);
    Ok(())
}

/// Removes what `sb` lists, last made first: the links, then the directories made for
/// them if empty. Idempotent: what is gone already is skipped.
pub fn release(sb: &Sandbox) -> Result<(), SandboxError> {
    let mut first = None;
    for l in sb.links.iter().rev() {
        let Ok(m) = fs::symlink_metadata(l) else { continue };
        if !m.is_symlink() {
            continue; // not ours any more: never delete a real directory
        }
        // A directory link goes with remove_dir, a file link with remove_file.
        if let Err(e) = fs::remove_dir(l).or_else(|_| fs::remove_file(l)) {
            first.get_or_insert(SandboxError::Io { what: "remove the link", path: l.clone(), source: e });
        }
    }
    for d in sb.dirs.iter().rev() {
        let _ = fs::remove_dir(d);
    }
    first.map_or(Ok(()), Err)
}
