//! The storage plan: what to mount where, checked before anything is made.

use std::path::{Component, Path, PathBuf};

use crate::{Propagation, StorageError};

/// The default place of the rootfs in bind mode (hcsshim's `C:\hpc`).
pub const DEFAULT_LOCATION: &str = "/hpc";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bind,
    Host,
}

/// One bind mount of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub source: PathBuf,
    pub destination: PathBuf,
    pub readonly: bool,
    pub recursive: bool,
    pub source_is_dir: bool,
    /// The mount's propagation option (`rshared`, `rslave`, ...; the last one given), if any.
    pub propagation: Option<Propagation>,
}

/// Everything the storage needs to know.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    pub rootfs: PathBuf,
    pub rootfs_readonly: bool,
    /// Bind mode: where the rootfs appears (default `/hpc`).
    pub location: PathBuf,
    pub mounts: Vec<MountSpec>,
    /// `linux.rootfsPropagation` (bind mode: the payload's view of the host's tree).
    pub root_propagation: Option<Propagation>,
}

/// Mounts a host process needs no copy of: the host's own serve.
fn is_standard(typ: &str, dest: &Path) -> bool {
    matches!(typ, "proc" | "sysfs" | "devpts" | "mqueue" | "cgroup" | "cgroup2")
        || ["/proc", "/sys", "/sys/fs/cgroup", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/run"]
            .iter()
            .any(|d| dest == Path::new(d))
}

/// A clean absolute path: no `..`, no `.`, no empty parts.
pub(crate) fn clean_absolute(p: &Path) -> Option<PathBuf> {
    if !p.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

impl Plan {
    /// Checks the location and turns the spec's mounts into bind mounts, skipping the
    /// standard container mounts. `bundle` resolves relative sources.
    pub fn new(
        mode: Mode,
        rootfs: PathBuf,
        rootfs_readonly: bool,
        location: &str,
        mounts: impl IntoIterator<Item = (String, String, String, Vec<String>)>,
        bundle: &Path,
    ) -> Result<Plan, StorageError> {
        let loc = clean_absolute(Path::new(location)).filter(|l| {
            l != Path::new("/") && !["/proc", "/sys", "/dev"].iter().any(|b| l.starts_with(b))
        });
        let Some(location) = loc else { return Err(StorageError::BadLocation(location.to_owned())) };
        let mut out = Vec::new();
        for (typ, source, destination, options) in mounts {
            let Some(dest) = clean_absolute(Path::new(&destination)) else {
                return Err(StorageError::BadDestination(destination));
            };
            if source.starts_with(r"\\.\pipe\") || destination.starts_with(r"\\.\pipe\") {
                return Err(StorageError::NamedPipe { destination });
            }
            let is_bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
            if !is_bind {
                if is_standard(&typ, &dest) {
                    tracing::debug!(destination, typ, "standard container mount skipped: the host's serves");
                    continue;
                }
                return Err(StorageError::UnsupportedType { destination, typ });
            }
            if is_standard("bind", &dest) {
                tracing::debug!(destination, "bind mount over a standard host path skipped: the host's serves");
                continue;
            }
            let src = bundle.join(&source);
            let meta = std::fs::metadata(&src).map_err(|_| StorageError::MissingSource { path: src.clone() })?;
            out.push(MountSpec {
                source: src,
                destination: dest,
                readonly: options.iter().any(|o| o == "ro"),
                recursive: options.iter().any(|o| o == "rbind"),
                source_is_dir: meta.is_dir(),
                propagation: options.iter().rev().find_map(|o| Propagation::parse(o)),
            });
        }
        let plan = Plan { mode, rootfs, rootfs_readonly, location, mounts: out, root_propagation: None };
        plan.warn_untied_sources();
        Ok(plan)
    }

    /// The path the payload knows the sandbox by (`CONTAINER_SANDBOX_MOUNT_POINT`).
    pub fn sandbox(&self) -> &Path {
        match self.mode {
            Mode::Bind => &self.location,
            Mode::Host => &self.rootfs,
        }
    }

    /// Bind mode's mount points outside the rootfs that containers share and count: the
    /// location (unless it is the fixed `/hpc`, kept for good) and the volumes'
    /// destinations, each with whether it is a directory.
    pub fn shared_points(&self) -> Vec<(PathBuf, bool)> {
        let location = (!crate::is_fixed_location(&self.location)).then(|| (self.location.clone(), true));
        location.into_iter().chain(self.mounts.iter().map(|m| (m.destination.clone(), m.source_is_dir))).collect()
    }

    /// The host path behind a path the payload sees, for checks made from the host's view.
    pub fn host_view(&self, inside: &Path) -> PathBuf {
        if self.mode == Mode::Bind {
            if let Ok(rest) = inside.strip_prefix(&self.location) {
                return self.rootfs.join(rest);
            }
            for m in self.mounts.iter().rev() {
                if let Ok(rest) = inside.strip_prefix(&m.destination) {
                    return m.source.join(rest);
                }
            }
        }
        inside.to_path_buf()
    }
}
