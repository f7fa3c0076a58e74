//! Which cgroup hierarchies this host has, and where the caller sits in each.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::JobError;

/// Where cgroupfs is mounted; `/sys/fs/cgroup` on every distribution we know.
#[derive(Debug, Clone)]
pub struct CgroupRoot(pub PathBuf);

impl Default for CgroupRoot {
    fn default() -> Self {
        CgroupRoot(PathBuf::from("/sys/fs/cgroup"))
    }
}

/// A cgroup v1 hierarchy (with its controllers) or the v2 unified one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HierarchyKind {
    V1 { controllers: Vec<String> },
    Unified { controllers: Vec<String> },
}

/// One hierarchy: its mount point and the caller's own cgroup inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub kind: HierarchyKind,
    pub mount: PathBuf,
    /// The caller's cgroup, relative to `mount` (no leading `/`).
    pub own: PathBuf,
}

impl Hierarchy {
    pub fn is_unified(&self) -> bool {
        matches!(self.kind, HierarchyKind::Unified { .. })
    }
}

/// The v1 controllers a job always joins. hugetlb, net_cls, net_prio and rdma are joined
/// only by a job whose limits use them (`Layout::with_optional`), so a spec without those
/// costs no mkdir, join or rmdir more. Others (devices, perf_event, misc, named
/// hierarchies) carry no limit we set and are left alone: a HostProcess container reaches
/// the host's devices, so a devices cgroup of its own (which would inherit the caller's
/// rules and add none) is only a mkdir, a join and an rmdir more.
const V1_CONTROLLERS: &[&str] = &["cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio"];
use crate::resources::OPTIONAL_CONTROLLERS;

/// A v1 hierarchy of optional controllers, as /proc/self/cgroup names it; its mount point
/// is looked for only when a job needs it.
#[derive(Debug, Clone)]
struct Optional {
    controllers: Vec<String>,
    candidates: [PathBuf; 2],
    own: PathBuf,
}

/// The host's cgroup hierarchies as seen by the calling process.
#[derive(Debug, Clone)]
pub struct Layout {
    pub hierarchies: Vec<Hierarchy>,
    optional: Vec<Optional>,
}

impl Layout {
    /// Reads `/proc/self/cgroup` and probes the mount points under `root`. Two small
    /// reads and a few `stat`s: no mountinfo parsing on the start path.
    pub fn detect(root: &CgroupRoot) -> Result<Layout, JobError> {
        let p = Path::new("/proc/self/cgroup");
        let text = crate::job::read(p).map_err(|source| JobError::Layout { path: p.into(), source })?;
        Self::from_proc_cgroup(root, &text)
    }

