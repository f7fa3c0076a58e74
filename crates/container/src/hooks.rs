//! The runtime spec's hooks: prestart, createRuntime, createContainer (during create),
//! startContainer (start, before the payload execs), poststart (after it), poststop (after
//! delete). Each hook is a program run with exactly its `args` and `env`, the container's
//! state JSON on its stdin and an optional timeout, in the runtime's (the host's)
//! namespaces, except createContainer and startContainer, which in bind mode join the
//! container's mount namespace (init's, as `exec` does).
//!
//! A hook's stdout and stderr are captured, not passed through (the caller's stdout is
//! often the payload's, containerd's log): they are logged at debug level when it
//! succeeds and put into the error (or warning) when it fails, as runc puts them in its
//! error.

use std::collections::HashMap;
use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hostproc_sys::{self as sys, ExitStatus, Fork};
use oci_spec::runtime::{Hook, Spec};
use serde::{Deserialize, Serialize};

use crate::state::{State, Status};
use crate::ContainerError;

/// The points of the lifecycle a hook runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    /// The spec's name (the key under `hooks`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// Run in the container's namespace (the spec's "container namespace"): in bind mode
    /// its mount namespace; everything else of a HostProcess container is the host's.
    fn in_container(self) -> bool {
        matches!(self, Kind::CreateContainer | Kind::StartContainer)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A spec's hooks, checked. The ones run after create are kept in the state ([`Later`]).
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub prestart: Vec<Hook>,
    pub create_runtime: Vec<Hook>,
    pub create_container: Vec<Hook>,
    pub later: Later,
}

/// The hooks `start` and `delete` run, recorded in the state at create: the bundle may
/// have changed or gone by then (runc, too, keeps its config in its state), and a spec
/// without hooks costs no read of config.json on those paths.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Later {
    #[serde(rename = "startContainer", default, skip_serializing_if = "Vec::is_empty")]
    pub start_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

impl Later {
    pub fn is_empty(&self) -> bool {
        self.start_container.is_empty() && self.poststart.is_empty() && self.poststop.is_empty()
    }
}

impl Hooks {
    /// `hooks` of a spec, each hook checked: an absolute path, a timeout above zero, no
    /// NUL byte anywhere.
    pub fn from_spec(spec: &Spec) -> Result<Hooks, ContainerError> {
        let Some(h) = spec.hooks() else { return Ok(Hooks::default()) };
        #[allow(deprecated)] // prestart: deprecated by the spec, still used (containerd's NRI, ...)
        let prestart = h.prestart();
        let take = |kind: Kind, list: &Option<Vec<Hook>>| -> Result<Vec<Hook>, ContainerError> {
            let list = list.clone().unwrap_or_default();
            for (i, hook) in list.iter().enumerate() {
                check(kind, i, hook)?;
            }
            Ok(list)
        };
        Ok(Hooks {
            prestart: take(Kind::Prestart, prestart)?,
            create_runtime: take(Kind::CreateRuntime, h.create_runtime())?,
            create_container: take(Kind::CreateContainer, h.create_container())?,
            later: Later {
                start_container: take(Kind::StartContainer, h.start_container())?,
                poststart: take(Kind::Poststart, h.poststart())?,
                poststop: take(Kind::Poststop, h.poststop())?,
            },
        })
    }

    /// Any hook run during create (init is then held before exec).
    pub fn at_create(&self) -> bool {
        !(self.prestart.is_empty() && self.create_runtime.is_empty() && self.create_container.is_empty())
    }

    /// Prestart, createRuntime and createContainer, in the spec's order, with the state
    /// "creating".
    pub fn run_create(&self, st: &State) -> Result<(), HookError> {
        run(Kind::Prestart, &self.prestart, st, Status::Creating)?;
        run(Kind::CreateRuntime, &self.create_runtime, st, Status::Creating)?;
        run(Kind::CreateContainer, &self.create_container, st, Status::Creating)
    }
}

