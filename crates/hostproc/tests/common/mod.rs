//! Shared helpers for hostproc's integration tests.
//!
//! The tests run the real `hostproc` binary as root on this host. Each test uses its own
//! state directory (`--root`, a temporary directory), its own bundle and unique container
//! ids, so that the tests can run in parallel (cargo-nextest runs every test in its own
//! process). Payloads are host programs, mostly `/bin/sh -c '...'`: a test inspects the
//! behaviour by making the payload print what it sees on its standard output.
//!
//! Rules these helpers follow on this machine:
//! * the test process's own memory cgroup is managed by the machine: we never write its
//!   files and never move a process out of it; cgroups are only ever created (by hostproc)
//!   beneath the caller's own cgroup, and tests that want a specific `cgroupsPath` use a
//!   relative one;
//! * a process is only ever killed by the pid this module started.
#![allow(dead_code)]

/// Helpers for the runc-style lifecycle tests.
pub mod lc;
/// A private containerd (containerd.rs and cri.rs).
pub mod containerd;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tempfile::TempDir;

/// The binary under test.
pub const HOSTPROC: &str = env!("CARGO_BIN_EXE_hostproc");

/// How long any single `hostproc` invocation may take before the test gives up on it.
/// Generous: this is a hang guard, not a performance assertion.
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// The PATH hostproc gives a payload whose spec has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---------------------------------------------------------------------------------------
// ids and directories
// ---------------------------------------------------------------------------------------

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A container id unique across parallel test processes: `hpt-<tag>-<pid>-<n>-<nanos>`.
/// Short enough for a cgroup directory name.
pub fn unique_id(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 1_000_000;
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    format!("hpt-{tag}-{}-{n}-{nanos}", std::process::id())
}

