//! One job: the container's cgroup in every hierarchy.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::dirs::{make_dir, remove_dir};
use crate::{JobError, Layout, Resources, Write};

/// The job's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDir {
    pub path: PathBuf,
    /// Removal climbs from `path` up to, not including, this directory (and stops below
    /// the kept parent with `keep_parent`).
    pub stop: PathBuf,
    #[serde(default)]
    pub controllers: Vec<String>,
    #[serde(default)]
    pub unified: bool,
    /// The directory above `path` is hostproc's own parent cgroup (default placement,
    /// `<caller's cgroup>/hostproc`): kept when the job is removed, like a systemd slice,
    /// since making and removing it with every container doubled the cgroup work of a
    /// start (a mkdir and an rmdir more per hierarchy; docs/benchmarks.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_parent: bool,
}

/// A container's job. Serializable, so a later command (or `delete --force` after a
/// crash) can find and remove it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub dirs: Vec<JobDir>,
}

/// A snapshot of the job's usage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub pids: Vec<i32>,
    pub memory_usage: Option<u64>,
    pub memory_max_usage: Option<u64>,
    pub memory_limit: Option<u64>,
    pub cpu_usage_ns: Option<u64>,
    pub pids_current: Option<u64>,
    pub pids_limit: Option<u64>,
    pub oom_kills: Option<u64>,
    pub memory_failcnt: Option<u64>,
    pub swap_usage: Option<u64>,
    pub swap_limit: Option<u64>,
    pub cpu_user_ns: Option<u64>,
    pub cpu_kernel_ns: Option<u64>,
    pub cpu_percpu_ns: Vec<u64>,
    pub cpu_periods: Option<u64>,
    pub cpu_throttled_periods: Option<u64>,
    pub cpu_throttled_ns: Option<u64>,
    /// memory.stat, as the kernel names its fields.
    pub memory_raw: std::collections::BTreeMap<String, u64>,
    /// (major, minor, op, value) of bytes and of operations.
    pub io_bytes: Vec<(u64, u64, String, u64)>,
    pub io_ops: Vec<(u64, u64, String, u64)>,
}

/// Reads a small kernel file (cgroupfs, procfs). Unlike `fs::read_to_string` it does not
/// ask the size first (a `statx` and an `lseek` that such files answer with 0 or 4096).
pub(crate) fn read(path: &Path) -> io::Result<String> {
    hostproc_sys::read_kernel_file(path)
}

/// Writes a cgroup file the way cgroupfs wants it: one write(2), no create, no truncate
/// semantics needed.
pub(crate) fn write_file(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

fn reason(e: &io::Error, file: &str) -> String {
    match e.raw_os_error() {
        Some(x) if x == rustix::io::Errno::NOENT.raw_os_error() => {
            let why = match file {
                "memory.memsw.limit_in_bytes" => "swap accounting is off (boot with swapaccount=1) or omit memory.swap",
                "cpu.rt_runtime_us" | "cpu.rt_period_us" => "the kernel has no realtime group scheduling (CONFIG_RT_GROUP_SCHED); drop the field",
                "cpu.cfs_burst_us" | "cpu.max.burst" => "the kernel has no CFS burst (Linux 5.14 or later); drop the field",
                "cpu.idle" => "the kernel has no cpu.idle (Linux 5.15 or later); drop the field",
                "blkio.leaf_weight" | "blkio.leaf_weight_device" => "leaf weights were CFQ's, which Linux 5.0 removed (BFQ has none); drop the field",
                f if f.starts_with("hugetlb.") => "the kernel has no huge pages of that size (see /sys/kernel/mm/hugepages); fix pageSize",
                _ => "the controller or feature is not available on this host",
            };
            format!("the kernel has no such file: {why}")
        }
        Some(x) if x == rustix::io::Errno::INVAL.raw_os_error() && file == "memory.use_hierarchy" => {
            format!("the kernel rejected the value ({e}): memory accounting is always hierarchical since Linux 5.16; give true or drop the field")
        }
        Some(x) if x == rustix::io::Errno::INVAL.raw_os_error() => {
            format!("the kernel rejected the value ({e}); check it against the host (CPUs, memory nodes, devices, current usage)")
        }
        Some(x) if x == rustix::io::Errno::BUSY.raw_os_error() => {
            format!("{e}: the job's current usage or a child cgroup conflicts with the new value")
        }
        Some(x) if x == rustix::io::Errno::ACCESS.raw_os_error() || x == rustix::io::Errno::PERM.raw_os_error() => {
            format!("{e}: this host does not let the runtime change it (a read-only or delegated cgroupfs?)")
        }
        _ => e.to_string(),
    }
}

/// Which of a job's hierarchies [`Job::make`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    All,
    /// The v2 hierarchy: it must exist before the job's first process is forked into it.
    Unified,
    /// The v1 hierarchies: a process joins them itself, so they can be made while it sets
    /// up (on a hybrid host, most of the cgroup work then overlaps init's own).
    V1,
}

