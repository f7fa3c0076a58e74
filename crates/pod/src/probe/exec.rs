//! Running a command in a container for exec probes and exec hooks.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::ProbeError;

/// At most this much of a command's output is kept (kubelet's limit for probe output).
pub const MAX_OUTPUT: usize = 10 * 1024;

/// What an exec did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// The exit code; `None` when the command was killed at its timeout.
    pub code: Option<i32>,
    /// stdout and stderr together, the first [`MAX_OUTPUT`] bytes.
    pub output: Vec<u8>,
}

/// A way to run a command in the container (the supervisor's; tests may give their own).
pub trait Exec: Send + Sync {
    /// Runs `command` in the container and waits for it; with a timeout, kills it when
    /// the time is up (result `code: None`).
    fn exec(&self, command: &[String], timeout: Option<Duration>) -> Result<ExecResult, ProbeError>;
}

/// Exec through the engine: `hostproc --root ROOT exec --pid-file F ID -- COMMAND...`.
///
/// A process of its own rather than `hostproc_container::exec` in the supervisor: exec
/// waits for its child with a signal mask and `sigwait`, which would race the supervisor's
/// other threads, and the child would inherit the supervisor's stdout and stderr instead
/// of giving its output to the probe. The supervisor must not reap children it did not
/// start (`waitpid(-1)`), or this one's status is lost (the probe then fails).
#[derive(Debug, Clone)]
pub struct EngineExec {
    /// The hostproc binary (in the supervisor: `/proc/self/exe`).
    pub hostproc: PathBuf,
    /// hostproc's `--root`.
    pub root: PathBuf,
    /// The container's id.
    pub id: String,
}

impl EngineExec {
    pub fn new(hostproc: impl Into<PathBuf>, root: impl Into<PathBuf>, id: impl Into<String>) -> EngineExec {
        EngineExec { hostproc: hostproc.into(), root: root.into(), id: id.into() }
    }
}

impl Exec for EngineExec {
    fn exec(&self, command: &[String], timeout: Option<Duration>) -> Result<ExecResult, ProbeError> {
        let failed = |e: std::io::Error| ProbeError::Exec { id: self.id.clone(), detail: format!("{}: {e}", self.hostproc.display()) };
        let dir = tempfile_dir().map_err(failed)?;
        let pid_file = dir.join("pid");
        let (r, w) = std::io::pipe().map_err(failed)?;
        let mut child = Command::new(&self.hostproc)
            .arg("--root")
            .arg(&self.root)
            .arg("exec")
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&self.id)
            .arg("--")
            .args(command)
            .stdin(Stdio::null())
            .stdout(w.try_clone().map_err(failed)?)
            .stderr(w)
            .spawn()
            .map_err(failed)?;
        // The output is read aside: a process the command leaves behind may hold the pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = r.take(MAX_OUTPUT as u64).read_to_end(&mut out);
            let _ = tx.send(out);
        });
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut killed = false;
        let status = loop {
            if let Some(st) = child.try_wait().map_err(failed)? {
                break st;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) && !killed {
                // The command, by the pid exec wrote (still exec's unreaped child while
                // exec runs), then exec itself if it has not written one yet.
                killed = true;
                match std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<i32>().ok()).and_then(rustix::process::Pid::from_raw) {
                    Some(pid) => {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                    None => {
                        let _ = child.kill();
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let _ = std::fs::remove_dir_all(&dir);
        let output = rx.recv_timeout(Duration::from_millis(200)).unwrap_or_default();
        if killed {
            return Ok(ExecResult { code: None, output });
        }
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Ok(ExecResult { code: Some(code), output })
    }
}

/// A private directory for the pid file (exec refuses to write one through a symlink).
fn tempfile_dir() -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    loop {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = base.join(format!("hostproc-exec-{}-{n}", std::process::id()));
        match std::fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}