/// A temporary directory made world-traversable (0755), so that payloads running as
/// another user can reach files inside it.
pub fn tempdir() -> TempDir {
    let d = tempfile::Builder::new()
        .prefix("hostproc-test-")
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// The state directory given to hostproc with `--root`.
pub struct Root {
    dir: TempDir,
    /// Dropped after the containers are taken down (fields drop after `drop`).
    _live: Live,
}

/// Held by every test that runs hostproc (a [`Root`] holds one) for as long as it does:
/// a shared `flock` across the parallel test processes. The last one to go cleans up what
/// hostproc keeps between containers ([`remove_kept`]).
pub struct Live(fs::File);

impl Live {
    pub fn new() -> Live {
        let live = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(LIVE_LOCK)
            .expect("the tests' lock file");
        flock(&live, libc::LOCK_SH);
        // The first of a run notes whether /hpc was there before (every one tries, before it
        // runs hostproc; the note goes only when an end has taken /hpc away or left it).
        if let Ok(mut f) = fs::OpenOptions::new().write(true).create_new(true).open(HPC_MARK) {
            let before = if Path::new(HPC).exists() { "kept" } else { "made" };
            std::io::Write::write_all(&mut f, before.as_bytes()).expect("the tests' /hpc note");
        }
        Live(live)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if try_flock(&self.0, libc::LOCK_EX | libc::LOCK_NB) {
            remove_kept();
        }
    }
}

impl Root {
    pub fn new() -> Root {
        Root { _live: Live::new(), dir: tempdir() }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Every entry below the root, as paths relative to it.
    pub fn entries(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(self.path(), 8, &mut |p| {
            out.push(p.strip_prefix(self.path()).unwrap().to_path_buf())
        });
        out
    }
}

impl Default for Root {
    fn default() -> Self {
        Root::new()
    }
}

impl Drop for Root {
    /// A test that fails half-way leaves its containers: take them down (cgroups, mounts,
    /// ephemeral users) before the root goes, so that one red test does not also leave the
    /// host dirty. A passing test has deleted them already and this finds nothing.
    fn drop(&mut self) {
        for e in fs::read_dir(self.path()).into_iter().flatten().flatten() {
            if fs::symlink_metadata(e.path().join("state.json")).is_ok_and(|m| m.is_file()) {
                let _ = Command::new(HOSTPROC)
                    .arg("--root")
                    .arg(self.path())
                    .args(["delete", "--force"])
                    .arg(e.file_name())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// Every [`Live`] holds a shared `flock` on this file (in cargo's per-workspace temporary
/// directory, not on the host) for its life, across the parallel test processes.
const LIVE_LOCK: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/hostproc-tests.lock");
/// Whether /hpc existed before the run ("kept") or the tests made it ("made").
const HPC_MARK: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/hostproc-tests.hpc");
const HPC: &str = "/hpc";

fn try_flock(f: &fs::File, op: i32) -> bool {
    loop {
        // SAFETY: flock on a descriptor the caller owns.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(f), op) } == 0 {
            return true;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

fn flock(f: &fs::File, op: i32) {
    assert!(try_flock(f, op), "flock {LIVE_LOCK}: {}", std::io::Error::last_os_error());
}

/// What hostproc keeps between containers, made by the tests, removed by the last test
/// of a run (docs/reliability.md): hostproc's parent cgroup `<own cgroup>/hostproc` in
/// each hierarchy where it is empty (rmdir refuses a cgroup with children or processes,
/// so another user's containers are never touched), and /hpc if the run made it and no
/// mount namespace on the host has a mount on it (an rmdir of a mount point in another
/// namespace would succeed and detach that mount from under its container).
fn remove_kept() {
    for own in own_cgroup_dirs() {
        let _ = fs::remove_dir(own.join("hostproc"));
    }
    match fs::read_to_string(HPC_MARK).as_deref() {
        Ok("made") => {
            // A killed container's mount namespace goes as its last process exits: give
            // that a moment. The note stays while /hpc does, for a later end to finish.
            let free = (0..20).any(|_| !mounted_anywhere(HPC) || (std::thread::sleep(Duration::from_millis(50)), false).1);
            if free && fs::remove_dir(HPC).is_ok() || !Path::new(HPC).exists() {
                let _ = fs::remove_file(HPC_MARK);
            }
        }
        _ => {
            let _ = fs::remove_file(HPC_MARK);
        }
    }
}

/// Whether any process's mount namespace has a mount at `dir`.
fn mounted_anywhere(dir: &str) -> bool {
    let Ok(rd) = fs::read_dir("/proc") else { return true };
    rd.flatten().filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit())).any(|e| {
        fs::read_to_string(e.path().join("mountinfo"))
            .is_ok_and(|m| m.lines().any(|l| l.split_whitespace().nth(4) == Some(dir)))
    })
}

fn walk(dir: &Path, depth: usize, f: &mut dyn FnMut(&Path)) {
    if depth == 0 {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        f(&p);
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&p, depth - 1, f);
        }
    }
}

// ---------------------------------------------------------------------------------------
// bundles
// ---------------------------------------------------------------------------------------

/// An OCI bundle in a temporary directory: `config.json` plus `rootfs/` holding a few
/// files. The config starts as a minimal HostProcess spec running `/bin/true` as root and
/// is changed with the builder methods; it is written by [`Bundle::write`] (which the run
/// helpers call).
pub struct Bundle {
    dir: TempDir,
    pub config: Value,
    marker: String,
}

impl Bundle {
    pub fn new() -> Bundle {
        let dir = tempdir();
        let rootfs = dir.path().join("rootfs");
        fs::create_dir(&rootfs).unwrap();
        fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o755)).unwrap();
        // A file name unique to this bundle, so that a test can tell this rootfs's files
        // apart from any other container's (tests run in parallel and share `/hpc`).
        let marker = format!("marker-{}", unique_id("m"));
        let b = Bundle {
            dir,
            config: json!({
                "ociVersion": "1.2.0",
                "process": {
                    "terminal": false,
                    "user": { "uid": 0, "gid": 0 },
                    "args": ["/bin/true"],
                    "env": [format!("PATH={DEFAULT_PATH}")],
                    "cwd": "/"
                },
                "root": { "path": "rootfs" },
                "annotations": { "microsoft.com/hostprocess-container": "true" },
                "linux": {}
            }),
            marker: marker.clone(),
        };
        b.write_file(&marker, "marker\n", 0o644);
        b.write_file("hello.txt", "hello from the rootfs\n", 0o644);
        b.write_file(
            "bin/hello-tool",
            "#!/bin/sh\necho hello-tool \"$@\"\n",
            0o755,
        );
        b.write_file("etc/app.conf", "key=value\n", 0o644);
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }
    /// The name of a file unique to this bundle, at the top of its rootfs.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// Writes a file into the rootfs (parents created).
    pub fn write_file(&self, rel: &str, contents: &str, mode: u32) -> PathBuf {
        let p = self.rootfs().join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, contents).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn process(&mut self) -> &mut serde_json::Map<String, Value> {
        self.config["process"].as_object_mut().unwrap()
    }
    fn linux(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.config["linux"].is_object() {
            self.config["linux"] = json!({});
        }
        self.config["linux"].as_object_mut().unwrap()
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.process().insert("args".into(), json!(args));
        self
    }
    /// `process.args = ["/bin/sh", "-c", script]`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["/bin/sh", "-c", script])
    }
    pub fn env(&mut self, env: &[&str]) -> &mut Self {
        self.process().insert("env".into(), json!(env));
        self
    }
    pub fn no_env(&mut self) -> &mut Self {
        self.process().remove("env");
        self
    }
    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.process().insert("cwd".into(), json!(cwd));
        self
    }
    pub fn user(
        &mut self,
        uid: u32,
        gid: u32,
        additional: &[u32],
        umask: Option<u32>,
    ) -> &mut Self {
        let mut u = json!({ "uid": uid, "gid": gid });
        if !additional.is_empty() {
            u["additionalGids"] = json!(additional);
        }
        if let Some(m) = umask {
            u["umask"] = json!(m);
        }
        self.process().insert("user".into(), u);
        self
    }
    /// Sets any `process` field (capabilities, rlimits, noNewPrivileges, oomScoreAdj...).
    pub fn process_field(&mut self, key: &str, value: Value) -> &mut Self {
        self.process().insert(key.into(), value);
        self
    }
    pub fn annotation(&mut self, key: &str, value: &str) -> &mut Self {
        if !self.config["annotations"].is_object() {
            self.config["annotations"] = json!({});
        }
        self.config["annotations"][key] = json!(value);
        self
    }
    pub fn remove_annotation(&mut self, key: &str) -> &mut Self {
        if let Some(a) = self.config["annotations"].as_object_mut() {
            a.remove(key);
        }
        self
    }
    /// The grace period annotation (`hostproc.io/grace-period`).
    pub fn grace(&mut self, value: &str) -> &mut Self {
        self.annotation("hostproc.io/grace-period", value)
    }
    /// `hostproc.io/mount-mode: host`.
    pub fn host_mode(&mut self) -> &mut Self {
        self.annotation("hostproc.io/mount-mode", "host")
    }
    /// Adds a mount to the spec.
    pub fn mount(
        &mut self,
        destination: &str,
        typ: &str,
        source: &str,
        options: &[&str],
    ) -> &mut Self {
        if !self.config["mounts"].is_array() {
            self.config["mounts"] = json!([]);
        }
        self.config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": destination,
            "type": typ,
            "source": source,
            "options": options,
        }));
        self
    }
    /// A bind mount of `source` (a host path) at `destination`.
    pub fn bind(&mut self, source: &Path, destination: &str, options: &[&str]) -> &mut Self {
        let mut opts = vec!["rbind"];
        opts.extend_from_slice(options);
        self.mount(destination, "bind", source.to_str().unwrap(), &opts)
    }
    /// Merges `value` (an object) into `linux.resources`.
    pub fn resources(&mut self, value: Value) -> &mut Self {
        let linux = self.linux();
        let res = linux.entry("resources").or_insert_with(|| json!({}));
        merge(res, value);
        self
    }
    pub fn cgroups_path(&mut self, path: &str) -> &mut Self {
        self.linux().insert("cgroupsPath".into(), json!(path));
        self
    }
    pub fn namespaces(&mut self, value: Value) -> &mut Self {
        self.linux().insert("namespaces".into(), value);
        self
    }
    /// Sets an arbitrary top-level or nested value, e.g. `set(&["root", "readonly"], true)`.
    pub fn set(&mut self, path: &[&str], value: Value) -> &mut Self {
        let mut v = &mut self.config;
        for (i, k) in path.iter().enumerate() {
            if i + 1 == path.len() {
                v[*k] = value;
                break;
            }
            if !v[*k].is_object() {
                v[*k] = json!({});
            }
            v = &mut v[*k];
        }
        self
    }

    /// Writes `config.json`.
    pub fn write(&self) {
        fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

// ---------------------------------------------------------------------------------------
// running hostproc
// ---------------------------------------------------------------------------------------

/// What one hostproc invocation did.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code, `None` if it was ended by a signal.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// True when the test gave up waiting and killed hostproc.
    pub timed_out: bool,
}

