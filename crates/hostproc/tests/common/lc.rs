//! Helpers for the runc-style lifecycle tests (create/start/state/kill/delete/exec...).
//!
//! `create`, `run --detach` and `exec --detach` hand hostproc's standard output and error
//! on to the payload, which keeps them open long after hostproc exits (as runc does). So
//! these helpers give hostproc files, not pipes, for its stdio: the command's own output
//! is read from them when it exits, and the payload's later output can be read from the
//! same file while the container runs.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::{tempdir, Bundle, Output, Root, HOSTPROC, TIMEOUT};

/// Runs `hostproc ARGS...` (no `--root` added: the caller places it) with stdin from
/// `stdin` (or /dev/null), stdout appended to `stdout_file` and stderr to `stderr_file`.
/// The returned output holds what the files held when hostproc exited (the whole file:
/// give fresh files to see one command's output only).
pub fn hostproc_files<S: AsRef<OsStr>>(
    args: &[S],
    stdin: Option<&[u8]>,
    stdout_file: &Path,
    stderr_file: &Path,
) -> Output {
    let open = |p: &Path| {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
    };
    let mut cmd = Command::new(HOSTPROC);
    cmd.args(args)
        .stdout(Stdio::from(open(stdout_file)))
        .stderr(Stdio::from(open(stderr_file)));
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    if let Some(data) = stdin {
        let mut w = child.stdin.take().unwrap();
        let _ = w.write_all(data);
        drop(w);
    }
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() >= TIMEOUT => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    Output {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout: fs::read_to_string(stdout_file).unwrap_or_default(),
        stderr: fs::read_to_string(stderr_file).unwrap_or_default(),
        elapsed: started.elapsed(),
        timed_out,
    }
}

