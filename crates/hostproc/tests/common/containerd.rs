//! A private containerd for the tests that drive hostproc through it (containerd.rs with
//! `ctr`, cri.rs with a CRI client): Debian's containerd 1.6 with its root, state, sockets
//! and plugin directories in a temporary directory, the test image it imports, and the
//! host inspection both tests check "nothing left" with.
//!
//! Rules it keeps on this machine: only processes the test started are killed (containerd
//! by its pid, the shims it spawned by the temporary socket path in their command line);
//! everything it makes is under its temporary directory, apart from the shim sockets'
//! directory /run/containerd/s that containerd 1.6 always uses (removed when empty and
//! not there before).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::lc::wait_until_every;
use super::{execute_within, wait_child, walk_dirs, Output, ProcId};

/// Builds the test image (an OCI layout archive).
pub const MAKE_IMAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/containerd/make-image.sh"
);
/// Hang guard for one ctr command. Generous: other tests' bind-mode containers running in
/// parallel can make a create wait for the shared mount point lock of `/hpc`.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(180);
/// How often the waits look again: most of them run `ctr` or scan /proc.
pub const POLL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------------
// installed tools
// ---------------------------------------------------------------------------------------

/// The absolute path of an installed program, if any.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

// ---------------------------------------------------------------------------------------
// host facts
// ---------------------------------------------------------------------------------------

/// `(controllers, path)` for each line of /proc/<pid>/cgroup-formatted text.
pub fn parse_cgroups(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _n = it.next()?;
            let ctrl = it.next()?.to_owned();
            let path = it.next()?.trim().to_owned();
            Some((ctrl, path))
        })
        .collect()
}

pub fn own_cgroups() -> Vec<(String, String)> {
    parse_cgroups(&fs::read_to_string("/proc/self/cgroup").unwrap())
}

pub fn join_cgroup(base: &str, rel: &str) -> String {
    if base == "/" {
        format!("/{rel}")
    } else {
        format!("{base}/{rel}")
    }
}

/// Asserts that `payload_cgroups` (a /proc/<pid>/cgroup of a process of the container)
/// places it in `<own cgroup>/<rel>` in every hierarchy the job uses.
#[track_caller]
pub fn assert_in_job(payload_cgroups: &str, rel: &str, context: &str) {
    let own = own_cgroups();
    let theirs = parse_cgroups(payload_cgroups);
    assert!(
        !theirs.is_empty(),
        "{context}: no /proc/self/cgroup printed"
    );
    let mut in_job = 0;
    for (ctrl, path) in &theirs {
        let Some((_, mine)) = own.iter().find(|(c, _)| c == ctrl) else {
            continue;
        };
        if ctrl.contains("name=") || ctrl.split(',').any(|c| c == "devices") {
            // Named hierarchies (name=systemd) hold no controller, and hostproc sets no
            // device rules: it leaves both as the caller has them.
            continue;
        }
        if ctrl == "freezer" && theirs.iter().any(|(c, _)| c.is_empty()) {
            // Beside a v2 hierarchy the job freezes through cgroup.freeze: the v1 freezer
            // is left as the caller has it.
            assert_eq!(
                path, mine,
                "{context}: the v1 freezer was joined beside a v2 hierarchy\n{payload_cgroups}"
            );
            continue;
        }
        let expected = join_cgroup(mine, rel);
        assert_eq!(
            path, &expected,
            "{context}: hierarchy {ctrl:?}: the process is not in the job's cgroup\n\
             payload's /proc/self/cgroup:\n{payload_cgroups}"
        );
        in_job += 1;
    }
    assert!(
        in_job > 0,
        "{context}: no hierarchy compared:\n{payload_cgroups}"
    );
}

/// Every directory named `name` below /sys/fs/cgroup (following no symlinks), in every
/// hierarchy and not only beneath the test's own cgroups (as common's `cgroups_named`
/// looks): a cgroup made outside them is found too.
pub fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk_dirs(Path::new("/sys/fs/cgroup"), 12, &mut |p| {
        if p.file_name().is_some_and(|n| n.to_string_lossy() == name) {
            out.push(p.to_path_buf());
        }
    });
    out
}

/// Mount points (in the test's mount namespace) at or under `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.to_string_lossy().into_owned();
    let mut v: Vec<PathBuf> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|m| m == &dir || m.starts_with(&format!("{dir}/")))
        .map(PathBuf::from)
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    v.dedup();
    v
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Lines of /proc/self/mountinfo mentioning `needle`.
pub fn mountinfo_lines_with(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Lines of /proc/self/mountinfo whose mount point is /hpc or below it.
pub fn hpc_mounts() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .map(|m| m == "/hpc" || m.starts_with("/hpc/"))
                .unwrap_or(false)
        })
        .map(str::to_owned)
        .collect()
}

pub fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

pub fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