impl Output {
    /// The exit code; panics with the whole output if hostproc did not exit normally.
    pub fn code(&self) -> i32 {
        match self.code {
            Some(c) if !self.timed_out => c,
            _ => panic!("hostproc did not exit normally:\n{}", self.dump()),
        }
    }
    pub fn dump(&self) -> String {
        format!(
            "exit code: {:?}, signal: {:?}, timed out: {}, elapsed: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.signal, self.timed_out, self.elapsed, self.stdout, self.stderr
        )
    }
    /// True when the command exited 0 (and was not killed by the hang guard).
    pub fn ok(&self) -> bool {
        !self.timed_out && self.code == Some(0)
    }
    /// Asserts the exit code, showing everything on failure.
    #[track_caller]
    pub fn assert_code(&self, expected: i32) -> &Self {
        assert!(
            !self.timed_out && self.code == Some(expected),
            "expected exit code {expected}, got:\n{}",
            self.dump()
        );
        self
    }
    /// Asserts that hostproc failed cleanly: exit 1 with a message on stderr.
    #[track_caller]
    pub fn assert_error(&self) -> &Self {
        self.assert_code(1);
        assert!(
            !self.stderr.trim().is_empty(),
            "expected an error message on stderr:\n{}",
            self.dump()
        );
        self
    }
    /// The value printed by the payload as `key=value` (first occurrence) on stdout.
    pub fn value(&self, key: &str) -> Option<String> {
        let prefix = format!("{key}=");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
    }
    #[track_caller]
    pub fn must_value(&self, key: &str) -> String {
        self.value(key)
            .unwrap_or_else(|| panic!("payload printed no `{key}=`:\n{}", self.dump()))
    }
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lines().map(str::to_owned).collect()
    }
}

