//! containerd drives hostproc as its runc.
//!
//! This test starts a containerd of its own (Debian's package, 1.6) whose root, state,
//! sockets and plugin directories all live in a temporary directory, imports a small image
//! it builds itself (an OCI layout archive made by `containerd/make-image.sh`), and runs it
//! with `ctr run --runc-binary <hostproc>` to show the HostProcess behaviour through
//! containerd's runc shim (`io.containerd.runc.v2`):
//!
//! * the payload shares the host's PID and network namespaces;
//! * `$CONTAINER_SANDBOX_MOUNT_POINT` is set and the image's files are readable there;
//! * `ctr run --rm` exits with the payload's exit code;
//! * `ctr task exec` joins the container's job (its cgroup);
//! * `ctr task kill` (SIGTERM to init) and `ctr task kill -a -s SIGKILL` stop every
//!   process of the container, background and re-parented ones included;
//! * after `ctr task delete` / `ctr container delete` nothing is left: no cgroup, no
//!   mount, nothing in hostproc's state root, no process.
//!
//! Rules it keeps on this machine: the job's cgroup is given as a RELATIVE `cgroupsPath`
//! (`ctr run --cgroup hptest-<pid>/<id>`), which hostproc places beneath the caller's own
//! cgroup in each hierarchy (the shim, started by our containerd, is in the test's own
//! cgroups), so nothing is created outside it and the machine-managed memory cgroup is
//! never written. Only processes this test started (containerd, found by its pid, and the
//! shims it spawned, found by the temporary socket path in their command line) are killed.
//!
//! When `containerd` or `ctr` is not installed the test prints why and passes; `.ci/run`
//! installs them, so CI always runs it.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::lc::wait_until_every;
use common::{execute_within, own_ns, wait_child, walk_dirs, Live, Output, ProcId, HOSTPROC};

const MAKE_IMAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/containerd/make-image.sh"
);
const NAMESPACE: &str = "hptest";
const IMAGE: &str = "hptest.local/hostproc/hello:v1";
/// Hang guard for one ctr command. Generous: other tests' bind-mode containers running in
/// parallel can make a create wait for the shared mount point lock of `/hpc`.
const CTR_TIMEOUT: Duration = Duration::from_secs(180);
/// How often the waits below look again: most of them run `ctr` or scan /proc.
const POLL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------------
// installed tools
// ---------------------------------------------------------------------------------------