impl Part {
    fn has(self, d: &JobDir) -> bool {
        match self {
            Part::All => true,
            Part::Unified => d.unified,
            Part::V1 => !d.unified,
        }
    }
}

impl Job {
    /// Creates the job's cgroup in every hierarchy and applies `res`. On any failure
    /// every directory made so far is removed again.
    pub fn create(layout: &Layout, cgroups_path: Option<&Path>, id: &str, res: &Resources) -> Result<Job, JobError> {
        let job = Job::planned(layout, cgroups_path, id, res)?;
        job.make(res, Part::All)?;
        Ok(job)
    }

    /// Creates the directories of `part` and writes the limits that live in them. On any
    /// failure the directories this call made are removed again, with any parent left
    /// empty (hostproc's kept one included: the undo of a failed create).
    /// Without a v2 hierarchy, `Part::Unified` makes everything (nothing else would).
    pub fn make(&self, res: &Resources, part: Part) -> Result<(), JobError> {
        self.make_each(res, part, || {})
    }

    /// As [`Job::make`], calling `ready` as each directory is made and has its limits, in
    /// the order of the job's directories (that of [`Entry`]'s `tasks`): a process that
    /// joins the v1 hierarchies itself can join each as it comes, while the next is made.
    pub fn make_each(&self, res: &Resources, part: Part, mut ready: impl FnMut()) -> Result<(), JobError> {
        let part = if part == Part::Unified && !self.dirs.iter().any(|d| d.unified) { Part::All } else { part };
        // The limits are checked, and one whose hierarchy the job lacks is refused, with
        // the first part, before anything is made.
        let writes = self.writes(res);
        if part != Part::V1 {
            self.check(res, &writes, false)?;
        }
        let mut made = Job { dirs: Vec::new() };
        for d in self.dirs.iter().filter(|d| part.has(d)) {
            let step = make_dir(d).and_then(|()| {
                made.dirs.push(d.clone());
                self.apply_writes(writes.iter().filter(|w| self.dir_for_write(w).is_some_and(|w| w.path == d.path)))
            });
            if let Err(e) = step {
                let _ = made.remove();
                return Err(e);
            }
            ready();
        }
        Ok(())
    }