/// Scratch files for one command's stdio.
pub struct Scratch {
    dir: TempDir,
    n: usize,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempdir(),
            n: 0,
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// A fresh pair of (stdout, stderr) file paths.
    pub fn pair(&mut self) -> (PathBuf, PathBuf) {
        self.n += 1;
        (
            self.dir.path().join(format!("{}.out", self.n)),
            self.dir.path().join(format!("{}.err", self.n)),
        )
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

/// `hostproc --root ROOT ARGS...` with fresh stdio files (safe for commands whose
/// children keep the stdio open).
pub fn hp(root: &Root, args: &[&str]) -> Output {
    hp_stdin(root, args, None)
}

/// Like [`hp`], with `stdin` fed to hostproc.
pub fn hp_stdin(root: &Root, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut s = Scratch::new();
    let (o, e) = s.pair();
    let mut full: Vec<&OsStr> = vec![OsStr::new("--root"), root.path().as_os_str()];
    full.extend(args.iter().map(OsStr::new));
    hostproc_files(&full, stdin, &o, &e)
}

/// A container made by the lifecycle commands. Its payload's stdout and stderr go to
/// files (the ones `create` was given). Dropping it runs `delete --force` (best effort), so
/// a failing test leaves nothing running; tests still delete explicitly and check.
pub struct Ctr<'a> {
    pub root: &'a Root,
    pub id: String,
    scratch: Scratch,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl<'a> Ctr<'a> {
    /// A container handle (nothing is made yet).
    pub fn new(root: &'a Root, id: &str) -> Ctr<'a> {
        let mut scratch = Scratch::new();
        let (out, err) = scratch.pair();
        Ctr {
            root,
            id: id.to_owned(),
            scratch,
            out,
            err,
        }
    }

    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// `hostproc --root ROOT <sub> [extra...] --bundle B ID` with stdout/stderr to the
    /// payload files; writes the bundle's config first. Returns the command's output
    /// (what was in the files when it exited).
    fn make(&self, sub: &[&str], bundle: &Bundle, extra: &[&str]) -> Output {
        bundle.write();
        let mut args: Vec<&OsStr> = vec![OsStr::new("--root"), self.root.path().as_os_str()];
        args.extend(sub.iter().map(OsStr::new));
        args.extend(extra.iter().map(OsStr::new));
        args.push(OsStr::new("--bundle"));
        args.push(bundle.path().as_os_str());
        args.push(OsStr::new(&self.id));
        hostproc_files(&args, None, &self.out, &self.err)
    }

    /// `create [extra...] --bundle B ID`.
    pub fn create(&self, bundle: &Bundle, extra: &[&str]) -> Output {
        self.make(&["create"], bundle, extra)
    }

    /// `run --detach [extra...] --bundle B ID`.
    pub fn run_detached(&self, bundle: &Bundle, extra: &[&str]) -> Output {
        self.make(&["run", "--detach"], bundle, extra)
    }

    /// `hostproc --root ROOT <cmd> [args...] ID` for commands taking the id last.
    pub fn cmd(&self, cmd: &str, args: &[&str]) -> Output {
        let mut a = vec![cmd];
        a.extend_from_slice(args);
        a.push(&self.id);
        hp(self.root, &a)
    }

    pub fn start(&self) -> Output {
        self.cmd("start", &[])
    }

    /// `kill ID SIGNAL`.
    pub fn kill(&self, signal: &str) -> Output {
        hp(self.root, &["kill", &self.id, signal])
    }

    /// `kill --all ID SIGNAL`.
    pub fn kill_all(&self, signal: &str) -> Output {
        hp(self.root, &["kill", "--all", &self.id, signal])
    }

    pub fn delete(&self) -> Output {
        self.cmd("delete", &[])
    }

    pub fn delete_force(&self) -> Output {
        self.cmd("delete", &["--force"])
    }

    /// `exec [flags...] ID [command...]` (stdio to fresh files).
    pub fn exec(&self, flags: &[&str], command: &[&str]) -> Output {
        let mut a = vec!["exec"];
        a.extend_from_slice(flags);
        a.push(&self.id);
        a.extend_from_slice(command);
        hp(self.root, &a)
    }

    /// The parsed `state ID`; panics (with the output) when it fails.
    #[track_caller]
    pub fn state(&self) -> Value {
        let out = self.cmd("state", &[]);
        assert!(
            out.code == Some(0),
            "state {} failed:\n{}",
            self.id,
            out.dump()
        );
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{}", out.dump()))
    }

    #[track_caller]
    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap_or("?").to_owned()
    }

    #[track_caller]
    pub fn pid(&self) -> i32 {
        self.state()["pid"].as_i64().unwrap_or(-1) as i32
    }

    /// Waits until `state` reports `status` (true) or `timeout` passes (false).
    pub fn wait_status(&self, status: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            let out = self.cmd("state", &[]);
            if out.code == Some(0) {
                if let Ok(v) = serde_json::from_str::<Value>(&out.stdout) {
                    if v["status"] == status {
                        return true;
                    }
                }
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the payload wrote on its stdout so far (create's own stdout included: it
    /// prints nothing on success).
    pub fn payload_out(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }
    pub fn payload_err(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits until the payload's stdout contains `needle`.
    pub fn wait_out(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.payload_out().contains(needle))
    }

    /// Like [`Ctr::wait_out`], panicking with the payload's output when it never comes.
    #[track_caller]
    pub fn expect_out(&self, needle: &str, timeout: Duration) {
        if !self.wait_out(needle, timeout) {
            panic!(
                "payload of {} never printed {needle:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.id,
                self.payload_out(),
                self.payload_err()
            );
        }
    }

    /// The value the payload printed as `key=value` (last occurrence).
    pub fn out_value(&self, key: &str) -> Option<String> {
        let prefix = format!("{key}=");
        self.payload_out()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
    }
}

impl Drop for Ctr<'_> {
    fn drop(&mut self) {
        let _ = hp(self.root, &["delete", "--force", &self.id]);
    }
}

/// Polls `f` every 20 ms until it is true (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, f: impl FnMut() -> bool) -> bool {
    wait_until_every(timeout, Duration::from_millis(20), f)
}

/// Like [`wait_until`], polling every `every` (for checks that are costly to make, such as
/// running a client command).
pub fn wait_until_every(timeout: Duration, every: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(every);
    }
}

/// True when `s` is an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`), as Go's
/// time.RFC3339Nano parser (which containerd uses) accepts it.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        r.end <= b.len() && b[r].iter().all(|c| c.is_ascii_digit())
    };
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !(b[10] == b'T' || b[10] == b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap();
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    let rest = &s[i..];
    if rest == "Z" || rest == "z" {
        return true;
    }
    let rb = rest.as_bytes();
    rb.len() == 6
        && (rb[0] == b'+' || rb[0] == b'-')
        && rb[1..3].iter().all(u8::is_ascii_digit)
        && rb[3] == b':'
        && rb[4..6].iter().all(u8::is_ascii_digit)
}

/// The cgroup directory of `pid` in the hierarchy holding `controller` (a v1 controller
/// such as "memory" or "freezer"), or in the unified hierarchy for `controller == ""`.
/// None when the process is gone or has no such hierarchy.
pub fn cgroup_dir_of(pid: i32, controller: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let base = Path::new("/sys/fs/cgroup");
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controller.is_empty() {
            if ctrls.is_empty() {
                let m = if base.join("cgroup.controllers").exists() {
                    base.to_path_buf()
                } else {
                    base.join("unified")
                };
                return Some(m.join(rel));
            }
            continue;
        }
        if ctrls.split(',').any(|c| c == controller) {
            let m = if base.join(ctrls).is_dir() {
                base.join(ctrls)
            } else {
                base.join(controller)
            };
            return Some(m.join(rel));
        }
    }
    // Pure v2: every controller lives in the unified hierarchy.
    if base.join("cgroup.controllers").exists() {
        let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
        return Some(base.join(rel.trim_start_matches('/')));
    }
    None
}

/// The first line of a file, trimmed ("" when unreadable).
pub fn read_trim(p: &Path) -> String {
    fs::read_to_string(p)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}