/// A `hostproc --root ROOT ...` command (no other arguments yet).
pub fn command(root: &Root) -> Command {
    let mut c = Command::new(HOSTPROC);
    c.arg("--root").arg(root.path());
    c.stdin(Stdio::null());
    c
}

/// A `hostproc --root ROOT run --bundle BUNDLE ID` command; the bundle's config is written.
pub fn run_command(root: &Root, bundle: &Bundle, id: &str) -> Command {
    bundle.write();
    let mut c = command(root);
    c.arg("run").arg("--bundle").arg(bundle.path()).arg(id);
    c
}

/// Runs `hostproc --root ROOT run --bundle BUNDLE ID` to its end.
pub fn run(root: &Root, bundle: &Bundle, id: &str) -> Output {
    spawn(run_command(root, bundle, id)).finish(TIMEOUT)
}

/// Runs `hostproc --root ROOT ARGS...` to its end.
pub fn hostproc(root: &Root, args: &[&str]) -> Output {
    let mut c = command(root);
    c.args(args);
    spawn(c).finish(TIMEOUT)
}

/// Runs any command to its end (with the hang guard).
pub fn execute(cmd: Command) -> Output {
    execute_within(cmd, TIMEOUT)
}

/// Runs any command to its end; past `timeout` it is killed (by its own pid only).
pub fn execute_within(cmd: Command, timeout: Duration) -> Output {
    spawn(cmd).finish(timeout)
}

/// A running hostproc whose output is being collected.
pub struct Running {
    child: Child,
    started: Instant,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<thread::JoinHandle<()>>,
}