fn check(kind: Kind, i: usize, h: &Hook) -> Result<(), ContainerError> {
    let field = |f: &str| format!("hooks.{kind}[{i}].{f}");
    let path = h.path();
    if !path.is_absolute() {
        return Err(ContainerError::invalid(field("path"), format!("{:?} is not an absolute path; give the hook program's absolute path", path.display().to_string())));
    }
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(ContainerError::invalid(field("path"), "contains a NUL byte"));
    }
    if h.args().iter().flatten().any(|a| a.contains('\0')) {
        return Err(ContainerError::invalid(field("args"), "an argument contains a NUL byte"));
    }
    if h.env().iter().flatten().any(|e| e.contains('\0')) {
        return Err(ContainerError::invalid(field("env"), "an entry contains a NUL byte"));
    }
    if let Some(t) = h.timeout() {
        if t <= 0 {
            return Err(ContainerError::invalid(field("timeout"), format!("{t} is not above zero; give the seconds the hook may run, or leave timeout out")));
        }
    }
    Ok(())
}

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
#[error("error running {kind} hook #{index} ({}): {why}", path.display())]
pub struct HookError {
    pub kind: Kind,
    pub index: usize,
    pub path: PathBuf,
    pub why: Why,
}

#[derive(Debug, thiserror::Error)]
pub enum Why {
    #[error("exit status {0}{1}")]
    Exit(i32, Said),
    #[error("killed by signal {0}{1}")]
    Signal(i32, Said),
    #[error("timed out after {0} s, killed{1}")]
    Timeout(i64, Said),
    #[error("cannot execute it: {0}")]
    Exec(String),
    #[error("cannot {0}: {1}")]
    Setup(&'static str, io::Error),
}

/// What a failed hook printed, for its error: stderr (else stdout), its last 512 bytes.
#[derive(Debug, Default)]
pub struct Said(String);

impl Said {
    fn of(out: &[u8], err: &[u8]) -> Said {
        let (name, text) = if !trim(err).is_empty() { ("stderr", err) } else { ("stdout", out) };
        let t = trim(text);
        if t.is_empty() {
            return Said::default();
        }
        const MAX: usize = 512;
        let shown = if t.len() > MAX { format!("...{}", String::from_utf8_lossy(&t[t.len() - MAX..])) } else { String::from_utf8_lossy(t).into_owned() };
        Said(format!(", {name}: {shown}"))
    }
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// The state a hook reads on its stdin: the runtime spec's (runc's) state, with the
/// status of the point it runs at.
#[derive(Serialize)]
struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    oci_version: &'a str,
    id: &'a str,
    status: Status,
    #[serde(skip_serializing_if = "is_zero")]
    pid: i32,
    bundle: &'a Path,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    annotations: &'a HashMap<String, String>,
}

fn is_zero(p: &i32) -> bool {
    *p == 0
}

fn state_json(st: &State, status: Status) -> Vec<u8> {
    let s = OciState { oci_version: &st.oci_version, id: &st.id, status, pid: st.pid, bundle: &st.bundle, annotations: &st.annotations };
    serde_json::to_vec(&s).expect("state serializes")
}

/// Runs the hooks of one point in order; the first failure stops them and is returned.
pub fn run(kind: Kind, hooks: &[Hook], st: &State, status: Status) -> Result<(), HookError> {
    if hooks.is_empty() {
        return Ok(());
    }
    let json = state_json(st, status);
    let ns = namespace(kind, st).map_err(|(what, e)| HookError { kind, index: 0, path: hooks[0].path().clone(), why: Why::Setup(what, e) })?;
    for (index, h) in hooks.iter().enumerate() {
        run_one(kind, index, h, &json, ns.as_ref()).map_err(|why| HookError { kind, index, path: h.path().clone(), why })?;
    }
    Ok(())
}

/// Runs every hook of a point whose failure must not stop the lifecycle (poststart,
/// poststop, as the spec says): a failure is a warning, and the next hook still runs.
pub fn warn(kind: Kind, hooks: &[Hook], st: &State, status: Status) {
    if hooks.is_empty() {
        return;
    }
    let json = state_json(st, status);
    let ns = match namespace(kind, st) {
        Ok(ns) => ns,
        Err((what, e)) => return tracing::warn!("{kind} hooks not run: cannot {what}: {e}"),
    };
    for (index, h) in hooks.iter().enumerate() {
        if let Err(why) = run_one(kind, index, h, &json, ns.as_ref()) {
            tracing::warn!("{}", HookError { kind, index, path: h.path().clone(), why });
        }
    }
}

/// The container's mount namespace (bind mode, createContainer and startContainer), opened
/// once for all the hooks of the point.
fn namespace(kind: Kind, st: &State) -> Result<Option<OwnedFd>, (&'static str, io::Error)> {
    if !(kind.in_container() && st.hostproc.bind_mode) {
        return Ok(None);
    }
    let p = format!("/proc/{}/ns/mnt", st.pid);
    rustix::fs::open(p.as_str(), rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
        .map(Some)
        .map_err(|e| ("open the container's mount namespace (init's /proc/<pid>/ns/mnt)", e.into()))
}

/// Output kept of a hook's stdout and stderr each (the last of it).
const KEEP: usize = 64 << 10;

fn run_one(kind: Kind, index: usize, h: &Hook, state: &[u8], ns: Option<&OwnedFd>) -> Result<(), Why> {
    let started = Instant::now();
    let setup = |what: &'static str| move |e: io::Error| Why::Setup(what, e);
    // Checked at create (no NUL bytes): these cannot fail for hooks that got this far.
    let c = |s: &[u8]| CString::new(s).map_err(|_| Why::Setup("pass an argument with a NUL byte", io::ErrorKind::InvalidInput.into()));
    let path = c(h.path().as_os_str().as_bytes())?;
    // args[0] is argv[0] (the spec's execv semantics); no args: the path alone, as Go's
    // exec.Cmd (runc) does.
    let argv = match h.args().as_deref() {
        Some(a) if !a.is_empty() => a.iter().map(|s| c(s.as_bytes())).collect::<Result<Vec<_>, _>>()?,
        _ => vec![path.clone()],
    };
    let envp = h.env().iter().flatten().map(|s| c(s.as_bytes())).collect::<Result<Vec<_>, _>>()?;
    let name = format!("{kind} hook #{index} ({})", h.path().display());
    // The environment's names only: its values may be secrets.
    tracing::debug!(
        "running {name}: args {:?}, env {:?}, timeout {}{}",
        h.args().as_deref().unwrap_or_default(),
        h.env().iter().flatten().map(|e| e.split('=').next().unwrap_or_default()).collect::<Vec<_>>(),
        h.timeout().map(|t| format!("{t} s")).unwrap_or_else(|| "none".into()),
        if ns.is_some() { ", in the container's mount namespace" } else { "" }
    );
    let (in_r, in_w) = sys::pipe().map_err(setup("create a pipe for the hook's stdin"))?;
    let (out_r, out_w) = sys::pipe().map_err(setup("create a pipe for the hook's stdout"))?;
    let (err_r, err_w) = sys::pipe().map_err(setup("create a pipe for the hook's stderr"))?;
    // Closed by a successful exec; otherwise the child writes why it could not exec.
    let (fail_r, fail_w) = sys::pipe().map_err(setup("create a pipe for the hook"))?;
    // SAFETY: hostproc is single-threaded; the child only sets up its descriptors and
    // namespace and execs, or _exits.
    let pid = match unsafe { sys::fork() }.map_err(setup("fork the hook"))? {
        Fork::Child => child(&path, &argv, &envp, [in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()], ns, fail_w),
        Fork::Parent(pid) => pid,
    };
    drop((out_w, err_w, fail_w));
    // `in_r` stays open here until the hook is reaped: the state is written to a pipe that
    // always has a reader, so a hook that exits without reading it never sends us SIGPIPE.
    let waited = wait_hook(pid, h.timeout(), state, in_w, &out_r, &err_r);
    drop(in_r);
    let (out, err, status) = match waited {
        Ok((o, e)) => (o, e, sys::wait(pid).map_err(setup("wait for the hook"))?),
        Err(Waited::Timeout(o, e)) => {
            // The hook and what it started in its session (a shell's `sleep`, ...).
            let _ = sys::kill(-pid, sys::SIGKILL);
            let _ = sys::kill(pid, sys::SIGKILL);
            let _ = sys::wait(pid);
            return Err(Why::Timeout(h.timeout().unwrap_or_default(), Said::of(&o, &e)));
        }
        Err(Waited::Io(what, e)) => {
            let _ = sys::kill(pid, sys::SIGKILL);
            let _ = sys::wait(pid);
            return Err(Why::Setup(what, e));
        }
    };
    let mut failed = Vec::new();
    let _ = io::Read::read_to_end(&mut std::fs::File::from(fail_r), &mut failed);
    if !failed.is_empty() {
        return Err(Why::Exec(String::from_utf8_lossy(&failed).into_owned()));
    }
    let ms = started.elapsed().as_millis();
    match status {
        ExitStatus::Exited(0) => {
            tracing::debug!("{name} exited 0 after {ms} ms");
            for (stream, text) in [("stdout", &out), ("stderr", &err)] {
                if !trim(text).is_empty() {
                    tracing::debug!("{name} {stream}: {}", String::from_utf8_lossy(trim(text)));
                }
            }
            Ok(())
        }
        ExitStatus::Exited(n) => Err(Why::Exit(n, Said::of(&out, &err))),
        ExitStatus::Signaled(s) => Err(Why::Signal(s, Said::of(&out, &err))),
    }
}

/// The forked hook: its stdio, the container's mount namespace if asked, exec.
fn child(path: &CString, argv: &[CString], envp: &[CString], stdio: [i32; 3], ns: Option<&OwnedFd>, fail: OwnedFd) -> ! {
    let mut fail = std::fs::File::from(fail);
    // Nothing of hostproc's: `run` blocks signals, and a caller may have ignored some.
    sys::reset_signal_dispositions();
    let msg = (|| {
        // Its own session and process group, so that a timeout kills all it started.
        sys::setsid().map_err(|e| format!("cannot start a session: {e}"))?;
        sys::set_signal_mask(&sys::SigSet::empty()).map_err(|e| format!("cannot reset the signal mask: {e}"))?;
        for (target, fd) in stdio.into_iter().enumerate() {
            sys::dup2(fd, target as i32).map_err(|e| format!("cannot set up its stdio: {e}"))?;
        }
        if let Some(ns) = ns {
            sys::setns(ns.as_raw_fd()).map_err(|e| format!("cannot join the container's mount namespace: {e}"))?;
        }
        sys::cloexec_from(3).map_err(|e| format!("cannot mark descriptors close-on-exec: {e}"))?;
        Err::<(), String>(sys::execve(path, argv, envp).to_string())
    })()
    .err()
    .unwrap_or_default();
    let _ = io::Write::write_all(&mut fail, msg.as_bytes());
    sys::exit_immediately(127)
}

enum Waited {
    Timeout(Vec<u8>, Vec<u8>),
    Io(&'static str, io::Error),
}

/// Feeds the state to the hook's stdin and collects its stdout and stderr until it exits
/// (its pidfd is readable) or its timeout passes. A hook that leaves a child holding its
/// stdout open is not waited for beyond its own exit.
fn wait_hook(pid: i32, timeout: Option<i64>, state: &[u8], stdin: OwnedFd, out: &OwnedFd, err: &OwnedFd) -> Result<(Vec<u8>, Vec<u8>), Waited> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::fs::{fcntl_setfl, OFlags};
    let io = |what: &'static str| move |e: rustix::io::Errno| Waited::Io(what, e.into());
    let pidfd = sys::pidfd_open(pid).map_err(|e| Waited::Io("watch the hook (pidfd_open)", e))?;
    for fd in [stdin.as_fd(), out.as_fd(), err.as_fd()] {
        fcntl_setfl(fd, OFlags::NONBLOCK).map_err(io("set up the hook's pipes"))?;
    }
    // A timeout too large for the clock is no limit.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(Duration::from_secs(t as u64)));
    let mut stdin = Some(stdin);
    let mut written = 0;
    if state.is_empty() {
        stdin = None;
    }
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let (mut out_open, mut err_open) = (true, true);
    loop {
        let left = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(l) if !l.is_zero() => Some(l),
                _ => return Err(Waited::Timeout(o, e)),
            },
            None => None,
        };
        let ts = left.map(|l| Timespec { tv_sec: l.as_secs() as _, tv_nsec: l.subsec_nanos() as _ });
        // Slots: 0 pidfd, then whichever of stdin, stdout, stderr are still open.
        let mut fds = vec![PollFd::new(&pidfd, PollFlags::IN)];
        let mut which = vec![0u8];
        if let Some(w) = &stdin {
            fds.push(PollFd::new(w, PollFlags::OUT));
            which.push(1);
        }
        if out_open {
            fds.push(PollFd::new(out, PollFlags::IN));
            which.push(2);
        }
        if err_open {
            fds.push(PollFd::new(err, PollFlags::IN));
            which.push(3);
        }
        match poll(&mut fds, ts.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(x) => return Err(io("wait for the hook")(x)),
        }
        let ready: Vec<(u8, bool)> = fds.iter().zip(&which).map(|(f, w)| (*w, !f.revents().is_empty())).collect();
        drop(fds);
        let mut exited = false;
        for (w, r) in ready {
            if !r {
                continue;
            }
            match w {
                0 => exited = true,
                1 => {
                    match rustix::io::write(stdin.as_ref().expect("polled"), &state[written..]) {
                        Ok(n) => written += n,
                        Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
                        Err(_) => written = state.len(),
                    }
                    if written >= state.len() {
                        // End of file on the hook's stdin.
                        stdin = None;
                    }
                }
                2 => out_open = !matches!(read_some(out, &mut o), Read::Closed),
                _ => err_open = !matches!(read_some(err, &mut e), Read::Closed),
            }
        }
        if exited {
            // What it wrote before exiting; a child of its that keeps writing is not
            // waited for.
            for (open, fd, buf) in [(out_open, out, &mut o), (err_open, err, &mut e)] {
                // Bounded: a child of the hook may write on and on.
                for _ in 0..64 {
                    if !open || !matches!(read_some(fd, buf), Read::Data) {
                        break;
                    }
                }
            }
            return Ok((o, e));
        }
    }
}

