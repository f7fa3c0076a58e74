//! Making and removing the job's directories, the parents it needs included.

use std::fs;
use std::io;
use std::path::Path;

use crate::job::{read, write_file, JobDir};
use crate::JobError;

pub(crate) fn make_dir(d: &JobDir) -> Result<(), JobError> {
    let create_err = |source: io::Error| match source.raw_os_error() {
        Some(x) if x == rustix::io::Errno::AGAIN.raw_os_error() => JobError::Limited { path: d.path.clone() },
        _ => JobError::Create { path: d.path.clone(), source },
    };
    // The common case: the parents exist (hostproc's own is kept), so one mkdir does.
    if d.path.parent() != Some(d.stop.as_path()) && d.path.parent().is_some_and(|p| p.starts_with(&d.stop)) {
        match fs::create_dir(&d.path) {
            Ok(()) => {
                // Filled in by the kernel when hostproc made the parent (clone_children);
                // otherwise copied, the parent first (a concurrent create may have made it
                // and not yet filled it in).
                if !d.unified && d.controllers.iter().any(|c| c == "cpuset") && !cpuset_filled(&d.path) {
                    if let Some(p) = d.path.parent() {
                        inherit_cpuset(p);
                    }
                    inherit_cpuset(&d.path);
                }
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(create_err(e)),
        }
    }
    // A concurrent removal of an empty shared parent (hostproc/) can race our mkdir: retry.
    for attempt in 0..5 {
        let rel = d.path.strip_prefix(&d.stop).unwrap_or(&d.path);
        let mut cur = d.stop.clone();
        let mut res = Ok(());
        let comps: Vec<_> = rel.components().collect();
        let mut created = Vec::new();
        for (i, c) in comps.iter().enumerate() {
            cur.push(c);
            match fs::create_dir(&cur) {
                Ok(()) => {
                    created.push(cur.clone());
                    if d.unified {
                        enable_controllers(&cur, &d.controllers, i + 1 < comps.len());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if i + 1 == comps.len() {
                        let busy = read(&cur.join("cgroup.procs")).map(|t| !t.trim().is_empty()).unwrap_or(false);
                        if busy {
                            return Err(JobError::InUse { path: cur });
                        }
                    }
                }
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        if res.is_err() {
            // Nothing half-made: the levels this attempt created go again.
            for p in created.iter().rev() {
                let _ = fs::remove_dir(p);
            }
        }
        match res {
            Ok(()) => {
                if !d.unified && d.controllers.iter().any(|c| c == "cpuset") {
                    // Every level, not only the ones we made: a concurrent container may
                    // have made a shared parent and not yet filled it in.
                    let mut cur = d.stop.clone();
                    for c in &comps {
                        cur.push(c);
                        inherit_cpuset(&cur);
                    }
                    // Levels we made above the job: the kernel fills in their future
                    // children itself, which spares each later job two writes and a rebuild
                    // of the scheduler domains (cgroup v1's cpuset).
                    for p in created.iter().filter(|p| **p != d.path) {
                        let _ = write_file(&p.join("cgroup.clone_children"), "1");
                    }
                }
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < 4 => continue,
            Err(e) => return Err(create_err(e)),
        }
    }
    unreachable!()
}

/// A new v1 cpuset cgroup starts with no CPUs and no memory nodes; give an empty one
/// its parent's. The kernel's clone_children fills in both or neither, so one file tells.
fn cpuset_filled(dir: &Path) -> bool {
    read(&dir.join("cpuset.cpus")).is_ok_and(|v| !v.trim().is_empty())
}

fn inherit_cpuset(dir: &Path) {
    let Some(parent) = dir.parent() else { return };
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if read(&dir.join(f)).is_ok_and(|v| v.trim().is_empty()) {
            if let Ok(v) = read(&parent.join(f)) {
                let _ = write_file(&dir.join(f), v.trim());
            }
        }
    }
}

/// On v2, a level we create between the caller's cgroup and the job must pass the
/// controllers down (the job itself keeps its processes, so it enables none).
fn enable_controllers(dir: &Path, controllers: &[String], intermediate: bool) {
    if !intermediate || controllers.is_empty() {
        return;
    }
    // One at a time: a single line fails as a whole when one controller is not offered.
    for c in controllers {
        let _ = write_file(&dir.join("cgroup.subtree_control"), &format!("+{c}"));
    }
}

pub(crate) fn remove_dir(d: &JobDir, keep_parent: bool) -> Result<(), JobError> {
    let mut cur = d.path.clone();
    let stop = match d.path.parent() {
        Some(p) if keep_parent => p.to_path_buf(),
        _ => d.stop.clone(),
    };
    let mut first = true;
    while cur.starts_with(&stop) && cur != stop {
        match fs::remove_dir(&cur) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if first && e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
                return Err(JobError::Busy { path: cur });
            }
            // A parent still used by another container (or not ours): stop climbing.
            Err(_) if !first => break,
            Err(source) => return Err(JobError::Io { what: "remove", path: cur, source }),
        }
        first = false;
        if !cur.pop() {
            break;
        }
    }
    Ok(())
}