/// Starts a command with stdout and stderr captured.
pub fn spawn(mut cmd: Command) -> Running {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let readers = vec![
        reader(child.stdout.take().unwrap(), stdout.clone()),
        reader(child.stderr.take().unwrap(), stderr.clone()),
    ];
    Running {
        child,
        started,
        stdout,
        stderr,
        readers,
    }
}

fn reader(mut r: impl Read + Send + 'static, buf: Arc<Mutex<Vec<u8>>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    })
}

impl Running {
    /// The pid of the hostproc process this test started.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    pub fn stdout_now(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }
    pub fn stderr_now(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }
    /// Waits until stdout contains `needle` (true) or `timeout` passes or hostproc exits
    /// (false).
    pub fn wait_stdout(&mut self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.stdout_now().contains(needle) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                // Exited: give the readers a moment to drain the pipe.
                thread::sleep(Duration::from_millis(200));
                return self.stdout_now().contains(needle);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    /// Like [`Running::wait_stdout`] but panics (after ending hostproc) when the text
    /// never comes.
    #[track_caller]
    pub fn expect_stdout(&mut self, needle: &str, timeout: Duration) {
        if !self.wait_stdout(needle, timeout) {
            let out = self.kill_and_collect();
            panic!("payload never printed {needle:?}:\n{}", out.dump());
        }
    }
    /// Sends `sig` to the hostproc process (only this pid).
    pub fn signal(&self, sig: i32) {
        if let Ok(None) = self.child.try_wait_ref() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
            unsafe { libc::kill(self.pid(), sig) };
        }
    }
    /// Waits for hostproc to exit (at most `timeout`; then it is killed, by its pid only,
    /// and a best-effort `delete --force` is left to the caller) and collects its output.
    pub fn finish(mut self, timeout: Duration) -> Output {
        let (status, timed_out) = wait_child(&mut self.child, self.started + timeout.max(Duration::from_secs(1)));
        let elapsed = self.started.elapsed();
        // The payload's leftovers (if hostproc failed to stop them) may still hold the
        // pipes: give the readers a bounded time to see end-of-file.
        let drain_end = Instant::now() + Duration::from_secs(5);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < drain_end {
            thread::sleep(Duration::from_millis(10));
        }
        Output {
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            stdout: self.stdout_now(),
            stderr: self.stderr_now(),
            elapsed,
            timed_out,
        }
    }
    /// Ends hostproc at once (SIGKILL to its pid) and collects what it printed.
    pub fn kill_and_collect(&mut self) -> Output {
        let still_running = matches!(self.child.try_wait(), Ok(None));
        if still_running {
            let _ = self.child.kill();
        }
        let status = self.child.wait().ok();
        thread::sleep(Duration::from_millis(200));
        Output {
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            stdout: self.stdout_now(),
            stderr: self.stderr_now(),
            elapsed: self.started.elapsed(),
            timed_out: still_running,
        }
    }
}

trait TryWaitRef {
    fn try_wait_ref(&self) -> std::io::Result<Option<()>>;
}
impl TryWaitRef for Child {
    /// Whether the child is still unreaped, without reaping it (waitid with WNOWAIT).
    fn try_wait_ref(&self) -> std::io::Result<Option<()>> {
        // SAFETY: siginfo_t is plain data; waitid with WNOHANG|WNOWAIT does not reap.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.id(),
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: reading si_pid of the union filled in by waitid.
        if unsafe { info.si_pid() } == 0 {
            Ok(None)
        } else {
            Ok(Some(()))
        }
    }
}

// ---------------------------------------------------------------------------------------
// host inspection
// ---------------------------------------------------------------------------------------

/// The test process's own cgroup directory in every mounted hierarchy it belongs to
/// (v1 controllers, named hierarchies and the unified one).
pub fn own_cgroup_dirs() -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap();
    let base = Path::new("/sys/fs/cgroup");
    let pure_v2 = base.join("cgroup.controllers").exists();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        let mount = if ctrls.is_empty() {
            if pure_v2 {
                base.to_path_buf()
            } else {
                base.join("unified")
            }
        } else {
            let name = ctrls.trim_start_matches("name=");
            let joined = base.join(name);
            if joined.exists() {
                joined
            } else {
                match ctrls
                    .split(',')
                    .map(|c| base.join(c.trim_start_matches("name=")))
                    .find(|p| p.exists())
                {
                    Some(p) => p,
                    None => continue,
                }
            }
        };
        let dir = mount.join(rel);
        if dir.is_dir() && !out.contains(&dir) {
            out.push(dir);
        }
    }
    out
}