    /// Where the job's directories would be, without creating them (recorded in the
    /// state before creation, so a crash half-way can be undone). The optional v1
    /// hierarchies `res` needs (hugetlb, net_cls, net_prio, rdma) are included.
    /// With an absolute `cgroups_path`, the parents that do not exist yet are hostproc's to
    /// make (as runc makes them) and to remove again when empty: removal stops at the
    /// deepest one that exists now (a `stat` per hierarchy and missing level).
    pub fn planned(layout: &Layout, cgroups_path: Option<&Path>, id: &str, res: &Resources) -> Result<Job, JobError> {
        let extra = res.optional_controllers();
        let extended;
        let layout = if extra.is_empty() {
            layout
        } else {
            extended = layout.with_optional(&extra);
            &extended
        };
        let placed = layout.place(cgroups_path, id)?;
        let keep_parent = cgroups_path.is_none();
        let absolute = cgroups_path.is_some_and(Path::is_absolute);
        let dirs = placed
            .into_iter()
            .zip(&layout.hierarchies)
            .map(|((path, mut stop), h)| {
                if absolute {
                    while stop != h.mount && stop.starts_with(&h.mount) && !stop.exists() {
                        stop.pop();
                    }
                }
                let (controllers, unified) = match &h.kind {
                    crate::HierarchyKind::V1 { controllers } => (controllers.clone(), false),
                    crate::HierarchyKind::Unified { controllers } => (controllers.clone(), true),
                };
                JobDir { path, stop, controllers, unified, keep_parent }
            })
            .collect();
        Ok(Job { dirs })
    }

    fn is_v2_only(&self) -> bool {
        self.dirs.iter().all(|d| d.unified)
    }

    /// Writes the limits (also used by `update`): refused, warned about and checked by the
    /// rules of create, and checkBeforeUpdate's usage check.
    pub fn apply(&self, res: &Resources) -> Result<(), JobError> {
        let writes = self.writes(res);
        self.check(res, &writes, true)?;
        if let (Some(true), Some(limit)) = (res.memory_check_before_update, res.memory_limit.filter(|l| *l > 0)) {
            if let Some(d) = self.dir_for("memory") {
                let file = if d.unified { "memory.current" } else { "memory.usage_in_bytes" };
                let usage = read(&d.path.join(file)).ok().and_then(|t| t.trim().parse::<u64>().ok()).unwrap_or(0);
                if usage > limit as u64 {
                    return Err(JobError::BelowUsage { limit: crate::resources::CHECK, value: limit, usage });
                }
            }
        }
        self.apply_writes(writes.iter())
    }

    /// What is refused before anything is made or written: values out of range, limits
    /// this kind of hierarchy cannot have, limits whose controller the job lacks. Then
    /// the warnings for what is accepted and not applied.
    fn check(&self, res: &Resources, writes: &[Write], update: bool) -> Result<(), JobError> {
        res.validate()?;
        let v2 = self.is_v2_only();
        if v2 {
            if let Some(e) = res.v2_refusal() {
                return Err(e);
            }
        }
        if let Some(wr) = writes.iter().find(|w| self.dir_for_write(w).is_none()) {
            let (limit, controller) = (wr.limit, wr.controller);
            return Err(if wr.unified && !v2 && self.dir_for(controller).is_some() {
                let why = format!("{} is a cgroup v2 file, and this host keeps the {controller} controller in a cgroup v1 hierarchy; use the v1 fields of linux.resources instead", wr.file);
                JobError::Unsupported { limit, why }
            } else if update && crate::resources::OPTIONAL_CONTROLLERS.contains(&controller) {
                JobError::NotJoined { limit, controller }
            } else {
                JobError::NoController { limit, controller }
            });
        }
        if v2 {
            for w in res.v2_unapplied() {
                tracing::warn!("linux.resources: {w}");
            }
        }
        Ok(())
    }

    /// Every file write `res` asks of this job, in order.
    fn writes(&self, res: &Resources) -> Vec<Write> {
        if self.is_v2_only() {
            res.v2_writes()
        } else {
            res.v1_writes()
        }
    }

