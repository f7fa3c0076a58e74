//! hostproc-bench: hostproc against runc, crun and the floor (fork+exec+wait, with and
//! without a cgroup), in one run with interleaved repetitions. See docs/benchmarks.md.
//!
//! Run as root: `cargo run --release -p hostproc-bench` (after `cargo build --release -p hostproc`).
//!
//! Rules it keeps: every cgroup it (or a runtime it drives) makes is beneath the caller's own
//! cgroup in each hierarchy; it never writes the files of its own cgroup and never moves a
//! process out of it; it kills only processes it started (through the runtimes' own
//! `delete --force`, or pids it forked); it removes every container, cgroup, mount point
//! and temporary directory it made.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hostproc_sys::{
    close_fd, exit_immediately, pidfd_open, pipe, set_child_subreaper, set_signal_mask,
    try_wait, unshare_mount_namespace, Fork, SigSet,
};
use serde_json::{json, Value};

static STOP: AtomicBool = AtomicBool::new(false);
extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

type Res<T> = Result<T, String>;

fn cstr(s: impl AsRef<OsStr>) -> CString {
    CString::new(s.as_ref().as_bytes()).expect("no NUL")
}
fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}
fn check_stop() -> Res<()> {
    if STOP.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------- options

struct Opts {
    reps: usize,
    kill_reps: usize,
    kill_procs: usize,
    list_n: usize,
    list_others_n: usize,
    mem_n: usize,
    hostproc: PathBuf,
    runc: Option<PathBuf>,
    crun: Option<PathBuf>,
    scenarios: Vec<u32>,
    json: Option<PathBuf>,
    /// State roots on the temporary directory's file system instead of a tmpfs.
    state_on_disk: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: hostproc-bench [--reps N (30)] [--kill-reps N (5)] [--kill-procs N (1000)] [--list N (500)]\n\
         \x20      [--list-others N (100)] [--mem N (200)] [--hostproc PATH] [--runc PATH|none] [--crun PATH|none]\n\
         \x20      [--scenarios 1,2,3,4,5,6] [--json FILE] [--state-on-disk]\n\
         Scenario 7 (peak memory) comes from scenario 1's runs."
    );
    std::process::exit(2)
}

fn which(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|d| Path::new(d).join(name))
        .chain(extra.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

fn parse_opts() -> Opts {
    // Built next to this program (target/<triple>/release/).
    let default_hp = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("hostproc")))
        .unwrap_or_else(|| PathBuf::from("hostproc"));
    let mut o = Opts {
        reps: 30,
        kill_reps: 5,
        kill_procs: 1000,
        list_n: 500,
        list_others_n: 100,
        mem_n: 200,
        hostproc: default_hp,
        runc: which("runc", &["/usr/sbin/runc"]),
        crun: which("crun", &["/usr/bin/crun"]),
        scenarios: vec![1, 2, 3, 4, 5, 6],
        json: None,
        state_on_disk: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--state-on-disk" {
            o.state_on_disk = true;
            i += 1;
            continue;
        }
        let v = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        let num = || v.parse::<usize>().unwrap_or_else(|_| usage());
        match a {
            "--reps" => o.reps = num().max(1),
            "--kill-reps" => o.kill_reps = num().max(1),
            "--kill-procs" => o.kill_procs = num(),
            "--list" => o.list_n = num().max(1),
            "--list-others" => o.list_others_n = num(),
            "--mem" => o.mem_n = num().max(1),
            "--hostproc" => o.hostproc = PathBuf::from(&v),
            "--runc" => o.runc = (v != "none").then(|| PathBuf::from(&v)),
            "--crun" => o.crun = (v != "none").then(|| PathBuf::from(&v)),
            "--scenarios" => {
                o.scenarios = v
                    .split(',')
                    .map(|s| s.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--json" => o.json = Some(PathBuf::from(&v)),
            _ => usage(),
        }
        i += 2;
    }
    o
}

// ---------------------------------------------------------------- processes

enum Pre {
    None,
    /// Write "0" to each of these cgroup.procs files before exec (join the cgroups).
    Join(Vec<CString>),
    /// crun's wrapper on hybrid hosts: a private mount namespace with the v2 mount hidden.
    CrunWrap,
}

struct Io {
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
}

fn spawn(argv: &[String], io: &Io, pre: &Pre) -> Res<i32> {
    let cargs: Vec<CString> = argv.iter().map(cstr).collect();
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let root = c"/";
    let unified = c"/sys/fs/cgroup/unified";
    let tmpfs = c"tmpfs";
    let none = c"none";
    let no_signals = SigSet::empty();
    // SAFETY: the bench is single-threaded; the child only makes async-signal-safe calls
    // (hostproc_sys's are plain system calls) on data prepared before fork, then execs or
    // _exits.
    if let Fork::Parent(pid) = unsafe { hostproc_sys::fork() }.map_err(|e| format!("fork: {e}"))? {
        return Ok(pid);
    }
    let _ = hostproc_sys::dup2(io.stdin, 0);
    let _ = hostproc_sys::dup2(io.stdout, 1);
    let _ = hostproc_sys::dup2(io.stderr, 2);
    let _ = set_signal_mask(&no_signals);
    match pre {
        Pre::None => {}
        Pre::Join(paths) => {
            for p in paths {
                // SAFETY: a NUL-terminated path and a one-byte buffer.
                let fd = unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
                if fd < 0 || unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
                    exit_immediately(126);
                }
                close_fd(fd);
            }
        }
        Pre::CrunWrap => {
            // SAFETY: NUL-terminated strings; null for the unused arguments.
            if unshare_mount_namespace().is_err()
                || unsafe {
                    libc::mount(
                        std::ptr::null(),
                        root.as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    )
                } != 0
                || unsafe {
                    libc::mount(
                        none.as_ptr(),
                        unified.as_ptr(),
                        tmpfs.as_ptr(),
                        0,
                        std::ptr::null(),
                    )
                } != 0
            {
                exit_immediately(125);
            }
        }
    }
    // SAFETY: a NUL-terminated argv of C strings that outlive the call; returns only on failure.
    unsafe { libc::execv(ptrs[0], ptrs.as_ptr()) };
    exit_immediately(127)
}

/// Waits for a child; returns (wait status, ru_maxrss in KiB).
fn wait_child(pid: i32) -> Res<(i32, i64)> {
    // Give up (and kill what we started) after 120 s: a hung command must not stall the run.
    if let Ok(pfd) = pidfd_open(pid) {
        let done = poll_in(&pfd, 120_000);
        drop(pfd);
        if !done {
            let _ = hostproc_sys::kill(pid, libc::SIGKILL);
            let _ = hostproc_sys::wait(pid);
            return Err(format!("pid {pid} did not finish in 120 s: killed"));
        }
    }
    let mut st = 0;
    // SAFETY: plain syscalls with valid out-pointers.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut st, 0, &mut ru) };
        if r == pid {
            return Ok((st, ru.ru_maxrss));
        }
        let e = errno();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(format!("wait4 {pid}: {e}"));
        }
    }
}

fn ok_status(st: i32) -> bool {
    libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0
}

/// Reaps exited children that were re-parented to us (we are a child subreaper). Only
/// called when no child we spawned ourselves is waiting to be waited for.
fn reap_orphans() {
    while let Ok(Some(_)) = try_wait(-1) {}
}