/// The absolute path of an installed program, if any.
fn find_tool(name: &str) -> Option<PathBuf> {
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
fn parse_cgroups(text: &str) -> Vec<(String, String)> {
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

fn own_cgroups() -> Vec<(String, String)> {
    parse_cgroups(&fs::read_to_string("/proc/self/cgroup").unwrap())
}

fn join_cgroup(base: &str, rel: &str) -> String {
    if base == "/" {
        format!("/{rel}")
    } else {
        format!("{base}/{rel}")
    }
}

/// Asserts that `payload_cgroups` (a /proc/self/cgroup printed by a process of the
/// container) places it in `<own cgroup>/<rel>` in every hierarchy the job uses.
#[track_caller]
fn assert_in_job(payload_cgroups: &str, rel: &str, context: &str) {
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
            assert_eq!(path, mine, "{context}: the v1 freezer was joined beside a v2 hierarchy\n{payload_cgroups}");
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
fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk_dirs(Path::new("/sys/fs/cgroup"), 12, &mut |p| {
        if p.file_name().is_some_and(|n| n.to_string_lossy() == name) {
            out.push(p.to_path_buf());
        }
    });
    out
}

/// Mount points (in the test's mount namespace) at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
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
fn mountinfo_lines_with(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Lines of /proc/self/mountinfo whose mount point is /hpc or below it.
fn hpc_mounts() -> Vec<String> {
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

fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// our own containerd
// ---------------------------------------------------------------------------------------

struct Containerd {
    /// Everything lives here: config, root, state, sockets, opt, fifos, runc root.
    dir: PathBuf,
    sock: PathBuf,
    ctr: PathBuf,
    child: Option<Child>,
    /// Whether /run/containerd existed before (the 1.6 shim puts its sockets in
    /// /run/containerd/s whatever the config says).
    run_containerd_existed: bool,
}

impl Containerd {
    /// Starts containerd, or returns None (after printing why) when it is not installed.
    fn start() -> Option<Containerd> {
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
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
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
        fs::write(dir.join("config.toml"), config).unwrap();
        for sub in ["fifo", "runc", "out"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let run_containerd_existed = Path::new("/run/containerd").exists();
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
            child: Some(child),
            run_containerd_existed,
        };
        // Wait for the socket and for the daemon to answer.
        let up = wait_until_every(Duration::from_secs(30), POLL, || {
            if let Some(c) = me.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    return true;
                }
            }
            me.sock.exists()
                && execute_within(me.ctr_cmd(&["version"]), Duration::from_secs(10)).ok()
        });
        let exited = matches!(me.child.as_mut().map(|c| c.try_wait()), Some(Ok(Some(_))));
        assert!(
            up && !exited,
            "containerd did not come up (exited: {exited})\n{}",
            me.log_tail(60)
        );
        Some(me)
    }

    fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.ctr);
        c.stdin(Stdio::null())
            .arg("--address")
            .arg(&self.sock)
            .arg("--namespace")
            .arg(NAMESPACE)
            .args(args);
        c
    }

    fn ctr(&self, args: &[&str]) -> Output {
        execute_within(self.ctr_cmd(args), CTR_TIMEOUT)
    }

    /// Runs ctr and panics (with diagnostics) unless it exits 0.
    #[track_caller]
    fn ctr_ok(&self, args: &[&str]) -> Output {
        let o = self.ctr(args);
        assert!(
            o.ok(),
            "ctr {args:?} failed:\n{}\n{}",
            o.dump(),
            self.diagnostics(None)
        );
        o
    }

    fn log_tail(&self, n: usize) -> String {
        let log = fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!(
            "--- containerd.log (last {n} lines) ---\n{}",
            lines[from..].join("\n")
        )
    }

    /// The shim's bundle directory of a container (holds config.json and log.json).
    fn bundle(&self, id: &str) -> PathBuf {
        self.dir
            .join("state/io.containerd.runtime.v2.task")
            .join(NAMESPACE)
            .join(id)
    }

    /// hostproc's `--root` as the shim passes it (`--runc-root <dir>/runc`, plus the
    /// namespace).
    fn runc_root(&self) -> PathBuf {
        self.dir.join("runc").join(NAMESPACE)
    }

    fn diagnostics(&self, id: Option<&str>) -> String {
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

    /// `ctr run` arguments common to every container of this test.
    fn run_args(&self, cgroup: &str) -> Vec<String> {
        vec![
            "--fifo-dir".into(),
            self.dir.join("fifo").display().to_string(),
            "--runc-binary".into(),
            HOSTPROC.into(),
            "--runc-root".into(),
            self.dir.join("runc").display().to_string(),
            "--net-host".into(),
            "--cgroup".into(),
            cgroup.into(),
        ]
    }

    /// The status column of `ctr task ls` for `id`, if the task exists.
    fn task_status(&self, id: &str) -> Option<String> {
        let o = self.ctr(&["task", "ls"]);
        o.stdout.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_string())
        })
    }

    /// Pids of processes whose command line mentions our socket (the shims we spawned;
    /// containerd itself is known by its pid).
    fn our_shims(&self) -> Vec<i32> {
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

    fn shim_of(&self, id: &str) -> Vec<i32> {
        let needle = format!("-id {id} ");
        self.our_shims()
            .into_iter()
            .filter(|&p| cmdline(p).contains(&needle))
            .collect()
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
        // Snapshot mounts (overlay/bind) containerd may have left under its root.
        for m in mounts_under(&self.dir) {
            let c = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: umount2 with a valid C string.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = fs::remove_dir_all(&self.dir);
        if !self.run_containerd_existed {
            // Only empty directories go; a parallel containerd's would not be empty.
            let _ = fs::remove_dir("/run/containerd/s");
            let _ = fs::remove_dir("/run/containerd");
        }
    }
}

// ---------------------------------------------------------------------------------------
// the image
// ---------------------------------------------------------------------------------------

fn import_image(cd: &Containerd) {
    let archive = cd.dir.join("image.tar");
    let mut c = Command::new("/bin/sh");
    c.stdin(Stdio::null())
        .arg(MAKE_IMAGE)
        .arg(&archive)
        .arg(IMAGE);
    let o = execute_within(c, Duration::from_secs(60));
    assert!(o.ok(), "make-image.sh failed:\n{}", o.dump());
    let archive = archive.display().to_string();
    cd.ctr_ok(&["images", "import", "--all-platforms", &archive]);
    let ls = cd.ctr_ok(&["images", "ls", "-q"]);
    assert!(
        ls.stdout.lines().any(|l| l.trim() == IMAGE),
        "the imported image is not listed as {IMAGE}:\n{}",
        ls.dump()
    );
}

// ---------------------------------------------------------------------------------------
// checks
// ---------------------------------------------------------------------------------------

/// Nothing of container `id` is left: no cgroup, no mount, no hostproc state, no shim.
#[track_caller]
fn assert_nothing_left(cd: &Containerd, id: &str, cgroup_parent: &str) {
    let ok = wait_until_every(Duration::from_secs(15), POLL, || {
        cgroup_dirs_named(id).is_empty() && cd.shim_of(id).is_empty()
    });
    let dirs = cgroup_dirs_named(id);
    assert!(ok || dirs.is_empty(), "cgroups of {id} left: {dirs:?}");
    let parents = cgroup_dirs_named(cgroup_parent);
    let parents_nonempty: Vec<_> = parents
        .iter()
        .filter(|p| {
            fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .any(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                })
                .unwrap_or(false)
        })
        .collect();
    assert!(
        parents_nonempty.is_empty(),
        "the cgroup parent {cgroup_parent} still holds cgroups: {parents_nonempty:?}"
    );
    let shims = cd.shim_of(id);
    assert!(
        shims.is_empty(),
        "the shim of {id} is still running: {:?}",
        shims.iter().map(|&p| (p, cmdline(p))).collect::<Vec<_>>()
    );
    let mine = mountinfo_lines_with(&cd.dir.display().to_string());
    assert!(
        mine.is_empty(),
        "mounts under the test's directory left:\n{}",
        mine.join("\n")
    );
    let hpc = hpc_mounts();
    assert!(
        hpc.is_empty(),
        "mounts at /hpc left on the host:\n{}",
        hpc.join("\n")
    );
    let root = cd.runc_root();
    let entries: Vec<String> = fs::read_dir(&root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !entries.iter().any(|e| e.contains(id)),
        "hostproc's state root {} still holds {id}: {entries:?}",
        root.display()
    );
}