    /// The same from a given `/proc/<pid>/cgroup` text (tests use a temporary root).
    pub fn from_proc_cgroup(root: &CgroupRoot, text: &str) -> Result<Layout, JobError> {
        let mut hierarchies = Vec::new();
        let mut optional = Vec::new();
        let pure_v2 = root.0.join("cgroup.controllers").exists();
        for line in text.lines() {
            let mut it = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else { continue };
            let own = PathBuf::from(path.trim_start_matches('/'));
            if ctrls.is_empty() {
                let mount = if pure_v2 { root.0.clone() } else { root.0.join("unified") };
                if !mount.join("cgroup.procs").exists() {
                    continue;
                }
                let controllers = crate::job::read(&mount.join("cgroup.controllers"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
                hierarchies.push(Hierarchy { kind: HierarchyKind::Unified { controllers }, mount, own });
                continue;
            }
            if pure_v2 {
                continue;
            }
            let list: Vec<String> = ctrls.split(',').filter(|c| V1_CONTROLLERS.contains(c)).map(str::to_owned).collect();
            if list.is_empty() {
                let opt: Vec<String> = ctrls.split(',').filter(|c| OPTIONAL_CONTROLLERS.contains(c)).map(str::to_owned).collect();
                if let Some(first) = opt.first() {
                    let candidates = [root.0.join(ctrls), root.0.join(first)];
                    optional.push(Optional { controllers: opt, candidates, own });
                }
                continue;
            }
            // Co-mounted controllers (cpu,cpuacct) live at the joined name; each single
            // name is usually a symlink to it.
            let mount = [root.0.join(ctrls), root.0.join(&list[0])].into_iter().find(|m| m.join("cgroup.procs").exists());
            let Some(mount) = mount else { continue };
            hierarchies.push(Hierarchy { kind: HierarchyKind::V1 { controllers: list }, mount, own });
        }
        // With a v2 hierarchy that can freeze (Linux 5.2), the v1 freezer is never used
        // (pause and kill-all freeze through cgroup.freeze): not joined, it costs nothing.
        if hierarchies.iter().any(Hierarchy::is_unified) && kernel_at_least(5, 2) {
            for h in &mut hierarchies {
                if let HierarchyKind::V1 { controllers } = &mut h.kind {
                    controllers.retain(|c| c != "freezer");
                }
            }
            hierarchies.retain(|h| !matches!(&h.kind, HierarchyKind::V1 { controllers } if controllers.is_empty()));
        }
        if hierarchies.is_empty() {
            return Err(JobError::NoCgroups(root.0.clone()));
        }
        // The unified hierarchy first: it has cgroup.kill and cgroup.events.
        hierarchies.sort_by_key(|h| !h.is_unified());
        Ok(Layout { hierarchies, optional })
    }

    /// This layout with the optional v1 hierarchies (hugetlb, net_cls, net_prio, rdma) that
    /// `controllers` names, where the host mounts them. One the host lacks is left out:
    /// the limit that needs it is refused before anything is made.
    pub fn with_optional(&self, controllers: &[&str]) -> Layout {
        let mut out = self.clone();
        for o in &self.optional {
            if !o.controllers.iter().any(|c| controllers.contains(&c.as_str())) {
                continue;
            }
            if let Some(mount) = o.candidates.iter().find(|m| m.join("cgroup.procs").exists()) {
                let kind = HierarchyKind::V1 { controllers: o.controllers.clone() };
                out.hierarchies.push(Hierarchy { kind, mount: mount.clone(), own: o.own.clone() });
            }
        }
        out
    }

    /// True when this host keeps its controllers in v1 hierarchies.
    pub fn is_v1(&self) -> bool {
        self.hierarchies.iter().any(|h| !h.is_unified())
    }

    /// The job's directory in each hierarchy, and the directory above which removal
    /// stops. An absolute `cgroups_path` is used as given; a relative one (or none:
    /// `hostproc/<id>`) goes under the caller's own cgroup in each hierarchy.
    pub fn place(&self, cgroups_path: Option<&Path>, id: &str) -> Result<Vec<(PathBuf, PathBuf)>, JobError> {
        let default = PathBuf::from("hostproc").join(id);
        let rel = cgroups_path.unwrap_or(&default);
        let s = rel.to_string_lossy().into_owned();
        if rel.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(JobError::BadPath(s));
        }
        let stripped: PathBuf = rel.components().filter(|c| matches!(c, Component::Normal(_))).collect();
        if stripped.as_os_str().is_empty() {
            return Err(JobError::BadPath(s));
        }
        Ok(self
            .hierarchies
            .iter()
            .map(|h| {
                if rel.is_absolute() {
                    let dir = h.mount.join(&stripped);
                    let stop = dir.parent().map(Path::to_path_buf).unwrap_or_else(|| h.mount.clone());
                    (dir, stop)
                } else {
                    let base = h.mount.join(&h.own);
                    (base.join(&stripped), base)
                }
            })
            .collect())
    }
}

/// Whether the running kernel is at least `major.minor` (false if its release is unreadable).
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy();
    let mut it = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (major, minor)
}

/// A systemd-style cgroupsPath (`slice:prefix:name`, as `--systemd-cgroup` callers pass
/// it) as the cgroupfs path systemd would give it: `/a.slice/a-b.slice/prefix-name.scope`.
/// Used on hosts without systemd, where the caller still speaks systemd's form.
pub fn systemd_to_cgroupfs(path: &str) -> Result<PathBuf, JobError> {
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts.as_slice() else {
        return Err(JobError::BadPath(format!("{path} (expected slice:prefix:name with --systemd-cgroup)")));
    };
    let mut out = PathBuf::from("/");
    let slice = if slice.is_empty() { "system.slice" } else { slice };
    if slice != "-.slice" {
        let Some(stem) = slice.strip_suffix(".slice") else {
            return Err(JobError::BadPath(format!("{path} (the slice must end in .slice)")));
        };
        if stem.contains('/') || stem.split('-').any(str::is_empty) {
            return Err(JobError::BadPath(format!("{path} (invalid slice name)")));
        }
        let mut acc = String::new();
        for piece in stem.split('-') {
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(piece);
            out.push(format!("{acc}.slice"));
        }
    }
    if name.contains('/') || prefix.contains('/') || name.is_empty() {
        return Err(JobError::BadPath(format!("{path} (invalid unit name)")));
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    out.push(unit);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn systemd_paths() {
        assert_eq!(systemd_to_cgroupfs("system.slice:cri-containerd:abc").unwrap(), PathBuf::from("/system.slice/cri-containerd-abc.scope"));
        assert_eq!(
            systemd_to_cgroupfs("kubepods-besteffort-pod1.slice:cri-containerd:x").unwrap(),
            PathBuf::from("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-x.scope")
        );
        assert!(systemd_to_cgroupfs("a/b").is_err());
        assert!(systemd_to_cgroupfs("bad:x:y").is_err());
    }
}