fn poll_in(fd: impl AsFd, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r > 0 {
            return true;
        }
        if r == 0 {
            return false;
        }
        if errno().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

/// The median time of one `cpuid`: glibc's start-up, in every process each runtime and
/// the floor start, executes it dozens of times, and in a VM each one is an exit to the
/// hypervisor; this is what explains a slow floor.
#[cfg(target_arch = "x86_64")]
fn cpuid_cost_us() -> f64 {
    let mut runs: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            for leaf in 0..50u32 {
                std::hint::black_box(std::arch::x86_64::__cpuid_count(0x8000_0000 + leaf % 8, 0));
            }
            t.elapsed().as_secs_f64() * 1e6 / 50.0
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

// ---------------------------------------------------------------- cgroups

#[derive(Clone)]
struct Hier {
    /// "memory", "cpu,cpuacct", "" (v2), "name=systemd"
    ctrls: String,
    mount: PathBuf,
    /// own cgroup, with leading '/'
    own: String,
}

/// The hierarchies of /proc/self/cgroup that are mounted, as (all, the job's set). The job's
/// set is what hostproc uses: the v2 hierarchy and the v1 ones with a controller it manages.
fn hierarchies() -> Res<(Vec<Hier>, Vec<Hier>)> {
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

fn own_dir(h: &Hier) -> PathBuf {
    h.mount.join(h.own.trim_start_matches('/'))
}

/// A set of cgroups, one per hierarchy of the job's set, beneath our own cgroup.
struct CgSet {
    dirs: Vec<PathBuf>,
}

impl CgSet {
    fn create(job: &[Hier], name: &str) -> Res<CgSet> {
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
            if !h.ctrls.is_empty() && h.ctrls.split(',').any(|c| c == "cpuset") {
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
    fn procs(&self) -> Vec<CString> {
        self.dirs
            .iter()
            .map(|d| cstr(d.join("cgroup.procs")))
            .collect()
    }
    fn remove(&self) -> bool {
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
    fn empty(&self) -> bool {
        self.dirs.iter().all(|d| {
            fs::read_to_string(d.join("cgroup.procs"))
                .map(|s| s.trim().is_empty())
                .unwrap_or(true)
        })
    }
}

// ---------------------------------------------------------------- runtimes

#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Rt {
    Hostproc,
    Runc,
    Crun,
}
impl Rt {
    fn name(self) -> &'static str {
        match self {
            Rt::Hostproc => "hostproc",
            Rt::Runc => "runc",
            Rt::Crun => "crun",
        }
    }
}

/// hostproc's default rootfs location.
const HPC_LOCATION: &str = hostproc_storage::DEFAULT_LOCATION;

struct Ctx {
    o: Opts,
    tmp: PathBuf,
    pid: u32,
    all: Vec<Hier>,
    job: Vec<Hier>,
    hybrid: bool,
    crun_base: String,
    rts: Vec<Rt>,
    devnull: RawFd,
    errlog: RawFd,
    errlog_path: PathBuf,
    template: Value,
    /// cgroup dirs that crun's absolute paths will create above its containers, deepest last.
    crun_parents: Vec<PathBuf>,
    floor_sets: Vec<CgSet>,
    /// Whether the default rootfs location (HPC_LOCATION) existed before the bench.
    hpc_existed: bool,
    /// hostproc's parent cgroups (`<own>/hostproc`, kept by hostproc once made) that did
    /// not exist before the bench: removed at the end.
    made_parents: Vec<PathBuf>,
    hostproc_src: PathBuf,
    seq: usize,
    report: Vec<String>,
    json: serde_json::Map<String, Value>,
}

#[derive(Default, Clone)]
struct Stats {
    v: Vec<f64>,
}
impl Stats {
    fn push(&mut self, x: f64) {
        self.v.push(x)
    }
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.v.clone();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    }
    fn median(&self) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
    fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }
    fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Ctx {
    fn state_root(&self, rt: Rt) -> PathBuf {
        self.tmp.join("state").join(rt.name())
    }
    fn bin(&self, rt: Rt) -> String {
        match rt {
            Rt::Hostproc => self.o.hostproc.display().to_string(),
            Rt::Runc => self.o.runc.as_ref().unwrap().display().to_string(),
            Rt::Crun => self.o.crun.as_ref().unwrap().display().to_string(),
        }
    }
    fn cmd(&self, rt: Rt, args: &[&str]) -> (Vec<String>, Pre) {
        let mut v = vec![
            self.bin(rt),
            "--root".into(),
            self.state_root(rt).display().to_string(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        let pre = if rt == Rt::Crun && self.hybrid {
            Pre::CrunWrap
        } else {
            Pre::None
        };
        (v, pre)
    }
    fn id(&mut self, tag: &str) -> String {
        self.seq += 1;
        format!("hpb{}-{tag}-{}", self.pid, self.seq)
    }
    fn io(&self) -> Io {
        Io {
            stdin: self.devnull,
            stdout: self.devnull,
            stderr: self.errlog,
        }
    }
    fn err_tail(&self) -> String {
        let s = fs::read(&self.errlog_path).unwrap_or_default();
        let start = s.len().saturating_sub(1500);
        String::from_utf8_lossy(&s[start..]).into_owned()
    }
    /// Runs a command to its end: (wall time, ru_maxrss KiB). Fails on a non-zero exit.
    fn run(&self, argv: &[String], pre: &Pre) -> Res<(Duration, i64)> {
        let t0 = Instant::now();
        let pid = spawn(argv, &self.io(), pre)?;
        let (st, rss) = wait_child(pid)?;
        let d = t0.elapsed();
        if !ok_status(st) {
            return Err(format!(
                "`{}` failed (status {st:#x}); stderr tail:\n{}",
                argv.join(" "),
                self.err_tail()
            ));
        }
        Ok((d, rss))
    }
    fn rt(&self, rt: Rt, args: &[&str]) -> Res<(Duration, i64)> {
        let (v, pre) = self.cmd(rt, args);
        self.run(&v, &pre)
    }
    fn rt_quiet(&self, rt: Rt, args: &[&str]) {
        let (v, pre) = self.cmd(rt, args);
        if let Ok(pid) = spawn(&v, &self.io(), &pre) {
            let _ = wait_child(pid);
        }
    }
    /// `delete --force` of each container, reaping what it leaves re-parented to us.
    fn force_delete<'a>(&self, containers: impl IntoIterator<Item = (Rt, &'a str)>) {
        for (rt, id) in containers {
            self.rt_quiet(rt, &["delete", "--force", id]);
            reap_orphans();
        }
    }

    /// The timed program, `/bin/true` of the bundles' rootfs, as each runtime names it: a
    /// HostProcess container finds its image's files under its sandbox.
    fn payload(&self, rt: Rt) -> &'static str {
        match rt {
            Rt::Hostproc => "$CONTAINER_SANDBOX_MOUNT_POINT/bin/true",
            _ => "/bin/true",
        }
    }
    /// The same program for the floor: fork and exec of the rootfs's /bin/true.
    fn floor_payload(&self) -> Vec<String> {
        vec![self.tmp.join("rootfs/bin/true").to_string_lossy().into_owned()]
    }

    /// A bundle for one container (containerd also writes one per container).
    fn bundle(&self, rt: Rt, id: &str, args: &[&str]) -> Res<PathBuf> {
        let dir = self.tmp.join("bundles").join(id);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cfg = match rt {
            Rt::Hostproc => json!({
                "ociVersion": "1.2.0",
                "process": {
                    "terminal": false,
                    "user": {"uid": 0, "gid": 0},
                    "args": args,
                    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                    "cwd": ""
                },
                "root": {"path": self.tmp.join("rootfs")},
                "annotations": {
                    "microsoft.com/hostprocess-container": "true",
                }
            }),
            Rt::Runc | Rt::Crun => {
                let mut c = self.template.clone();
                c["process"]["terminal"] = json!(false);
                c["process"]["args"] = json!(args);
                c["root"]["path"] = json!(self.tmp.join("rootfs"));
                let cg = match rt {
                    // runc: relative = beneath runc's own cgroup in every hierarchy.
                    Rt::Runc => format!("hostproc-bench-{id}"),
                    // crun: relative paths are taken from the root, so an absolute path
                    // beneath our own memory cgroup (checked in main).
                    _ => format!(
                        "{}/hostproc-bench-{id}",
                        self.crun_base.trim_end_matches('/')
                    ),
                };
                c["linux"]["cgroupsPath"] = json!(cg);
                c
            }
        };
        fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&cfg).unwrap(),
        )
        .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// The job's cgroup directory in the memory hierarchy (to check its removal).
    fn job_mem_dir(&self, rt: Rt, id: &str) -> Option<PathBuf> {
        let h = self
            .all
            .iter()
            .find(|h| h.ctrls.split(',').any(|c| c == "memory"))?;
        Some(match rt {
            Rt::Hostproc => own_dir(h).join("hostproc").join(id),
            Rt::Runc => own_dir(h).join(format!("hostproc-bench-{id}")),
            Rt::Crun => h
                .mount
                .join(self.crun_base.trim_start_matches('/'))
                .join(format!("hostproc-bench-{id}")),
        })
    }

    fn new_floor_set(&mut self) -> Res<usize> {
        let name = format!("hostproc-bench-{}-floor-{}", self.pid, self.seq);
        self.seq += 1;
        let s = CgSet::create(&self.job, &name)?;
        self.floor_sets.push(s);
        Ok(self.floor_sets.len() - 1)
    }
    fn drop_floor_set(&mut self, i: usize) -> bool {
        let ok = self.floor_sets[i].remove();
        if ok {
            self.floor_sets[i].dirs.clear();
        }
        ok
    }
}

fn rotate<T: Clone>(v: &[T], k: usize) -> Vec<T> {
    let n = v.len();
    (0..n).map(|i| v[(i + k) % n].clone()).collect()
}

// ---------------------------------------------------------------- report

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.1}")
    } else if x >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