fn read_pid(path: &Path, timeout: Duration) -> Option<i32> {
    let mut pid = None;
    wait_until_every(timeout, POLL, || {
        pid = fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid
}

/// The pids `ctr task ps` lists for `id` (the shim gets them from `hostproc ps`).
fn task_pids(cd: &Containerd, id: &str) -> Vec<i32> {
    let o = cd.ctr_ok(&["task", "ps", id]);
    o.stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Starts a detached container whose init leaves background processes behind:
/// a plain `sleep`, one in a new session (setsid) whose parent exits (re-parented), and
/// one that ignores SIGTERM. Returns the init and the background processes.
fn start_detached(cd: &Containerd, id: &str, cgroup: &str) -> (ProcId, Vec<ProcId>) {
    let out = cd.dir.join("out").join(id);
    fs::create_dir_all(&out).unwrap();
    let o = out.display();
    let script = format!(
        "sleep 1000 & echo $! > {o}/bg1.tmp && mv {o}/bg1.tmp {o}/bg1; \
         setsid sh -c 'sleep 1001 & echo $! > {o}/bg2.tmp && mv {o}/bg2.tmp {o}/bg2' & \
         sh -c 'trap \"\" TERM; echo $$ > {o}/bg3.tmp && mv {o}/bg3.tmp {o}/bg3; while :; do sleep 1; done' & \
         echo $$ > {o}/init.tmp && mv {o}/init.tmp {o}/init; \
         wait"
    );
    let mut args: Vec<String> = vec!["run".into(), "--detach".into(), "--null-io".into()];
    args.extend(cd.run_args(cgroup));
    args.extend([
        IMAGE.into(),
        id.into(),
        "/bin/sh".into(),
        "-c".into(),
        script,
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = cd.ctr(&args);
    assert!(
        r.ok(),
        "ctr run --detach {id} failed:\n{}\n{}",
        r.dump(),
        cd.diagnostics(Some(id))
    );
    let t = Duration::from_secs(30);
    let init = read_pid(&out.join("init"), t).unwrap_or_else(|| {
        panic!(
            "{id}: the payload never started\n{}",
            cd.diagnostics(Some(id))
        )
    });
    let mut bg = Vec::new();
    for f in ["bg1", "bg2", "bg3"] {
        let pid = read_pid(&out.join(f), t)
            .unwrap_or_else(|| panic!("{id}: no {f} pid\n{}", cd.diagnostics(Some(id))));
        bg.push(ProcId::of(pid).unwrap_or_else(|| panic!("{id}: {f} ({pid}) is not running")));
    }
    let init = ProcId::of(init).unwrap_or_else(|| panic!("{id}: init ({init}) is not running"));
    assert_eq!(
        cd.task_status(id).as_deref(),
        Some("RUNNING"),
        "{id}: task not RUNNING\n{}",
        cd.diagnostics(Some(id))
    );
    (init, bg)
}

/// Waits for the task to be STOPPED and every given process to be gone.
#[track_caller]
fn assert_all_stopped(cd: &Containerd, id: &str, procs: &[ProcId], how: &str) {
    let stopped = wait_until_every(Duration::from_secs(30), POLL, || {
        cd.task_status(id).as_deref() == Some("STOPPED")
    });
    assert!(
        stopped,
        "{id}: task not STOPPED after {how}: {:?}\n{}",
        cd.task_status(id),
        cd.diagnostics(Some(id))
    );
    let gone = wait_until_every(Duration::from_secs(15), POLL, || {
        procs.iter().all(|p| !p.alive())
    });
    let alive: Vec<(i32, String)> = procs
        .iter()
        .filter(|p| p.alive())
        .map(|p| (p.pid, cmdline(p.pid)))
        .collect();
    // Leave nothing running even when the assertion fails: these are the container's
    // processes, identified by pid and start time.
    for p in procs {
        p.kill();
    }
    assert!(
        gone,
        "{id}: processes still running after {how}: {alive:?}\n{}",
        cd.diagnostics(Some(id))
    );
}

/// Deletes the task and the container, returning the exit code `ctr task delete` reports
/// (ctr 1.6 warns `task ID exit with non-zero exit code N` and exits 0).
fn delete_task(cd: &Containerd, id: &str) -> i32 {
    let o = cd.ctr(&["task", "delete", id]);
    assert!(
        o.ok(),
        "ctr task delete {id}:\n{}\n{}",
        o.dump(),
        cd.diagnostics(Some(id))
    );
    cd.ctr_ok(&["container", "delete", id]);
    let marker = "exit with non-zero exit code ";
    o.stderr
        .find(marker)
        .and_then(|i| {
            o.stderr[i + marker.len()..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// the test
// ---------------------------------------------------------------------------------------

#[test]
fn containerd_runs_hostprocess_containers() {
    // hostproc runs here without a test state root: hold the tests' live lock all the same
    // (dropped last), so that no other test's end removes /hpc from under this one.
    let _live = Live::new();
    let Some(cd) = Containerd::start() else {
        return;
    };
    import_image(&cd);

    let tag = format!("{}", std::process::id());
    // A relative cgroupsPath: hostproc puts it beneath the caller's own cgroups.
    let parent = format!("hptest-{tag}");
    let host_pid_ns = own_ns("pid");
    let host_net_ns = own_ns("net");

    // 1. ctr run --rm: namespaces, sandbox, image files, PATH, job, exit code.
    {
        let id = format!("hp-rm-{tag}");
        let cgroup = format!("{parent}/{id}");
        let script = "echo pidns=$(readlink /proc/self/ns/pid); \
                      echo netns=$(readlink /proc/self/ns/net); \
                      echo sandbox=$CONTAINER_SANDBOX_MOUNT_POINT; \
                      echo file=$(cat \"$CONTAINER_SANDBOX_MOUNT_POINT/hello.txt\"); \
                      \"$CONTAINER_SANDBOX_MOUNT_POINT/hello.sh\"; \
                      echo tool=$(hpc-tool a b); \
                      echo from_image=$FROM_IMAGE; \
                      echo cgroups-begin; cat /proc/self/cgroup; echo cgroups-end; \
                      exit 7";
        let mut args: Vec<String> = vec!["run".into(), "--rm".into()];
        args.extend(cd.run_args(&cgroup));
        args.extend([
            IMAGE.into(),
            id.clone(),
            "/bin/sh".into(),
            "-c".into(),
            script.into(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = cd.ctr(&args);
        let diag = || format!("{}\n{}", o.dump(), cd.diagnostics(Some(&id)));
        assert!(!o.timed_out, "ctr run --rm hung:\n{}", diag());
        assert_eq!(
            o.code,
            Some(7),
            "ctr run --rm must exit with the payload's status 7:\n{}",
            diag()
        );
        assert_eq!(
            o.value("pidns").as_deref(),
            Some(host_pid_ns.as_str()),
            "host PID namespace:\n{}",
            diag()
        );
        assert_eq!(
            o.value("netns").as_deref(),
            Some(host_net_ns.as_str()),
            "host network namespace:\n{}",
            diag()
        );
        let sandbox = o.value("sandbox").unwrap_or_default();
        assert_eq!(
            sandbox,
            "/hpc",
            "CONTAINER_SANDBOX_MOUNT_POINT (bind mode default):\n{}",
            diag()
        );
        assert_eq!(
            o.value("file").as_deref(),
            Some("file from the image"),
            "{}",
            diag()
        );
        assert!(
            o.stdout.contains("hello from the image, sandbox=/hpc"),
            "the image's script did not run:\n{}",
            diag()
        );
        assert_eq!(
            o.value("tool").as_deref(),
            Some("hpc-tool a b"),
            "sandbox bin dir on PATH:\n{}",
            diag()
        );
        assert_eq!(
            o.value("from_image").as_deref(),
            Some("yes"),
            "the image's Env:\n{}",
            diag()
        );
        let cg = o
            .stdout
            .split("cgroups-begin\n")
            .nth(1)
            .and_then(|s| s.split("cgroups-end").next())
            .unwrap_or_default();
        assert_in_job(cg, &cgroup, "ctr run --rm payload");
        assert_nothing_left(&cd, &id, &parent);
        assert!(
            cd.task_status(&id).is_none(),
            "--rm left the task behind: {:?}",
            cd.task_status(&id)
        );
    }

    // 2. detached: exec joins the job, ps lists everything, kill (SIGTERM) stops all.
    {
        let id = format!("hp-term-{tag}");
        let cgroup = format!("{parent}/{id}");
        let (init, bg) = start_detached(&cd, &id, &cgroup);

        let o = cd.ctr(&[
            "task",
            "exec",
            "--fifo-dir",
            &cd.dir.join("fifo").display().to_string(),
            "--exec-id",
            "probe",
            &id,
            "/bin/sh",
            "-c",
            "echo pidns=$(readlink /proc/self/ns/pid); \
             echo sandbox=$CONTAINER_SANDBOX_MOUNT_POINT; \
             echo file=$(cat \"$CONTAINER_SANDBOX_MOUNT_POINT/hello.txt\"); \
             echo cgroups-begin; cat /proc/self/cgroup; echo cgroups-end; exit 3",
        ]);
        let diag = || format!("{}\n{}", o.dump(), cd.diagnostics(Some(&id)));
        assert_eq!(
            o.code,
            Some(3),
            "ctr task exec must exit with the process's status:\n{}",
            diag()
        );
        assert_eq!(
            o.value("pidns").as_deref(),
            Some(host_pid_ns.as_str()),
            "{}",
            diag()
        );
        assert_eq!(o.value("sandbox").as_deref(), Some("/hpc"), "{}", diag());
        assert_eq!(
            o.value("file").as_deref(),
            Some("file from the image"),
            "{}",
            diag()
        );
        let cg = o
            .stdout
            .split("cgroups-begin\n")
            .nth(1)
            .and_then(|s| s.split("cgroups-end").next())
            .unwrap_or_default();
        assert_in_job(cg, &cgroup, "ctr task exec process");

        let pids = task_pids(&cd, &id);
        for p in std::iter::once(&init).chain(bg.iter()) {
            assert!(
                pids.contains(&p.pid),
                "ctr task ps {id} does not list {} ({}): {pids:?}",
                p.pid,
                cmdline(p.pid)
            );
        }

        cd.ctr_ok(&["task", "kill", &id]);
        let mut all = vec![init];
        all.extend(bg.iter().copied());
        assert_all_stopped(&cd, &id, &all, "ctr task kill (SIGTERM)");
        let code = delete_task(&cd, &id);
        assert_eq!(
            code, 143,
            "exit status of an init ended by SIGTERM (128+15)"
        );
        assert_nothing_left(&cd, &id, &parent);
    }

    // 3. detached: kill --all SIGKILL stops every process at once.
    {
        let id = format!("hp-kill-{tag}");
        let cgroup = format!("{parent}/{id}");
        let (init, bg) = start_detached(&cd, &id, &cgroup);
        cd.ctr_ok(&["task", "kill", "--all", "--signal", "SIGKILL", &id]);
        let mut all = vec![init];
        all.extend(bg.iter().copied());
        assert_all_stopped(&cd, &id, &all, "ctr task kill -a -s SIGKILL");
        let code = delete_task(&cd, &id);
        assert_eq!(code, 137, "exit status of an init ended by SIGKILL (128+9)");
        assert_nothing_left(&cd, &id, &parent);
    }

    // Nothing of ours is left in containerd either.
    let tasks = cd.ctr_ok(&["task", "ls", "-q"]);
    assert!(
        tasks.stdout.trim().is_empty(),
        "tasks left: {}",
        tasks.stdout
    );
    let cs = cd.ctr_ok(&["container", "ls", "-q"]);
    assert!(
        cs.stdout.trim().is_empty(),
        "containers left: {}",
        cs.stdout
    );
    assert!(
        cgroup_dirs_named(&parent).is_empty(),
        "the cgroup parent {parent} is left: {:?}",
        cgroup_dirs_named(&parent)
    );
}