    fn apply_writes<'a>(&self, writes: impl Iterator<Item = &'a Write>) -> Result<(), JobError> {
        let writes: Vec<&Write> = writes.collect();
        let mut i = 0;
        while i < writes.len() {
            let wr = &writes[i];
            match self.write_one(wr) {
                Ok(()) => i += 1,
                // Lowering memory below the current memory+swap limit (or raising it above)
                // needs the two v1 files in the other order.
                Err((e, _)) if wr.file == "memory.limit_in_bytes"
                    && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
                    && writes.get(i + 1).is_some_and(|n| n.file == "memory.memsw.limit_in_bytes") =>
                {
                    self.write_one(writes[i + 1]).map_err(|(e, p)| limit_error(writes[i + 1], p, &e))?;
                    self.write_one(wr).map_err(|(e, p)| limit_error(wr, p, &e))?;
                    i += 2;
                }
                Err((e, p)) => return Err(limit_error(wr, p, &e)),
            }
        }
        Ok(())
    }

    /// The directory a write goes to: a unified file only to the v2 one (when it offers the
    /// controller), the others to their controller's.
    fn dir_for_write(&self, wr: &Write) -> Option<&JobDir> {
        if !wr.unified {
            return self.dir_for(wr.controller);
        }
        self.dirs.iter().find(|d| d.unified && (wr.controller.is_empty() || d.controllers.iter().any(|c| c == wr.controller)))
    }

    fn dir_for(&self, controller: &str) -> Option<&JobDir> {
        if controller.is_empty() {
            return self.dirs.iter().find(|d| d.unified);
        }
        self.dirs.iter().find(|d| d.controllers.iter().any(|c| c == controller))
    }

    fn write_one(&self, wr: &Write) -> Result<(), (io::Error, PathBuf)> {
        let Some(dir) = self.dir_for_write(wr) else {
            let e = io::Error::new(io::ErrorKind::NotFound, format!("no {} controller", wr.controller));
            return Err((e, PathBuf::from(&wr.file)));
        };
        // A controller a hybrid host offers in cgroup v2 only (hugetlb here): its v2 file.
        let v2 = (dir.unified && !wr.unified && !self.is_v2_only()).then(|| wr.as_v2());
        let wr = v2.as_ref().unwrap_or(wr);
        let mut path = dir.path.join(&wr.file);
        let mut res = write_file(&path, &wr.value);
        for alt in &wr.alternatives {
            if matches!(&res, Err(e) if e.kind() == io::ErrorKind::NotFound) {
                path = dir.path.join(alt);
                res = write_file(&path, &wr.value);
            }
        }
        res.map_err(|e| (e, path))
    }

    /// Opens what a new process needs to enter the job by itself (see [`Entry`]).
    pub fn entry(&self) -> Result<Entry, JobError> {
        let join = |path: PathBuf| move |source| JobError::Enter { path, source };
        let mut e = Entry { unified: None, tasks: Vec::new() };
        for d in &self.dirs {
            if d.unified {
                let dir = fs::File::open(&d.path).map_err(join(d.path.clone()))?;
                e.unified = Some((dir.into(), d.path.join("cgroup.procs")));
            } else {
                e.tasks.push(d.path.join("tasks"));
            }
        }
        Ok(e)
    }

    fn procs_dir(&self) -> Option<&JobDir> {
        self.dirs.iter().find(|d| d.unified).or_else(|| self.dirs.iter().find(|d| d.controllers.iter().any(|c| c == "freezer"))).or(self.dirs.first())
    }

    /// The pids of every process in the job (none once the cgroup is gone).
    pub fn pids(&self) -> Result<Vec<i32>, JobError> {
        let mut out = Vec::new();
        if let Some(d) = self.procs_dir() {
            let p = d.path.join("cgroup.procs");
            match read(&p) {
                Ok(t) => out.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(JobError::Io { what: "list the processes of", path: p, source }),
            }
        }
        Ok(out)
    }

    /// Sends `sig` to every process in the job. On v1 the job is frozen while the list
    /// is read and signalled, so a fork cannot slip past.
    pub fn signal_all(&self, sig: i32) -> Result<(), JobError> {
        let frozen = sig == hostproc_sys::SIGKILL && self.freeze(true).unwrap_or(false);
        let r = self.pids().map(|pids| {
            for p in pids {
                let _ = hostproc_sys::kill(p, sig);
            }
        });
        if frozen {
            let _ = self.freeze(false);
        }
        r
    }

    /// Freezes (or thaws) the job. Returns false when the host has no freezer for it.
    pub fn freeze(&self, on: bool) -> Result<bool, JobError> {
        if let Some(d) = self.dirs.iter().find(|d| d.unified && d.path.join("cgroup.freeze").exists()) {
            let p = d.path.join("cgroup.freeze");
            write_file(&p, if on { "1" } else { "0" }).map_err(|source| JobError::Io { what: "freeze", path: p.clone(), source })?;
            if on {
                wait_for(&d.path.join("cgroup.events"), "frozen 1");
            }
            return Ok(true);
        }
        if let Some(d) = self.dirs.iter().find(|d| d.controllers.iter().any(|c| c == "freezer")) {
            let p = d.path.join("freezer.state");
            write_file(&p, if on { "FROZEN" } else { "THAWED" }).map_err(|source| JobError::Io { what: "freeze", path: p.clone(), source })?;
            if on {
                wait_for(&p, "FROZEN");
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// Kills every process in the job at once: cgroup.kill where a v2 hierarchy has it
    /// (also the unified one of a hybrid host), else freeze, SIGKILL each, thaw.
    pub fn kill_all(&self) -> Result<(), JobError> {
        if let Some(d) = self.dirs.iter().find(|d| d.unified) {
            let p = d.path.join("cgroup.kill");
            match write_file(&p, "1") {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if !d.path.exists() {
                        return Ok(());
                    }
                }
                Err(source) => return Err(JobError::Io { what: "kill", path: p, source }),
            }
        }
        self.signal_all(hostproc_sys::SIGKILL)
    }

    /// Waits until no process is left in the job, up to `timeout`.
    pub fn wait_empty(&self, timeout: Duration) -> Result<bool, JobError> {
        let deadline = Instant::now() + timeout;
        let mut nap = Duration::from_micros(200);
        loop {
            if self.pids()?.is_empty() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            std::thread::sleep(nap.min(deadline - now));
            nap = (nap * 2).min(Duration::from_millis(20));
        }
    }

    /// Kill-all, wait until empty, and remove every directory of the job. Safe to call
    /// again and on a job whose directories are already gone.
    pub fn destroy(&self) -> Result<(), JobError> {
        if !self.pids()?.is_empty() {
            for _ in 0..50 {
                self.kill_all()?;
                if self.wait_empty(Duration::from_millis(100))? {
                    break;
                }
            }
        }
        self.remove_dirs(true)
    }

    /// Removes the job's directories and every empty parent we placed them in, hostproc's
    /// own parent included (the undo of a failed create).
    fn remove(&self) -> Result<(), JobError> {
        self.remove_dirs(false)
    }

    fn remove_dirs(&self, keep: bool) -> Result<(), JobError> {
        let mut first_err = None;
        for d in &self.dirs {
            if let Err(e) = remove_dir(d, keep && d.keep_parent) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Whether the kernel's OOM killer ended a process of the job.
    pub fn oom_killed(&self) -> bool {
        self.oom_kills().unwrap_or(0) > 0
    }

    /// How many processes of the job the kernel's OOM killer ended (None: not known here).
    pub fn oom_kills(&self) -> Option<u64> {
        let d = self.dir_for("memory")?;
        let file = if d.unified { "memory.events" } else { "memory.oom_control" };
        read(&d.path.join(file)).ok()?.lines().find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
    }

    /// Usage figures for `events --stats` and the like.
    pub fn stats(&self) -> Result<Stats, JobError> {
        let mut s = Stats { pids: self.pids()?, ..Default::default() };
        let num = |p: PathBuf| read(&p).ok().and_then(|t| t.trim().parse::<u64>().ok());
        // A "key value" file, read once however many of its keys are wanted.
        let raw = |p: PathBuf| -> std::collections::BTreeMap<String, u64> {
            read(&p)
                .map(|t| t.lines().filter_map(|l| l.split_once(' ').and_then(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))).collect())
                .unwrap_or_default()
        };
        if let Some(d) = self.dir_for("memory") {
            if d.unified {
                s.memory_usage = num(d.path.join("memory.current"));
                s.memory_max_usage = num(d.path.join("memory.peak"));
                s.memory_limit = num(d.path.join("memory.max")).or(Some(u64::MAX));
                let events = raw(d.path.join("memory.events"));
                s.memory_failcnt = events.get("max").copied();
                s.oom_kills = events.get("oom_kill").copied();
                s.swap_usage = num(d.path.join("memory.swap.current"));
                s.swap_limit = num(d.path.join("memory.swap.max")).or(Some(u64::MAX));
            } else {
                s.memory_usage = num(d.path.join("memory.usage_in_bytes"));
                s.memory_max_usage = num(d.path.join("memory.max_usage_in_bytes"));
                s.memory_limit = num(d.path.join("memory.limit_in_bytes"));
                s.memory_failcnt = num(d.path.join("memory.failcnt"));
                s.swap_usage = num(d.path.join("memory.memsw.usage_in_bytes"));
                s.swap_limit = num(d.path.join("memory.memsw.limit_in_bytes"));
                s.oom_kills = self.oom_kills();
            }
            s.memory_raw = raw(d.path.join("memory.stat"));
        }
        if let Some(d) = self.dir_for("cpuacct") {
            s.cpu_usage_ns = num(d.path.join("cpuacct.usage"));
            s.cpu_user_ns = num(d.path.join("cpuacct.usage_user"));
            s.cpu_kernel_ns = num(d.path.join("cpuacct.usage_sys"));
            s.cpu_percpu_ns = read(&d.path.join("cpuacct.usage_percpu")).map(|t| t.split_whitespace().filter_map(|x| x.parse().ok()).collect()).unwrap_or_default();
        }
        // cpu.stat, read once: the throttling where there is a cpu controller, and the usage
        // where there is no cpuacct (v2, whose every cgroup has cpu.stat).
        let has_cpuacct = self.dir_for("cpuacct").is_some();
        let cpu = match self.dir_for("cpu") {
            Some(d) => Some(raw(d.path.join("cpu.stat"))),
            None if !has_cpuacct => self.dirs.iter().find(|d| d.unified).map(|d| raw(d.path.join("cpu.stat"))),
            None => None,
        };
        if let (false, Some(cpu)) = (has_cpuacct, &cpu) {
            s.cpu_usage_ns = cpu.get("usage_usec").map(|u| u * 1000);
            s.cpu_user_ns = cpu.get("user_usec").map(|u| u * 1000);
            s.cpu_kernel_ns = cpu.get("system_usec").map(|u| u * 1000);
        }
        if let (Some(_), Some(cpu)) = (self.dir_for("cpu"), &cpu) {
            s.cpu_periods = cpu.get("nr_periods").copied();
            s.cpu_throttled_periods = cpu.get("nr_throttled").copied();
            s.cpu_throttled_ns = cpu.get("throttled_time").copied().or_else(|| cpu.get("throttled_usec").map(|u| u * 1000));
        }
        if let Some(d) = self.dir_for("pids") {
            s.pids_current = num(d.path.join("pids.current"));
            s.pids_limit = num(d.path.join("pids.max"));
        }
        if let Some(d) = self.dir_for("blkio") {
            let parse = |p: PathBuf| -> Vec<(u64, u64, String, u64)> {
                read(&p)
                    .map(|t| {
                        t.lines()
                            .filter_map(|l| {
                                let f: Vec<&str> = l.split_whitespace().collect();
                                let (maj, min) = f.first()?.split_once(':')?;
                                Some((maj.parse().ok()?, min.parse().ok()?, f.get(1)?.to_string(), f.get(2)?.parse().ok()?))
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            s.io_bytes = parse(d.path.join("blkio.throttle.io_service_bytes"));
            s.io_ops = parse(d.path.join("blkio.throttle.io_serviced"));
        } else if let Some(d) = self.dir_for("io") {
            for l in read(&d.path.join("io.stat")).unwrap_or_default().lines() {
                let mut it = l.split_whitespace();
                let Some((maj, min)) = it.next().and_then(|x| x.split_once(':')) else { continue };
                let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else { continue };
                for kv in it {
                    let Some((k, v)) = kv.split_once('=') else { continue };
                    let Ok(v) = v.parse::<u64>() else { continue };
                    match k {
                        "rbytes" => s.io_bytes.push((maj, min, "Read".into(), v)),
                        "wbytes" => s.io_bytes.push((maj, min, "Write".into(), v)),
                        "rios" => s.io_ops.push((maj, min, "Read".into(), v)),
                        "wios" => s.io_ops.push((maj, min, "Write".into(), v)),
                        _ => {}
                    }
                }
            }
        }
        Ok(s)
    }
}

fn wait_for(path: &Path, want: &str) {
    for _ in 0..1000 {
        if read(path).map(|t| t.contains(want)).unwrap_or(true) {
            return;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn limit_error(wr: &Write, path: PathBuf, e: &io::Error) -> JobError {
    if e.kind() == io::ErrorKind::NotFound && !path.is_absolute() {
        return JobError::NoController { limit: wr.limit, controller: wr.controller };
    }
    // In cgroup v2 a controller the hierarchy offers reaches the job only where each
    // parent enables it (cgroup.subtree_control); hostproc enables it only in the levels
    // it makes, and never in the caller's own cgroup.
    if e.kind() == io::ErrorKind::NotFound && !wr.controller.is_empty() {
        if let Some(dir) = path.parent() {
            if let Ok(enabled) = read(&dir.join("cgroup.controllers")) {
                if !enabled.split_whitespace().any(|c| c == wr.controller) {
                    let parent = dir.parent().unwrap_or(dir).to_path_buf();
                    return JobError::NotEnabled { limit: wr.limit, controller: wr.controller, parent };
                }
            }
        }
    }
    JobError::Limit { limit: wr.limit, value: wr.value.clone(), reason: reason(e, &wr.file), path }
}

/// The way into a job for a process being started, without the parent writing its pid to
/// `cgroup.procs`: that write takes the kernel's global cgroup lock for writing, and the
/// first one after a quiet spell waits for an RCU grace period (8-20 ms here, most of a
/// container start). Instead the child is forked straight into the v2 directory
/// (`clone3(CLONE_INTO_CGROUP)`, see `hostproc_sys::fork_into_cgroup`), and in each v1
/// hierarchy it writes `0` ("myself") to `tasks`, which moves the calling thread under
/// `cgroup_mutex` alone. The child is single-threaded, so its thread is the process.
pub struct Entry {
    /// The v2 directory (for `CLONE_INTO_CGROUP`) and its `cgroup.procs` (the fallback).
    pub unified: Option<(std::os::fd::OwnedFd, PathBuf)>,
    /// Each v1 hierarchy's `tasks` file (made, with the job's v1 directories, possibly
    /// only after the fork; see [`Part::V1`]).
    tasks: Vec<PathBuf>,
}

impl Entry {
    /// True when there are v1 hierarchies to join.
    pub fn has_v1(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// Run by the new process itself: joins every v1 hierarchy, calling `before` ahead of
    /// each (to wait until the parent has made it; see [`Job::make_each`]).
    pub fn join_v1(&self, mut before: impl FnMut()) -> Result<(), JobError> {
        for p in &self.tasks {
            before();
            write_file(p, "0").map_err(|source| JobError::Join { pid: hostproc_sys::getpid(), path: p.clone(), source })?;
        }
        Ok(())
    }

    /// The fallback when `CLONE_INTO_CGROUP` is unavailable: the parent writes `pid` to
    /// the v2 `cgroup.procs`.
    pub fn add_unified(&self, pid: i32) -> Result<(), JobError> {
        if let Some((_, p)) = &self.unified {
            write_file(p, &pid.to_string()).map_err(|source| JobError::Join { pid, path: p.clone(), source })?;
        }
        Ok(())
    }
}