impl Ctx {
    fn say(&mut self, s: impl Into<String>) {
        let s = s.into();
        println!("{s}");
        self.report.push(s);
    }
    /// Prints a table: one row per variant, with ratios of each median to the references.
    fn table(&mut self, title: &str, unit: &str, rows: &[(String, Stats)], refs: &[&str]) {
        self.say(format!("\n### {title}\n"));
        let mut head = format!("| variant | n | median {unit} | min | max |");
        let mut sep = "|---|---|---|---|---|".to_string();
        let refs: Vec<(&str, f64)> = refs
            .iter()
            .filter_map(|r| {
                rows.iter()
                    .find(|(n, _)| n == r)
                    .map(|(_, s)| (*r, s.median()))
            })
            .collect();
        for (r, _) in &refs {
            head.push_str(&format!(" ÷ {r} |"));
            sep.push_str("---|");
        }
        self.say(head);
        self.say(sep);
        let mut jrows = serde_json::Map::new();
        for (name, s) in rows {
            let mut line = format!(
                "| {name} | {} | {} | {} | {} |",
                s.v.len(),
                fmt(s.median()),
                fmt(s.min()),
                fmt(s.max())
            );
            for (_, m) in &refs {
                line.push_str(&format!(" {} |", fmt(s.median() / m)));
            }
            self.say(line);
            jrows.insert(
                name.clone(),
                json!({"median": s.median(), "min": s.min(), "max": s.max(), "samples": s.v}),
            );
        }
        self.json
            .insert(format!("{title} ({unit})"), Value::Object(jrows));
    }
}

// ---------------------------------------------------------------- scenarios

#[derive(Default)]
struct Results {
    s1: Vec<(String, Stats)>,
    s1_rss: Vec<(String, Stats)>,
    s2: Vec<(String, Stats)>,
    s3: Vec<(String, Stats)>,
    s4: Vec<(String, Stats)>,
    s5_state: Vec<(String, Stats)>,
    s5_list: Vec<(String, Stats)>,
    s5_list_n: Stats,
    s6: Option<(f64, f64, usize)>,
    wrapper_ms: f64,
}

fn get<'a>(rows: &'a [(String, Stats)], n: &str) -> Option<&'a Stats> {
    rows.iter().find(|(k, _)| k == n).map(|(_, s)| s)
}
fn entry<'a>(rows: &'a mut Vec<(String, Stats)>, n: &str) -> &'a mut Stats {
    if let Some(i) = rows.iter().position(|(k, _)| k == n) {
        return &mut rows[i].1;
    }
    rows.push((n.to_string(), Stats::default()));
    &mut rows.last_mut().unwrap().1
}

/// (1) run /bin/true to exit and clean-up, (7) its peak memory; also the crun wrapper's cost.
fn s1(c: &mut Ctx, r: &mut Results) -> Res<()> {
    eprintln!("[1] run /bin/true ×{} each, interleaved", c.o.reps);
    let mut variants: Vec<String> = vec!["floor".into(), "floor+cgroup".into()];
    if c.rts.contains(&Rt::Crun) && c.hybrid {
        variants.push("crun-wrapper(/bin/true)".into());
    }
    for rt in &c.rts {
        variants.push(rt.name().into());
    }
    let t = c.floor_payload();
    for rep in 0..c.o.reps {
        for v in rotate(&variants, rep) {
            check_stop()?;
            let (d, rss) = match v.as_str() {
                "floor" => c.run(&t, &Pre::None)?,
                "floor+cgroup" => {
                    let name = format!("hostproc-bench-{}-f1-{rep}", c.pid);
                    let t0 = Instant::now();
                    let set = CgSet::create(&c.job, &name)?;
                    let pid = spawn(&t, &c.io(), &Pre::Join(set.procs()))?;
                    let (st, rss) = wait_child(pid)?;
                    let removed = set.remove();
                    let d = t0.elapsed();
                    if !ok_status(st) || !removed {
                        return Err(format!(
                            "floor+cgroup failed: status {st:#x}, removed {removed}"
                        ));
                    }
                    (d, rss)
                }
                "crun-wrapper(/bin/true)" => c.run(&t, &Pre::CrunWrap)?,
                name => {
                    let rt = *c.rts.iter().find(|r| r.name() == name).unwrap();
                    let id = c.id("run");
                    let b = c.bundle(rt, &id, &[c.payload(rt)])?;
                    let res = c.rt(rt, &["run", "--bundle", b.to_str().unwrap(), &id])?;
                    if rep == 0 {
                        if let Some(d) = c.job_mem_dir(rt, &id) {
                            if d.exists() {
                                return Err(format!("{name} run left its cgroup {}", d.display()));
                            }
                        }
                        if fs::read_dir(c.state_root(rt))
                            .map(|mut d| d.next().is_some())
                            .unwrap_or(false)
                        {
                            return Err(format!(
                                "{name} run left its state under {}",
                                c.state_root(rt).display()
                            ));
                        }
                    }
                    let _ = fs::remove_dir_all(&b);
                    res
                }
            };
            reap_orphans();
            entry(&mut r.s1, &v).push(ms(d));
            entry(&mut r.s1_rss, &v).push(rss as f64 / 1024.0);
        }
    }
    if let (Some(w), Some(f)) = (get(&r.s1, "crun-wrapper(/bin/true)"), get(&r.s1, "floor")) {
        r.wrapper_ms = (w.median() - f.median()).max(0.0);
    }
    Ok(())
}