pub fn read_pid(path: &Path, timeout: Duration) -> Option<i32> {
    let mut pid = None;
    wait_until_every(timeout, POLL, || {
        pid = fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid
}

// ---------------------------------------------------------------------------------------
// our own containerd
// ---------------------------------------------------------------------------------------

pub struct Containerd {
    /// Everything lives here: config, root, state, sockets, opt, fifos, runc root.
    pub dir: PathBuf,
    pub sock: PathBuf,
    ctr: PathBuf,
    /// The containerd namespace the test works in (`ctr --namespace`; the CRI's is k8s.io).
    namespace: String,
    child: Option<Child>,
    /// Held while this containerd runs (see [`RunDir`]).
    run_dir: Option<RunDir>,
}

/// The 1.6 shim puts its sockets in /run/containerd/s whatever the config says. Every
/// test's containerd holds a shared `flock` (in cargo's per-workspace temporary directory)
/// while it runs; the first notes whether /run/containerd was there, and the last one to
/// go removes the two directories if the tests made them (only while empty). Deciding per
/// test left them when two containerd tests overlapped: the second found them made.
struct RunDir(fs::File);

const RUN_DIR_LOCK: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/hostproc-containerd.lock");
const RUN_DIR_NOTE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/hostproc-containerd.run");

fn flock(f: &fs::File, op: i32) -> bool {
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(f), op) } == 0 {
            return true;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

impl RunDir {
    fn hold() -> RunDir {
        let f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(RUN_DIR_LOCK)
            .expect("the containerd tests' lock file");
        assert!(flock(&f, libc::LOCK_SH), "flock {RUN_DIR_LOCK}");
        if let Ok(mut note) = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(RUN_DIR_NOTE)
        {
            let before = if Path::new("/run/containerd").exists() { "kept" } else { "made" };
            std::io::Write::write_all(&mut note, before.as_bytes()).expect("the /run note");
        }
        RunDir(f)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !flock(&self.0, libc::LOCK_EX | libc::LOCK_NB) {
            return;
        }
        if fs::read_to_string(RUN_DIR_NOTE).is_ok_and(|s| s == "made") {
            // Only empty directories go: a containerd of the host's would not be empty.
            let _ = fs::remove_dir("/run/containerd/s");
            let _ = fs::remove_dir("/run/containerd");
        }
        let _ = fs::remove_file(RUN_DIR_NOTE);
    }
}

impl Containerd {
    /// Starts containerd, or returns None (after printing why) when it is not installed.
    /// `cri`, given the temporary directory, returns the CRI plugin's part of the config
    /// (version 2); without it the CRI plugin is disabled.
    pub fn start(namespace: &str, cri: Option<&dyn Fn(&Path) -> String>) -> Option<Containerd> {
        let (Some(bin), Some(ctr)) = (find_tool("containerd"), find_tool("ctr")) else {
            println!(
                "SKIPPED: containerd and/or ctr are not installed (Debian package `containerd`); \
                 .ci/run installs them"
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("hostproc-ctrd-")
            .tempdir_in("/tmp")
            .expect("tempdir")
            .keep();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let sock = dir.join("containerd.sock");
        let d = dir.display();
        let disable_cri = if cri.is_none() {
            "\n  \"io.containerd.grpc.v1.cri\","
        } else {
            ""
        };
        let mut config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{disable_cri}
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "debug"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{d}/runtime-v1"
"#
        );
        if let Some(cri) = cri {
            config += &cri(&dir);
        }
        fs::write(dir.join("config.toml"), config).unwrap();
        for sub in ["fifo", "runc", "out"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let run_dir = Some(RunDir::hold());
        let log = fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new(&bin)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut me = Containerd {
            dir,
            sock,
            ctr,
            namespace: namespace.to_owned(),
            child: Some(child),
            run_dir,
        };
        // Wait for the socket and for the daemon to answer.
        let up = wait_until_every(Duration::from_secs(30), POLL, || {
            if me.exited() {
                return true;
            }
            me.sock.exists()
                && execute_within(me.ctr_cmd(&["version"]), Duration::from_secs(10)).ok()
        });
        let exited = me.exited();
        assert!(
            up && !exited,
            "containerd did not come up (exited: {exited})\n{}",
            me.log_tail(60)
        );
        Some(me)
    }

    /// Whether the containerd we started has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(Some(_))))
    }

    pub fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.ctr);
        c.stdin(Stdio::null())
            .arg("--address")
            .arg(&self.sock)
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args);
        c
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        execute_within(self.ctr_cmd(args), CTR_TIMEOUT)
    }

    /// Runs ctr and panics (with diagnostics) unless it exits 0.
    #[track_caller]
    pub fn ctr_ok(&self, args: &[&str]) -> Output {
        let o = self.ctr(args);
        assert!(
            o.ok(),
            "ctr {args:?} failed:\n{}\n{}",
            o.dump(),
            self.diagnostics(None)
        );
        o
    }

    pub fn log_tail(&self, n: usize) -> String {
        let log = fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!(
            "--- containerd.log (last {n} lines) ---\n{}",
            lines[from..].join("\n")
        )
    }

    /// The shim's bundle directory of a container (holds config.json and log.json).
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.dir
            .join("state/io.containerd.runtime.v2.task")
            .join(&self.namespace)
            .join(id)
    }

    /// hostproc's `--root` as the shim passes it (`<dir>/runc`, plus the namespace).
    pub fn runc_root(&self) -> PathBuf {
        self.dir.join("runc").join(&self.namespace)
    }

    pub fn diagnostics(&self, id: Option<&str>) -> String {
        let mut s = String::new();
        if let Some(id) = id {
            let log = self.bundle(id).join("log.json");
            s += &format!(
                "--- {} ---\n{}\n",
                log.display(),
                fs::read_to_string(&log).unwrap_or_else(|e| format!("<{e}>"))
            );
        }
        s += &self.log_tail(40);
        s
    }

    /// Pids of processes whose command line mentions our socket (the shims we spawned;
    /// containerd itself is known by its pid).
    pub fn our_shims(&self) -> Vec<i32> {
        let sock = self.sock.display().to_string();
        let me = std::process::id() as i32;
        let daemon = self.child.as_ref().map(|c| c.id() as i32);
        all_pids()
            .into_iter()
            .filter(|&p| p != me && Some(p) != daemon)
            .filter(|&p| {
                let c = cmdline(p);
                c.contains("containerd-shim") && c.contains(&sock)
            })
            .collect()
    }

    pub fn shim_of(&self, id: &str) -> Vec<i32> {
        let needle = format!("-id {id} ");
        self.our_shims()
            .into_iter()
            .filter(|&p| cmdline(p).contains(&needle))
            .collect()
    }

    /// Entries of hostproc's state root (`--root` as the shim passes it).
    pub fn state_entries(&self) -> Vec<String> {
        fs::read_dir(self.runc_root())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Best-effort removal of every task and container left in our namespace.
    fn remove_all(&self) {
        let quick = Duration::from_secs(30);
        let tasks = execute_within(self.ctr_cmd(&["task", "ls", "-q"]), quick);
        for id in tasks.stdout.split_whitespace() {
            let _ = execute_within(
                self.ctr_cmd(&["task", "kill", "-a", "-s", "SIGKILL", id]),
                quick,
            );
            let _ = execute_within(self.ctr_cmd(&["task", "delete", "--force", id]), quick);
        }
        let cs = execute_within(self.ctr_cmd(&["container", "ls", "-q"]), quick);
        for id in cs.stdout.split_whitespace() {
            let _ = execute_within(self.ctr_cmd(&["container", "delete", id]), quick);
        }
    }

    /// Builds the test image with `make-image.sh` (with `entrypoint` as its command if
    /// given) and imports it into our namespace as `reference`.
    pub fn import_image(&self, reference: &str, entrypoint: Option<&str>) {
        let archive = self
            .dir
            .join(format!("image-{}.tar", reference.replace(['/', ':'], "_")));
        let mut c = Command::new("/bin/sh");
        c.stdin(Stdio::null()).arg(MAKE_IMAGE);
        if let Some(e) = entrypoint {
            c.args(["--entrypoint", e]);
        }
        c.arg(&archive).arg(reference);
        let o = execute_within(c, Duration::from_secs(60));
        assert!(o.ok(), "make-image.sh failed:\n{}", o.dump());
        let archive = archive.display().to_string();
        self.ctr_ok(&["images", "import", "--all-platforms", &archive]);
        let ls = self.ctr_ok(&["images", "ls", "-q"]);
        assert!(
            ls.stdout.lines().any(|l| l.trim() == reference),
            "the imported image is not listed as {reference}:\n{}",
            ls.dump()
        );
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.remove_all();
        // containerd: the pid we started, and only it.
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own unreaped child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            // Past 10 s: SIGKILL, by its pid.
            let _ = wait_child(&mut c, Instant::now() + Duration::from_secs(10));
        }
        // Shims it spawned (re-parented away from us): by the socket in their cmdline.
        let shims = self.our_shims();
        let procs: Vec<ProcId> = shims.iter().filter_map(|&p| ProcId::of(p)).collect();
        // SIGKILL to each shim of our containerd, checked by start time.
        for p in &procs {
            p.kill();
        }
        wait_until_every(Duration::from_secs(5), POLL, || {
            procs.iter().all(|p| !p.alive())
        });
        // Snapshot mounts (overlay/bind) and network namespaces containerd may have left
        // under its root and state.
        for m in mounts_under(&self.dir) {
            let c = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: umount2 with a valid C string.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = fs::remove_dir_all(&self.dir);
        // Last, with our shims gone.
        self.run_dir.take();
    }
}