/// The caller's own cgroup directory in the v1 hierarchy holding `controller` (or the
/// unified one when the host has no such v1 hierarchy).
pub fn own_cgroup_dir(controller: &str) -> PathBuf {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if ctrls.split(',').any(|c| c == controller) {
            let base = Path::new("/sys/fs/cgroup");
            let m = if base.join(ctrls).exists() {
                base.join(ctrls)
            } else {
                base.join(controller)
            };
            return m.join(path.trim_start_matches('/'));
        }
    }
    Path::new("/sys/fs/cgroup/unified").join(
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("/")
            .trim_start_matches('/'),
    )
}

/// Every cgroup directory under the caller's own cgroups whose name contains `needle`.
pub fn cgroups_named(needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in own_cgroup_dirs() {
        walk_dirs(&dir, 12, &mut |p| {
            if p.file_name()
                .map(|n| n.to_string_lossy().contains(needle))
                .unwrap_or(false)
            {
                found.push(p.to_path_buf());
            }
        });
    }
    found
}

/// Calls `f` on every directory below `dir`, down to `depth` levels, following no
/// symlinks.
pub fn walk_dirs(dir: &Path, depth: usize, f: &mut dyn FnMut(&Path)) {
    if depth == 0 {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        // Never follow symlinks (cpu -> cpu,cpuacct and the like).
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            let p = e.path();
            f(&p);
            walk_dirs(&p, depth - 1, f);
        }
    }
}

/// Lines of the test process's mountinfo (the host's mount namespace) whose mount point
/// or root mentions any of `needles`.
pub fn mounts_mentioning(needles: &[&str]) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 4
                && needles
                    .iter()
                    .any(|n| !n.is_empty() && (f[3].contains(n) || f[4].contains(n)))
        })
        .map(str::to_owned)
        .collect()
}

/// Pids of processes whose cgroup path mentions `needle` (a container's processes).
pub fn processes_in_cgroup(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cg) = fs::read_to_string(format!("/proc/{pid}/cgroup")) {
            if cg.lines().any(|l| {
                l.split_once(':')
                    .map(|x| x.1)
                    .unwrap_or("")
                    .contains(&format!("/{needle}"))
            }) {
                out.push(pid);
            }
        }
    }
    out
}

/// True when `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next())
                .unwrap_or("?");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// The start time of `pid` (field 22 of /proc/<pid>/stat, clock ticks since boot), or
/// None when there is no such process.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// A process's identity: its pid and its start time, so that a recycled pid is never
/// taken (or signalled) for the same process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProcId {
    pub pid: i32,
    pub start: u64,
}

impl ProcId {
    /// The process now running as `pid`, if any.
    pub fn of(pid: i32) -> Option<ProcId> {
        proc_start_time(pid).map(|start| ProcId { pid, start })
    }
    /// The process `pid` if it is the one that started at `start` (as a state file
    /// records it).
    pub fn matching(pid: i32, start: u64) -> Option<ProcId> {
        ProcId::of(pid).filter(|p| p.start == start)
    }
    /// True while this very process exists and is not a zombie.
    pub fn alive(&self) -> bool {
        proc_start_time(self.pid) == Some(self.start) && pid_alive(self.pid)
    }
    /// Waits (bounded) until this process is gone; true when it is.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while self.alive() {
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
        true
    }
    /// SIGKILL to this process, only if the pid still names it.
    pub fn kill(&self) {
        if self.alive() {
            // SAFETY: kill(2) on a pid just checked to be this process.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
    }
}