/// (2) create, start, wait, delete as separate commands.
fn s2(c: &mut Ctx, r: &mut Results) -> Res<()> {
    eprintln!(
        "[2] create/start/wait/delete ×{} each, interleaved",
        c.o.reps
    );
    let rts = c.rts.clone();
    for rep in 0..c.o.reps {
        for rt in rotate(&rts, rep) {
            check_stop()?;
            let id = c.id("life");
            let b = c.bundle(rt, &id, &[c.payload(rt)])?;
            let pidf = c.tmp.join(format!("{id}.pid"));
            let t0 = Instant::now();
            c.rt(
                rt,
                &[
                    "create",
                    "--bundle",
                    b.to_str().unwrap(),
                    "--pid-file",
                    pidf.to_str().unwrap(),
                    &id,
                ],
            )?;
            let pid: i32 = fs::read_to_string(&pidf)
                .map_err(|e| format!("{}: {e}", pidf.display()))?
                .trim()
                .parse()
                .map_err(|e| format!("pid file: {e}"))?;
            let pfd = pidfd_open(pid).map_err(|e| format!("pidfd_open {pid}: {e}"))?;
            c.rt(rt, &["start", &id])?;
            let exited = poll_in(&pfd, 30_000);
            drop(pfd);
            if !exited {
                return Err(format!("{} {id}: init did not exit", rt.name()));
            }
            let del = c.rt(rt, &["delete", &id]);
            let d = t0.elapsed();
            del?;
            reap_orphans();
            let _ = fs::remove_file(&pidf);
            let _ = fs::remove_dir_all(&b);
            entry(&mut r.s2, rt.name()).push(ms(d));
        }
    }
    Ok(())
}

/// (3) exec /bin/true into a running container.
fn s3(c: &mut Ctx, r: &mut Results) -> Res<()> {
    eprintln!("[3] exec /bin/true ×{} each, interleaved", c.o.reps);
    let mut ids = BTreeMap::new();
    for rt in c.rts.clone() {
        let id = c.id("exec");
        let b = c.bundle(rt, &id, &["/bin/sleep", "1000000"])?;
        ids.insert(rt, id.clone());
        let made = c
            .rt(rt, &["create", "--bundle", b.to_str().unwrap(), &id])
            .and_then(|_| c.rt(rt, &["start", &id]));
        if let Err(e) = made {
            c.force_delete(ids.iter().map(|(rt, id)| (*rt, id.as_str())));
            return Err(e);
        }
    }
    let res = s3_measure(c, r, &ids);
    c.force_delete(ids.iter().map(|(rt, id)| (*rt, id.as_str())));
    res
}

fn s3_measure(c: &mut Ctx, r: &mut Results, ids: &BTreeMap<Rt, String>) -> Res<()> {
    let fs_i = c.new_floor_set()?;
    let procs = c.floor_sets[fs_i].procs();
    let mut variants: Vec<String> = vec!["floor".into(), "floor+join-cgroup".into()];
    variants.extend(c.rts.iter().map(|r| r.name().to_string()));
    let t = c.floor_payload();
    for rep in 0..c.o.reps {
        for v in rotate(&variants, rep) {
            check_stop()?;
            let (d, _) = match v.as_str() {
                "floor" => c.run(&t, &Pre::None)?,
                "floor+join-cgroup" => c.run(&t, &Pre::Join(procs.clone()))?,
                name => {
                    let rt = *c.rts.iter().find(|r| r.name() == name).unwrap();
                    c.rt(rt, &["exec", &ids[&rt], c.payload(rt)])?
                }
            };
            reap_orphans();
            entry(&mut r.s3, &v).push(ms(d));
        }
    }
    if !c.drop_floor_set(fs_i) {
        return Err("cannot remove the floor cgroups of scenario 3".into());
    }
    Ok(())
}

/// (4) kill-all of a job of N processes: from init's exit to `run` returning (every process
/// gone and the cgroup removed).
fn s4(c: &mut Ctx, r: &mut Results) -> Res<()> {
    let n = c.o.kill_procs;
    eprintln!(
        "[4] kill-all of {n} processes ×{} each, interleaved",
        c.o.kill_reps
    );
    let script = format!(
        "i=0; while [ $i -lt {n} ]; do sleep 1000000 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; echo ready; read x"
    );
    let mut variants: Vec<String> = vec!["floor+cgroup".into()];
    variants.extend(c.rts.iter().map(|r| r.name().to_string()));
    for rep in 0..c.o.kill_reps {
        for v in rotate(&variants, rep) {
            check_stop()?;
            // Owned: whatever fails below, the descriptors are closed on the way out.
            let (in_r, in_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
            let (out_r, out_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
            let io = Io {
                stdin: in_r.as_raw_fd(),
                stdout: out_w.as_raw_fd(),
                stderr: c.errlog,
            };
            let args = ["/bin/sh", "-c", script.as_str()];
            let pidf = c.tmp.join("kill.pid");
            let _ = fs::remove_file(&pidf);
            let mut floor_set = None;
            let mut id = String::new();
            let mut rt = None;
            let child = if v == "floor+cgroup" {
                let i = c.new_floor_set()?;
                floor_set = Some(i);
                let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                spawn(&argv, &io, &Pre::Join(c.floor_sets[i].procs()))?
            } else {
                let r_ = *c.rts.iter().find(|r| r.name() == v).unwrap();
                rt = Some(r_);
                id = c.id("kill");
                let b = c.bundle(r_, &id, &args)?;
                let (argv, pre) = c.cmd(
                    r_,
                    &[
                        "run",
                        "--bundle",
                        b.to_str().unwrap(),
                        "--pid-file",
                        pidf.to_str().unwrap(),
                        &id,
                    ],
                );
                spawn(&argv, &io, &pre)?
            };
            drop(in_r);
            drop(out_w);
            // Wait for "ready" (every sleep started).
            let mut out = fs::File::from(out_r);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 256];
            let ready = loop {
                if !poll_in(&out, 120_000) {
                    break false;
                }
                let k = match out.read(&mut chunk) {
                    Ok(k) if k > 0 => k,
                    _ => break false,
                };
                buf.extend_from_slice(&chunk[..k]);
                if buf.windows(5).any(|w| w == b"ready") {
                    break true;
                }
            };
            drop(out);
            if !ready {
                drop(in_w);
                let _ = wait_child(child);
                return Err(format!(
                    "{v}: payload never got ready; stderr tail:\n{}",
                    c.err_tail()
                ));
            }
            let init = if rt.is_some() {
                fs::read_to_string(&pidf)
                    .map_err(|e| format!("{}: {e}", pidf.display()))?
                    .trim()
                    .parse::<i32>()
                    .map_err(|e| e.to_string())?
            } else {
                child
            };
            let pfd = pidfd_open(init).map_err(|e| format!("pidfd_open {init}: {e}"))?;
            // Let the payload's `read` return; the write end is closed with the File.
            let _ = fs::File::from(in_w).write_all(b"\n");
            let exited = poll_in(&pfd, 60_000);
            let t0 = Instant::now();
            drop(pfd);
            if !exited {
                return Err(format!("{v}: init did not exit"));
            }
            let d = if let Some(i) = floor_set {
                // The floor: what any runtime must do at least — kill every process of the
                // cgroup (cgroup.kill on v2, else SIGKILL each listed pid), wait for it to be
                // empty (we are the subreaper, so we reap), remove the cgroups.
                wait_child(child)?;
                let set = &c.floor_sets[i];
                let unified = set
                    .dirs
                    .iter()
                    .find(|d| d.join("cgroup.kill").exists())
                    .cloned();
                if let Some(u) = unified {
                    fs::write(u.join("cgroup.kill"), "1")
                        .map_err(|e| format!("cgroup.kill: {e}"))?;
                } else {
                    for d in &set.dirs {
                        if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
                            for p in s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
                                let _ = hostproc_sys::kill(p, libc::SIGKILL);
                            }
                            break;
                        }
                    }
                }
                while !c.floor_sets[i].empty() {
                    reap_orphans();
                    std::thread::sleep(Duration::from_micros(100));
                }
                reap_orphans();
                if !c.drop_floor_set(i) {
                    return Err("floor: cannot remove the cgroups".into());
                }
                t0.elapsed()
            } else {
                let _ = wait_child(child)?;
                let d = t0.elapsed();
                let r_ = rt.unwrap();
                if let Some(dir) = c.job_mem_dir(r_, &id) {
                    if dir.exists() {
                        return Err(format!(
                            "{v}: cgroup {} still there after run returned",
                            dir.display()
                        ));
                    }
                }
                let _ = fs::remove_dir_all(c.tmp.join("bundles").join(&id));
                d
            };
            reap_orphans();
            entry(&mut r.s4, &v).push(ms(d));
        }
    }
    Ok(())
}

