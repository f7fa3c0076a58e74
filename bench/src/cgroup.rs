//! The cgroup hierarchies and the floor's own cgroup sets, always beneath our own cgroup.

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ctx::Ctx;
use crate::process::cstr;
use crate::Res;

#[derive(Clone)]
pub struct Hier {
    /// "memory", "cpu,cpuacct", "" (v2), "name=systemd"
    pub ctrls: String,
    pub mount: PathBuf,
    /// own cgroup, with leading '/'
    pub own: String,
}

impl Hier {
    /// Whether this hierarchy has the controller (never true of v2's "").
    pub fn has(&self, ctrl: &str) -> bool {
        self.ctrls.split(',').any(|c| c == ctrl)
    }
}

/// The hierarchies of /proc/self/cgroup that are mounted, as (all, the job's set). The job's
/// set is what hostproc uses: the v2 hierarchy and the v1 ones with a controller it manages.
pub fn hierarchies() -> Res<(Vec<Hier>, Vec<Hier>)> {
    let text =
        fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    let pure_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    // The job's set is hostproc's own choice (hostproc_job::Layout), whatever it is.
    let layout = hostproc_job::Layout::from_proc_cgroup(&Default::default(), &text).map_err(|e| e.to_string())?;
    let (mut all, mut job) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(own)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let base = Path::new("/sys/fs/cgroup");
        let mount = if ctrls.is_empty() {
            if pure_v2 {
                base.to_path_buf()
            } else {
                base.join("unified")
            }
        } else {
            let name = ctrls.strip_prefix("name=").unwrap_or(ctrls);
            let first = name.split(',').next().unwrap_or(name);
            match [base.join(name), base.join(first)]
                .into_iter()
                .find(|m| m.join("cgroup.procs").exists())
            {
                Some(m) => m,
                None => continue,
            }
        };
        if !mount.join("cgroup.procs").exists() {
            continue;
        }
        let h = Hier {
            ctrls: ctrls.to_string(),
            mount,
            own: own.to_string(),
        };
        if layout.hierarchies.iter().any(|l| l.mount == h.mount) {
            job.push(h.clone());
        }
        all.push(h);
    }
    Ok((all, job))
}

pub fn own_dir(h: &Hier) -> PathBuf {
    h.mount.join(h.own.trim_start_matches('/'))
}

/// A set of cgroups, one per hierarchy of the job's set, beneath our own cgroup.
pub struct CgSet {
    pub dirs: Vec<PathBuf>,
}

impl CgSet {
    pub fn create(job: &[Hier], name: &str) -> Res<CgSet> {
        let mut dirs = Vec::new();
        for h in job {
            let d = own_dir(h).join(name);
            if let Err(e) = fs::create_dir(&d) {
                let s = CgSet { dirs };
                s.remove();
                return Err(format!("mkdir {}: {e}", d.display()));
            }
            dirs.push(d.clone());
            // A new v1 cpuset cgroup has no cpus or mems: copy the parent's into it (we
            // write only the new cgroup's files), as hostproc and runc do.
            if h.has("cpuset") {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let v = fs::read_to_string(own_dir(h).join(f)).unwrap_or_default();
                    if let Err(e) = fs::write(d.join(f), v.trim()) {
                        let s = CgSet { dirs };
                        s.remove();
                        return Err(format!("{}: {e}", d.join(f).display()));
                    }
                }
            }
        }
        Ok(CgSet { dirs })
    }
    pub fn procs(&self) -> Vec<CString> {
        self.dirs
            .iter()
            .map(|d| cstr(d.join("cgroup.procs")))
            .collect()
    }
    pub fn remove(&self) -> bool {
        let mut ok = true;
        for d in self.dirs.iter().rev() {
            let mut tries = 0;
            loop {
                match fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) if tries < 2000 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    Err(_) => {
                        ok = false;
                        break;
                    }
                }
            }
        }
        ok
    }
    pub fn empty(&self) -> bool {
        self.dirs.iter().all(|d| {
            fs::read_to_string(d.join("cgroup.procs"))
                .map(|s| s.trim().is_empty())
                .unwrap_or(true)
        })
    }
}

impl Ctx {
    /// A floor cgroup set kept by the run (removed at the end if a scenario fails).
    pub fn new_floor_set(&mut self) -> Res<usize> {
        let name = format!("hostproc-bench-{}-floor-{}", self.pid, self.seq);
        self.seq += 1;
        let s = CgSet::create(&self.job, &name)?;
        self.floor_sets.push(s);
        Ok(self.floor_sets.len() - 1)
    }
    pub fn drop_floor_set(&mut self, i: usize) -> bool {
        let ok = self.floor_sets[i].remove();
        if ok {
            self.floor_sets[i].dirs.clear();
        }
        ok
    }
}