enum Read {
    Data,
    Again,
    Closed,
}

/// Reads what is there into `buf`, keeping its last `KEEP` bytes.
fn read_some(fd: &OwnedFd, buf: &mut Vec<u8>) -> Read {
    let mut chunk = [0u8; 8192];
    match rustix::io::read(fd, &mut chunk) {
        Ok(0) => Read::Closed,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > KEEP {
                buf.drain(..buf.len() - KEEP);
            }
            Read::Data
        }
        Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => Read::Again,
        Err(_) => Read::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn said_keeps_stderr_short() {
        assert_eq!(Said::of(b"", b"").to_string(), "");
        assert_eq!(Said::of(b"out\n", b"").to_string(), ", stdout: out");
        assert_eq!(Said::of(b"out", b" boom \n").to_string(), ", stderr: boom");
        let long = vec![b'x'; 2000];
        let s = Said::of(b"", &long).to_string();
        assert!(s.starts_with(", stderr: ...") && s.len() == ", stderr: ...".len() + 512, "{s}");
    }

    #[test]
    fn later_hooks_are_absent_from_an_old_state() {
        let l: Later = serde_json::from_str("{}").unwrap();
        assert!(l.is_empty());
        assert_eq!(serde_json::to_string(&Later::default()).unwrap(), "{}");
    }
}