/// (5) `state` of one container; `list` with many.
fn s5(c: &mut Ctx, r: &mut Results) -> Res<()> {
    eprintln!(
        "[5] state ×{}; list with {} containers of each runtime, then hostproc with {}",
        c.o.reps, c.o.list_others_n, c.o.list_n
    );
    let mut made: Vec<(Rt, String)> = Vec::new();
    let res = (|| -> Res<()> {
        let mut first = BTreeMap::new();
        let n_each = c.o.list_others_n.max(1);
        for _ in 0..n_each {
            for rt in c.rts.clone() {
                check_stop()?;
                let id = c.id("list");
                let b = c.bundle(rt, &id, &["/bin/true"])?;
                c.rt(rt, &["create", "--bundle", b.to_str().unwrap(), &id])?;
                made.push((rt, id.clone()));
                first.entry(rt).or_insert(id);
            }
        }
        for rep in 0..c.o.reps {
            for rt in rotate(&c.rts.clone(), rep) {
                check_stop()?;
                let (d, _) = c.rt(rt, &["state", &first[&rt]])?;
                entry(&mut r.s5_state, rt.name()).push(ms(d));
            }
        }
        if c.o.list_others_n > 0 {
            for rep in 0..c.o.reps {
                for rt in rotate(&c.rts.clone(), rep) {
                    check_stop()?;
                    let (d, _) = c.rt(rt, &["list"])?;
                    entry(&mut r.s5_list, rt.name()).push(ms(d));
                }
            }
        }
        let have = made.iter().filter(|(rt, _)| *rt == Rt::Hostproc).count();
        for _ in have..c.o.list_n {
            check_stop()?;
            let id = c.id("list");
            let b = c.bundle(Rt::Hostproc, &id, &["/bin/true"])?;
            c.rt(
                Rt::Hostproc,
                &["create", "--bundle", b.to_str().unwrap(), &id],
            )?;
            made.push((Rt::Hostproc, id));
        }
        for _ in 0..c.o.reps {
            check_stop()?;
            let (d, _) = c.rt(Rt::Hostproc, &["list"])?;
            r.s5_list_n.push(ms(d));
        }
        Ok(())
    })();
    eprintln!("[5] deleting {} containers", made.len());
    c.force_delete(made.iter().map(|(rt, id)| (*rt, id.as_str())));
    res
}

fn smaps_rollup(pid: i32) -> Option<(u64, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |k: &str| -> Option<u64> {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("Rss:")?, field("Pss:")?))
}

/// (6) resident memory hostproc keeps per running container: its supervisors' RSS and PSS.
fn s6(c: &mut Ctx, r: &mut Results) -> Res<()> {
    let n = c.o.mem_n;
    eprintln!("[6] {n} running hostproc containers: supervisors' memory");
    let mut made = Vec::new();
    let res = (|| -> Res<()> {
        for _ in 0..n {
            check_stop()?;
            let id = c.id("mem");
            let b = c.bundle(Rt::Hostproc, &id, &["/bin/sleep", "1000000"])?;
            c.rt(
                Rt::Hostproc,
                &["create", "--bundle", b.to_str().unwrap(), &id],
            )?;
            made.push(id.clone());
            c.rt(Rt::Hostproc, &["start", &id])?;
        }
        let (mut rss, mut pss, mut procs) = (0u64, 0u64, 0usize);
        for id in &made {
            let p = c.state_root(Rt::Hostproc).join(id).join("state.json");
            let v: Value =
                serde_json::from_slice(&fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?)
                    .map_err(|e| e.to_string())?;
            // hostproc.supervisor = [pid, start time]; any other per-container process
            // hostproc might keep would be listed there too.
            let sup = v["hostproc"]["supervisor"][0]
                .as_i64()
                .ok_or_else(|| format!("{}: no supervisor pid", p.display()))?;
            let (r_, p_) = smaps_rollup(sup as i32)
                .ok_or_else(|| format!("supervisor {sup} of {id} is gone"))?;
            rss += r_;
            pss += p_;
            procs += 1;
        }
        r.s6 = Some((rss as f64 / n as f64, pss as f64 / n as f64, procs));
        Ok(())
    })();
    eprintln!("[6] deleting {} containers", made.len());
    c.force_delete(made.iter().map(|id| (Rt::Hostproc, id.as_str())));
    res
}

// ---------------------------------------------------------------- main