/// Waits (bounded) until `pid` is gone; true when it is.
pub fn wait_pid_gone(pid: i32, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while pid_alive(pid) {
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Asserts that nothing of container `id` is left on this host: no cgroup directory named
/// after it under the caller's own cgroups, no process in such a cgroup, no mount whose
/// mount point or root mentions the id, the bundle or any of `extra` paths, no state for it
/// under the root, and the shared `/hpc` (if it exists) does not show the bundle's files.
#[track_caller]
pub fn cleanup_check(root: &Root, bundle: &Bundle, id: &str, extra: &[&Path]) {
    let mut problems = Vec::new();
    if !id.is_empty() {
        for cg in cgroups_named(id) {
            problems.push(format!("cgroup left: {}", cg.display()));
        }
        for pid in processes_in_cgroup(id) {
            if pid_alive(pid) {
                problems.push(format!("process left in the job: pid {pid}"));
            }
        }
    }
    let bundle_path = bundle.path().to_string_lossy().into_owned();
    let mut needles: Vec<String> = vec![bundle_path];
    if !id.is_empty() {
        needles.push(id.to_owned());
    }
    needles.extend(extra.iter().map(|p| p.to_string_lossy().into_owned()));
    let refs: Vec<&str> = needles.iter().map(String::as_str).collect();
    for m in mounts_mentioning(&refs) {
        problems.push(format!("mount left: {m}"));
    }
    for e in root.entries() {
        if !id.is_empty() && e.to_string_lossy().contains(id) {
            problems.push(format!("state left under the root: {}", e.display()));
        }
    }
    if Path::new("/hpc").join(bundle.marker()).exists() {
        problems.push(format!(
            "the host's /hpc shows the bundle's rootfs ({})",
            bundle.marker()
        ));
    }
    assert!(
        problems.is_empty(),
        "container {id:?} left things behind:\n{}",
        problems.join("\n")
    );
}

/// The `readlink /proc/self/ns/<name>` of the test process.
pub fn own_ns(name: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{name}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A shell snippet that sets `$CG` to the payload's own cgroup directory in the hierarchy
/// of `controller` (v1), by reading `/proc/self/cgroup`.
pub fn sh_own_cgroup(controller: &str) -> String {
    format!(
        "line=$(grep -E '^[0-9]+:([^:]*,)?{c}(,[^:]*)?:' /proc/self/cgroup); \
         ctrls=$(echo \"$line\" | cut -d: -f2); rel=$(echo \"$line\" | cut -d: -f3-); \
         if [ -d /sys/fs/cgroup/$ctrls ]; then CG=/sys/fs/cgroup/$ctrls$rel; else CG=/sys/fs/cgroup/{c}$rel; fi; ",
        c = controller
    )
}

/// Sleeps in small steps up to `secs` seconds in the payload until `file` exists: lets a
/// test inspect the host while the container runs, then release it by creating the file.
pub fn sh_wait_for(file: &Path, secs: u32) -> String {
    format!(
        "i=0; while [ ! -e '{f}' ] && [ $i -lt {n} ]; do sleep 0.1; i=$((i+1)); done; ",
        f = file.display(),
        n = secs * 10
    )
}

/// Waits for `child` until `end`; past it the child is killed (by its own pid only).
/// Returns its status and whether it had to be killed.
pub fn wait_child(child: &mut Child, end: Instant) -> (Option<std::process::ExitStatus>, bool) {
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return (Some(s), false),
            Ok(None) if Instant::now() >= end => {
                let _ = child.kill();
                return (child.wait().ok(), true);
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(_) => return (None, false),
        }
    }
}

/// passwd entries of the ephemeral users made for container `id` (`hp<uid>-<id, lower
/// case, cut to fit>`).
pub fn ephemeral_users_for(id: &str) -> Vec<String> {
    let stem: String = id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .filter(|l| {
            let name = l.split(':').next().unwrap_or("");
            name.starts_with("hp") && name.split_once('-').is_some_and(|(_, rest)| stem.starts_with(rest) && rest.len() >= 12)
        })
        .map(str::to_owned)
        .collect()
}

/// The lock file hostproc keeps for a shared mount point (bind mode).
pub fn mountpoint_lock(path: &Path) -> PathBuf {
    let s = path.to_string_lossy().replace('%', "%25").replace('/', "%2F");
    Path::new(hostproc_container::MOUNTPOINT_LOCKS).join(s)
}

