//! Mount propagation: a volume's `shared`/`rslave`/... option and `linux.rootfsPropagation`,
//! parsed, and checked against the host (a volume's tie to the host needs a shared source).

use std::path::{Path, PathBuf};

use rustix::mount::MountPropagationFlags;

use crate::{Mode, Plan, StorageError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagationKind {
    Shared,
    Slave,
    Private,
    Unbindable,
}

/// One propagation setting; `recursive` for the `r` forms (`rshared`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Propagation {
    pub kind: PropagationKind,
    pub recursive: bool,
}

impl Propagation {
    /// The setting an OCI mount option or rootfsPropagation value names, if it names one.
    pub fn parse(s: &str) -> Option<Propagation> {
        let (recursive, base) = match s.strip_prefix('r') {
            Some(b @ ("shared" | "slave" | "private" | "unbindable")) => (true, b),
            _ => (false, s),
        };
        let kind = match base {
            "shared" => PropagationKind::Shared,
            "slave" => PropagationKind::Slave,
            "private" => PropagationKind::Private,
            "unbindable" => PropagationKind::Unbindable,
            _ => return None,
        };
        Some(Propagation { kind, recursive })
    }

    /// True for the settings that keep a tie to the host's mount (`shared`, `slave`).
    pub fn tied(self) -> bool {
        matches!(self.kind, PropagationKind::Shared | PropagationKind::Slave)
    }

    pub(crate) fn flags(self) -> MountPropagationFlags {
        let f = match self.kind {
            PropagationKind::Shared => MountPropagationFlags::SHARED,
            PropagationKind::Slave => MountPropagationFlags::DOWNSTREAM,
            PropagationKind::Private => MountPropagationFlags::PRIVATE,
            PropagationKind::Unbindable => MountPropagationFlags::UNBINDABLE,
        };
        if self.recursive {
            f | MountPropagationFlags::REC
        } else {
            f
        }
    }

    /// For a volume: a slave volume is a slave all through, `slave` as `rslave`, so that no
    /// submount of an `rbind` stays a peer of the host's (the payload's mounts must not leave).
    pub(crate) fn volume_flags(self) -> MountPropagationFlags {
        if self.kind == PropagationKind::Slave {
            return MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC;
        }
        self.flags()
    }
}

impl Plan {
    /// Sets `linux.rootfsPropagation`. In bind mode it applies to the payload's view of the
    /// host's tree after that has been made a slave of the host's (see docs/design.md); host
    /// mode has no mount namespace, so only private/unbindable, which it cannot give, are warned about.
    pub fn with_root_propagation(mut self, value: Option<&str>) -> Result<Plan, StorageError> {
        let Some(value) = value.filter(|v| !v.is_empty()) else { return Ok(self) };
        let p = Propagation::parse(value).ok_or_else(|| StorageError::BadRootPropagation(value.to_owned()))?;
        if self.mode == Mode::Host && !p.tied() {
            tracing::warn!(
                "linux.rootfsPropagation {value:?} is not applied in host mode: the payload shares the host's mount namespace, \
                 so its mounts are the host's; use bind mode (the default) to keep them in the container"
            );
        }
        self.root_propagation = Some(p);
        Ok(self)
    }

    /// Warns about each volume whose propagation asks for a tie to the host that its source's
    /// mount cannot give (it is not shared on the host). Reads mountinfo only when one asks.
    pub(crate) fn warn_untied_sources(&self) {
        if !self.mounts.iter().any(|m| m.propagation.is_some_and(Propagation::tied)) {
            return;
        }
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return };
        for m in self.mounts.iter() {
            let Some(p) = m.propagation.filter(|p| p.tied()) else { continue };
            let Some((mount_point, shared, slave)) = source_mount(&info, &m.source) else { continue };
            // A slave source still passes on what its master receives (containerd accepts it too).
            if shared || (slave && p.kind == PropagationKind::Slave) {
                continue;
            }
            let (opt, lost) = match p.kind {
                PropagationKind::Shared => (
                    if p.recursive { "rshared" } else { "shared" },
                    "mounts made in the container under it will not reach the host, nor host mounts under its source reach the container",
                ),
                _ => (if p.recursive { "rslave" } else { "slave" }, "mounts made on the host under its source will not reach the container"),
            };
            tracing::warn!(
                "mount {dest} ({opt}): its source {src} is on {mp}, which is not a shared mount on the host, so {lost}; \
                 make it shared (mount --make-rshared {mp}) before the container starts",
                dest = m.destination.display(),
                src = m.source.display(),
                mp = mount_point.display(),
            );
        }
    }
}

/// The mount point of the host mount holding `path`, and whether that mount is shared, and
/// a slave.
fn source_mount(info: &str, path: &Path) -> Option<(PathBuf, bool, bool)> {
    let st = rustix::fs::statx(rustix::fs::CWD, path, rustix::fs::AtFlags::empty(), rustix::fs::StatxFlags::MNT_ID).ok()?;
    let id = st.stx_mnt_id.to_string();
    let line = info.lines().find(|l| l.split(' ').next() == Some(id.as_str()))?;
    let fields: Vec<&str> = line.split(' ').collect();
    let mount_point = PathBuf::from(unescape(fields.get(4)?));
    let optional = || fields.iter().skip(6).take_while(|f| **f != "-");
    let shared = optional().any(|f| f.starts_with("shared:"));
    let slave = optional().any(|f| f.starts_with("master:"));
    Some((mount_point, shared, slave))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], oct) {
            out.push((d[0] - b'0').wrapping_mul(64) + (d[1] - b'0') * 8 + (d[2] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_propagation_and_nothing_else() {
        let p = |s| Propagation::parse(s).map(|p| (p.kind, p.recursive));
        assert_eq!(p("rshared"), Some((PropagationKind::Shared, true)));
        assert_eq!(p("shared"), Some((PropagationKind::Shared, false)));
        assert_eq!(p("rslave"), Some((PropagationKind::Slave, true)));
        assert_eq!(p("private"), Some((PropagationKind::Private, false)));
        assert_eq!(p("runbindable"), Some((PropagationKind::Unbindable, true)));
        for other in ["rbind", "bind", "ro", "rw", "r", "", "rrshared", "Shared"] {
            assert_eq!(p(other), None, "{other}");
        }
        assert_eq!(unescape(r"/a\040b\134c\"), "/a b\\c\\");
    }
}