fn sh(cmd: &str) -> String {
    std::process::Command::new("/bin/sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn build_rootfs(dir: &Path) -> Res<()> {
    // The rootfs of every runtime's bundles, and the floor's /bin/true: busybox-static if
    // there is one, else /bin/sh, true, sleep and their libraries (ldd).
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    for d in ["proc", "dev", "sys", "tmp", "etc"] {
        fs::create_dir_all(dir.join(d)).map_err(|e| e.to_string())?;
    }
    let bb = Path::new("/bin/busybox");
    let is_static = bb.exists() && sh("ldd /bin/busybox 2>&1").contains("not a dynamic");
    if is_static {
        fs::copy(bb, bin.join("busybox")).map_err(|e| e.to_string())?;
        for a in ["sh", "true", "sleep", "cat"] {
            std::os::unix::fs::symlink("busybox", bin.join(a)).map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    for p in ["/bin/sh", "/bin/true", "/bin/sleep"] {
        let real = fs::canonicalize(p).map_err(|e| e.to_string())?;
        let name = Path::new(p).file_name().unwrap();
        fs::copy(&real, bin.join(name)).map_err(|e| format!("{}: {e}", real.display()))?;
        for lib in sh(&format!("ldd {} | grep -o '/[^ ]*'", real.display())).lines() {
            let dst = dir.join(lib.trim_start_matches('/'));
            fs::create_dir_all(dst.parent().unwrap()).map_err(|e| e.to_string())?;
            if !dst.exists() {
                fs::copy(lib, &dst).map_err(|e| format!("{lib}: {e}"))?;
            }
        }
    }
    Ok(())
}

fn main() {
    let o = parse_opts();
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("hostproc-bench must run as root");
        std::process::exit(2);
    }
    if !o.hostproc.is_file() {
        eprintln!(
            "{}: not found; build it first: cargo build --release -p hostproc",
            o.hostproc.display()
        );
        std::process::exit(2);
    }
    let _ = set_child_subreaper();
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGHUP, &sa, std::ptr::null_mut());
    }
    let pid = std::process::id();
    let tmp = std::env::temp_dir().join(format!("hostproc-bench-{pid}"));
    let (all, job) = match hierarchies() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    };
    let hybrid = Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists()
        && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let own_mem = all
        .iter()
        .find(|h| h.ctrls.split(',').any(|c| c == "memory"))
        .map(|h| h.own.clone())
        .unwrap_or("/".into());
    let mut c = Ctx {
        o,
        tmp: tmp.clone(),
        pid,
        all,
        job,
        hybrid,
        crun_base: own_mem.clone(),
        rts: vec![Rt::Hostproc],
        devnull: -1,
        errlog: -1,
        errlog_path: tmp.join("stderr.log"),
        template: Value::Null,
        crun_parents: Vec::new(),
        floor_sets: Vec::new(),
        hpc_existed: Path::new(HPC_LOCATION).exists(),
        made_parents: Vec::new(),
        hostproc_src: PathBuf::new(),
        seq: 0,
        report: Vec::new(),
        json: serde_json::Map::new(),
    };
    c.made_parents = c.job.iter().map(|h| own_dir(h).join("hostproc")).filter(|p| !p.exists()).collect();
    let res = setup(&mut c).and_then(|()| bench(&mut c));
    let leftovers = cleanup(&mut c);
    if let Err(e) = &res {
        eprintln!("\nERROR: {e}");
    }
    if !leftovers.is_empty() {
        eprintln!("\nLEFT BEHIND (please check): {leftovers:?}");
    }
    if res.is_err() || !leftovers.is_empty() {
        std::process::exit(1);
    }
}

fn setup(c: &mut Ctx) -> Res<()> {
    fs::create_dir_all(&c.tmp).map_err(|e| format!("{}: {e}", c.tmp.display()))?;
    c.devnull = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    let log = cstr(&c.errlog_path);
    c.errlog = unsafe {
        libc::open(
            log.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
            0o600,
        )
    };
    if c.devnull < 0 || c.errlog < 0 {
        return Err(format!("open: {}", errno()));
    }
    // One rootfs for every runtime, and its /bin/true is the program every variant times.
    build_rootfs(&c.tmp.join("rootfs"))?;
    // Every runtime keeps its state under /run, a tmpfs on systemd hosts; this machine's
    // may be a disk, so by default the state roots get a tmpfs of their own.
    let state = c.tmp.join("state");
    fs::create_dir_all(&state).map_err(|e| e.to_string())?;
    if !c.o.state_on_disk {
        let (src, dst) = (c"tmpfs", cstr(&state));
        let r = unsafe {
            libc::mount(src.as_ptr(), dst.as_ptr(), src.as_ptr(), libc::MS_NOSUID | libc::MS_NODEV, c"mode=0700".as_ptr().cast())
        };
        if r != 0 {
            return Err(format!("mount a tmpfs on {}: {}", state.display(), errno()));
        }
    }
    // A private copy of the binary: the target directory may be rebuilt while we run.
    let snap = c.tmp.join("hostproc");
    fs::copy(&c.o.hostproc, &snap).map_err(|e| format!("copy {}: {e}", c.o.hostproc.display()))?;
    c.hostproc_src = c.o.hostproc.clone();
    c.o.hostproc = snap;
    let mut notes = Vec::new();
    // runc / crun
    let mut want = Vec::new();
    if let Some(r) = &c.o.runc {
        if r.is_file() {
            want.push(Rt::Runc);
        } else {
            notes.push(format!("runc: {} not found, skipped", r.display()));
        }
    } else {
        notes.push("runc: not installed (or --runc none), skipped".into());
    }
    if let Some(r) = &c.o.crun {
        if r.is_file() {
            // crun takes an absolute cgroupsPath in every hierarchy: it is beneath our own
            // cgroup everywhere only if each v1 hierarchy's own cgroup is "/" or the memory one.
            let base = c.crun_base.clone();
            let bad: Vec<String> = c
                .all
                .iter()
                .filter(|h| !h.ctrls.is_empty() || !c.hybrid)
                .filter(|h| {
                    !(h.own == "/"
                        || base == h.own
                        || base.starts_with(&format!("{}/", h.own.trim_end_matches('/'))))
                })
                .map(|h| format!("{}:{}", h.ctrls, h.own))
                .collect();
            if bad.is_empty() {
                want.push(Rt::Crun);
            } else {
                notes.push(format!("crun: skipped: no absolute cgroup path is beneath our own cgroup in every hierarchy ({bad:?})"));
            }
        } else {
            notes.push(format!("crun: {} not found, skipped", r.display()));
        }
    } else {
        notes.push("crun: not installed (or --crun none), skipped; apt-get install -y crun".into());
    }
    if !want.is_empty() {
        let spec_dir = c.tmp.join("spec");
        fs::create_dir_all(&spec_dir).map_err(|e| e.to_string())?;
        let spec_bin = if want.contains(&Rt::Runc) {
            c.o.runc.clone().unwrap()
        } else {
            c.o.crun.clone().unwrap()
        };
        let st = std::process::Command::new(&spec_bin)
            .arg("spec")
            .current_dir(&spec_dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err(format!("{} spec failed", spec_bin.display()));
        }
        c.template = serde_json::from_slice(
            &fs::read(spec_dir.join("config.json")).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    }
    if want.contains(&Rt::Crun) {
        // Directories crun's absolute path makes above its containers in hierarchies where
        // they do not exist yet (they are beneath our own cgroup there); removed at the end.
        let comps: Vec<&str> = c.crun_base.split('/').filter(|s| !s.is_empty()).collect();
        for h in c.all.iter().filter(|h| !h.ctrls.is_empty()) {
            let mut p = h.mount.clone();
            for comp in &comps {
                p = p.join(comp);
                if !p.exists() {
                    c.crun_parents.push(p.clone());
                }
            }
        }
    }
    c.rts.extend(want);
    for rt in c.rts.clone() {
        fs::create_dir_all(c.state_root(rt)).map_err(|e| e.to_string())?;
    }
    // Machine.
    let v = |cmd: &str| sh(cmd).lines().next().unwrap_or("").to_string();
    c.say("## hostproc-bench".to_string());
    c.say(format!(
        "- machine: {} CPUs, kernel {}, {}",
        v("nproc"),
        v("uname -r"),
        v("grep MemTotal /proc/meminfo | tr -s ' '")
    ));
    #[cfg(target_arch = "x86_64")]
    c.say(format!(
        "- cpuid: {:.2} µs each (it traps to the hypervisor in a VM; glibc 2.36 runs it 41 times as every process starts, docs/benchmarks.md)",
        cpuid_cost_us()
    ));
    c.say(format!(
        "- cgroups: {}; own cgroup: {}",
        if c.hybrid {
            "hybrid (v1 controllers + v2 at /sys/fs/cgroup/unified)"
        } else if c.all.iter().any(|h| h.ctrls.is_empty()) && c.all.len() == 1 {
            "v2"
        } else {
            "v1"
        },
        c.all
            .iter()
            .map(|h| format!(
                "{}:{}",
                if h.ctrls.is_empty() { "0:" } else { &h.ctrls },
                h.own
            ))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    c.say(format!(
        "- job hierarchies (floor+cgroup and hostproc): {}",
        c.job.len()
    ));
    c.say(format!(
        "- hostproc: {} ({}, sha256 {})",
        c.hostproc_src.display(),
        v(&format!("{} --version", c.o.hostproc.display())),
        v(&format!(
            "sha256sum {} | cut -c1-16",
            c.o.hostproc.display()
        ))
    ));
    if c.rts.contains(&Rt::Runc) {
        c.say(format!(
            "- runc: {} ({}), cgroupsPath relative (beneath its own cgroup)",
            c.o.runc.as_ref().unwrap().display(),
            v(&format!(
                "{} --version",
                c.o.runc.as_ref().unwrap().display()
            ))
        ));
    }
    if c.rts.contains(&Rt::Crun) {
        c.say(format!(
            "- crun: {} ({}), cgroupsPath {}/hostproc-bench-<id>{}",
            c.o.crun.as_ref().unwrap().display(),
            v(&format!("{} --version", c.o.crun.as_ref().unwrap().display())),
            c.crun_base.trim_end_matches('/'),
            if c.hybrid { "; every crun command runs in a private mount namespace with /sys/fs/cgroup/unified hidden (its cost is measured and subtracted)" } else { "" }
        ));
    }
    for n in notes {
        c.say(format!("- {n}"));
    }
    c.say(format!(
        "- repetitions: {} (scenarios 1-3, 5), {} (scenario 4, {} processes); list with {} (all runtimes) and {} (hostproc); {} running for memory",
        c.o.reps, c.o.kill_reps, c.o.kill_procs, c.o.list_others_n, c.o.list_n, c.o.mem_n
    ));
    c.say(format!(
        "- state roots (--root of every runtime): {}",
        if c.o.state_on_disk {
            format!("{} (--state-on-disk; the file system of the temporary directory)", c.tmp.join("state").display())
        } else {
            format!("a tmpfs at {}, as /run is on systemd hosts (--state-on-disk to keep them on disk)", c.tmp.join("state").display())
        }
    ));
    c.say(format!(
        "- load average at start: {}",
        v("cat /proc/loadavg")
    ));
    Ok(())
}

fn bench(c: &mut Ctx) -> Res<()> {
    let mut r = Results::default();
    let sc = c.o.scenarios.clone();
    let t0 = Instant::now();
    let mut failures = Vec::new();
    // Scenario 1 also gives the wrapper's cost, used by the others.
    let mut order = vec![1];
    order.extend(sc.iter().copied().filter(|&s| s != 1 && s != 7));
    for s in order {
        let res = match s {
            1 => s1(c, &mut r),
            2 => s2(c, &mut r),
            3 => s3(c, &mut r),
            4 => s4(c, &mut r),
            5 => s5(c, &mut r),
            6 => s6(c, &mut r),
            _ => Ok(()),
        };
        if let Err(e) = res {
            if e == "interrupted" {
                return Err(e);
            }
            eprintln!("scenario {s} failed: {e}");
            failures.push(format!("scenario {s}: {e}"));
        }
        reap_orphans();
    }
    print_results(c, &mut r);
    let v = sh("cat /proc/loadavg");
    c.say(format!(
        "\n- load average at end: {v}; bench wall time {:.0} s",
        t0.elapsed().as_secs_f64()
    ));
    if let Some(p) = c.o.json.clone() {
        let _ = fs::write(
            &p,
            serde_json::to_vec_pretty(&Value::Object(c.json.clone())).unwrap(),
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// Adds "crun−wrapper" rows: crun's median (and min, max) less k × the wrapper's cost.
fn with_adjusted(rows: &[(String, Stats)], wrapper: f64, k: f64) -> Vec<(String, Stats)> {
    let mut out: Vec<(String, Stats)> = rows.to_vec();
    if wrapper > 0.0 {
        if let Some(s) = get(rows, "crun") {
            let adj = Stats {
                v: s.v.iter().map(|x| x - k * wrapper).collect(),
            };
            let i = out.iter().position(|(n, _)| n == "crun").unwrap();
            out[i].0 = "crun (raw)".into();
            out.insert(i + 1, ("crun".into(), adj));
        }
    }
    out
}

fn print_results(c: &mut Ctx, r: &mut Results) {
    let w = r.wrapper_ms;
    let mut targets: Vec<(String, Option<bool>)> = Vec::new();
    let med = |rows: &[(String, Stats)], n: &str| get(rows, n).map(|s| s.median());
    if w > 0.0 {
        c.say(format!(
            "\ncrun's wrapper (private mount namespace, tmpfs over /sys/fs/cgroup/unified) costs {} ms a command (median of \
             wrapper-then-exec /bin/true less the floor); the rows named `crun` have it subtracted once per crun command, \
             `crun (raw)` are as measured.",
            fmt(w)
        ));
    }
    let s1 = with_adjusted(&r.s1, w, 1.0);
    if !s1.is_empty() {
        c.table(
            "1. run /bin/true to exit and clean-up",
            "ms",
            &s1,
            &["runc", "crun", "floor", "floor+cgroup"],
        );
        let h = med(&s1, "hostproc");
        let chk = |x: Option<f64>, lim: f64| h.zip(x).map(|(h, x)| h <= lim * x);
        targets.push((
            format!("(1) run ≤ 0.2 × runc: {}", ratio(h, med(&s1, "runc"))),
            chk(med(&s1, "runc"), 0.2),
        ));
        targets.push((
            format!("(1) run ≤ 0.25 × crun: {}", ratio(h, med(&s1, "crun"))),
            chk(med(&s1, "crun"), 0.25),
        ));
        targets.push((
            format!(
                "(1) run ≤ 2.5 × floor+cgroup: {}",
                ratio(h, med(&s1, "floor+cgroup"))
            ),
            chk(med(&s1, "floor+cgroup"), 2.5),
        ));
        targets.push((
            format!(
                "(1) run ≤ 2.5 × floor (plain fork+exec+wait): {}",
                ratio(h, med(&s1, "floor"))
            ),
            chk(med(&s1, "floor"), 2.5),
        ));
    }
    let s2 = with_adjusted(&r.s2, w, 3.0);
    if !s2.is_empty() {
        let mut rows = s2.clone();
        for f in ["floor", "floor+cgroup"] {
            if let Some(s) = get(&r.s1, f) {
                rows.push((format!("{f} (from 1)"), s.clone()));
            }
        }
        c.table(
            "2. create, start, wait, delete (separate commands)",
            "ms",
            &rows,
            &["runc", "crun", "floor+cgroup (from 1)"],
        );
        let h = med(&s2, "hostproc");
        targets.push((
            format!(
                "(2) create..delete ≤ 0.3 × crun: {}",
                ratio(h, med(&s2, "crun"))
            ),
            h.zip(med(&s2, "crun")).map(|(h, x)| h <= 0.3 * x),
        ));
    }
    let s3 = with_adjusted(&r.s3, w, 1.0);
    if !s3.is_empty() {
        c.table(
            "3. exec /bin/true into a running container",
            "ms",
            &s3,
            &["runc", "crun", "floor", "floor+join-cgroup"],
        );
    }
    if !r.s4.is_empty() {
        let t = format!(
            "4. kill-all of a job of {} processes: init's exit to all gone and cgroup removed",
            c.o.kill_procs
        );
        c.table(&t, "ms", &r.s4.clone(), &["runc", "crun", "floor+cgroup"]);
        let h = med(&r.s4, "hostproc");
        targets.push((
            format!(
                "(4) kill-all < 100 ms: {} ms",
                h.map(fmt).unwrap_or("-".into())
            ),
            h.map(|h| h < 100.0),
        ));
    }
    let st = with_adjusted(&r.s5_state, w, 1.0);
    if !st.is_empty() {
        c.table("5a. state of one container", "ms", &st, &["runc", "crun"]);
        let h = med(&st, "hostproc");
        targets.push((
            format!("(5) state < 2 ms: {} ms", h.map(fmt).unwrap_or("-".into())),
            h.map(|h| h < 2.0),
        ));
    }
    let ls = with_adjusted(&r.s5_list, w, 1.0);
    if !ls.is_empty() {
        c.table(
            &format!(
                "5b. list with {} containers of each runtime",
                c.o.list_others_n
            ),
            "ms",
            &ls,
            &["runc", "crun"],
        );
    }
    if !r.s5_list_n.v.is_empty() {
        let rows = vec![(
            format!("hostproc list, {} containers", c.o.list_n),
            r.s5_list_n.clone(),
        )];
        c.table(
            &format!("5c. hostproc list with {} created containers", c.o.list_n),
            "ms",
            &rows,
            &[],
        );
        let m = r.s5_list_n.median();
        targets.push((
            format!("(5) list of {} < 50 ms: {} ms", c.o.list_n, fmt(m)),
            Some(m < 50.0),
        ));
    }
    if let Some((rss, pss, n)) = r.s6 {
        c.say(format!(
            "\n### 6. memory hostproc keeps per running container ({} running)\n",
            c.o.mem_n
        ));
        c.say(format!(
            "supervisor processes found: {n}; per container: RSS {} KiB, PSS {} KiB (runc and crun keep no process of their own \
             once a container runs; the caller's shim does)",
            fmt(rss),
            fmt(pss)
        ));
        c.json.insert(
            "6. per-container memory (KiB)".into(),
            json!({"rss": rss, "pss": pss, "containers": c.o.mem_n}),
        );
        targets.push((
            format!("(6) < 1 MiB per container (PSS): {} KiB", fmt(pss)),
            Some(pss < 1024.0),
        ));
        targets.push((
            format!("(6) < 1 MiB per container (RSS): {} KiB", fmt(rss)),
            Some(rss < 1024.0),
        ));
    }
    if !r.s1_rss.is_empty() {
        let rows = r.s1_rss.clone();
        c.table("7. peak memory of one run (ru_maxrss of the command, its waited-for children included)", "MiB", &rows, &["runc", "crun", "floor"]);
        let h = med(&rows, "hostproc");
        targets.push((
            format!(
                "(7) peak ≤ crun's: {} vs {} MiB",
                h.map(fmt).unwrap_or("-".into()),
                med(&rows, "crun").map(fmt).unwrap_or("-".into())
            ),
            h.zip(med(&rows, "crun")).map(|(h, x)| h <= x),
        ));
    }
    c.say("\n### Targets (issue 6)\n".to_string());
    for (t, ok) in targets {
        let mark = match ok {
            Some(true) => "MET",
            Some(false) => "NOT MET",
            None => "n/a",
        };
        c.say(format!("- {mark}: {t}"));
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{} ({} / {} ms)", fmt(a / b), fmt(a), fmt(b)),
        _ => "-".into(),
    }
}

/// Removes everything: containers of every runtime under our state roots, floor cgroups,
/// the directories crun's paths made, the state tmpfs, hostproc's parent cgroups and /hpc
/// if the bench made them, the temporary directory.
/// Returns what could not be removed.
fn cleanup(c: &mut Ctx) -> Vec<String> {
    let mut left = Vec::new();
    let mut ours = Vec::new();
    for &rt in &c.rts {
        let Ok(rd) = fs::read_dir(c.state_root(rt)) else {
            continue;
        };
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if id.starts_with(&format!("hpb{}-", c.pid)) {
                ours.push((rt, id));
            }
        }
    }
    c.force_delete(ours.iter().map(|(rt, id)| (*rt, id.as_str())));
    for i in 0..c.floor_sets.len() {
        if !c.floor_sets[i].dirs.is_empty() && !c.drop_floor_set(i) {
            left.extend(c.floor_sets[i].dirs.iter().map(|d| d.display().to_string()));
        }
    }
    for p in c.crun_parents.iter().rev() {
        if p.exists() && fs::remove_dir(p).is_err() {
            left.push(p.display().to_string());
        }
    }
    // Job cgroups of ours still there?
    let tag = format!("hpb{}-", c.pid);
    for h in &c.all {
        for base in [own_dir(h), own_dir(h).join("hostproc")] {
            if let Ok(rd) = fs::read_dir(&base) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if n.contains(&tag) || n.starts_with(&format!("hostproc-bench-{}-", c.pid)) {
                        left.push(e.path().display().to_string());
                    }
                }
            }
        }
    }
    if !c.o.state_on_disk {
        let st = cstr(c.tmp.join("state"));
        unsafe { libc::umount2(st.as_ptr(), libc::MNT_DETACH) };
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let tmp_s = c.tmp.display().to_string();
    for l in mounts.lines() {
        if let Some(mp) = l.split_whitespace().nth(4) {
            if mp.starts_with(&tmp_s) || (mp == HPC_LOCATION && !c.hpc_existed) {
                left.push(format!("mount {mp}"));
            }
        }
    }
    for p in &c.made_parents {
        // Another user's containers may be in it now: then it is theirs to leave.
        let _ = fs::remove_dir(p);
    }
    // hostproc keeps /hpc once made; the bench removes it if it made it. (An rmdir of a
    // directory another mount namespace has a mount on detaches that mount: on a host whose
    // containers use /hpc, make it before the bench so that it is left alone.)
    if !c.hpc_existed && Path::new(HPC_LOCATION).exists() && fs::remove_dir(HPC_LOCATION).is_err() {
        left.push(HPC_LOCATION.to_string());
    }
    if left.iter().all(|l| !l.starts_with("mount")) {
        close_fd(c.devnull);
        close_fd(c.errlog);
        if let Err(e) = fs::remove_dir_all(&c.tmp) {
            left.push(format!("{}: {e}", c.tmp.display()));
        }
    }
    left
}
