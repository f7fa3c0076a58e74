//! The `criu` binary, driven through its command line (runc uses its RPC; the CLI needs
//! no protobuf code in hostproc and gives the same options). Each run is a forked child
//! that first puts itself where CRIU must run (the container's mount namespace, the job's
//! cgroups) and then execs criu, so that CRIU sees the container's tree as its own and
//! restored processes inherit the namespace and the job.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use hostproc_sys as sig;
use hostproc_sys::Fork;

use super::CheckpointError;

/// A CRIU binary that answered `--version`.
#[derive(Debug, Clone)]
pub struct Criu {
    pub path: PathBuf,
    /// "4.1.1" from "Version: 4.1.1".
    pub version: String,
}

/// Where the child puts itself before it execs criu.
pub(crate) enum Place<'a> {
    /// The host's mount namespace (host mode): nothing to do.
    Host,
    /// The mount namespace of this process (bind mode: a running container's init).
    MountNsOf(i32),
    /// A new bind-mode namespace made from the plan (the first tree of a restore).
    NewMountNs(&'a hostproc_storage::Plan),
}

impl Criu {
    /// The binary given with `--criu` (a name is looked up in PATH, as runc does), or
    /// `criu` in PATH.
    pub fn find(given: Option<&str>) -> Result<Criu, CheckpointError> {
        let name = given.unwrap_or("criu");
        let path = if name.contains('/') {
            PathBuf::from(name)
        } else {
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|c| c.is_file()))
                .unwrap_or_default()
                .ok_or_else(|| CheckpointError::NoCriu { name: name.into(), detail: "not found in PATH".into() })?
        };
        let out = std::process::Command::new(&path)
            .arg("--version")
            .output()
            .map_err(|e| CheckpointError::NoCriu { name: path.display().to_string(), detail: e.to_string() })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.lines().find_map(|l| l.strip_prefix("Version:")).map(|v| v.trim().to_owned());
        match version {
            Some(version) if out.status.success() => Ok(Criu { path, version }),
            _ => Err(CheckpointError::NoCriu {
                name: path.display().to_string(),
                detail: format!("`--version` said {:?}", String::from_utf8_lossy(&out.stderr).trim()),
            }),
        }
    }

    /// Runs `criu <args>` placed as `place` says, in the job's cgroups if `entry` is given.
    /// A failure names the action and carries the error lines of `log`.
    /// `pass`: descriptors given to criu at these numbers (for its `--inherit-fd`).
    pub(crate) fn run(&self, action: &'static str, args: &[String], place: Place<'_>, entry: Option<&hostproc_job::Entry>, pass: &[(i32, i32)], log: &Path) -> Result<(), CheckpointError> {
        let spawn = |e: std::io::Error| CheckpointError::Io { what: "start criu for", path: self.path.clone(), source: e };
        let prog = CString::new(self.path.as_os_str().as_encoded_bytes()).map_err(|_| CheckpointError::NoCriu { name: self.path.display().to_string(), detail: "contains a NUL byte".into() })?;
        let mut argv = vec![prog.clone()];
        argv.extend(args.iter().filter_map(|a| CString::new(a.as_str()).ok()));
        let envp: Vec<CString> = std::env::vars_os()
            .filter_map(|(k, v)| {
                let mut kv = k.into_encoded_bytes();
                kv.push(b'=');
                kv.extend(v.into_encoded_bytes());
                CString::new(kv).ok()
            })
            .collect();
        let (rd, wr) = sig::pipe().map_err(spawn)?;
        tracing::debug!(criu = %self.path.display(), ?args, "running criu");
        // SAFETY: hostproc is single-threaded; the child only sets itself up and execs.
        match unsafe { sig::fork() }.map_err(spawn)? {
            Fork::Child => {
                drop(rd);
                let msg = match place_child(&place, entry) {
                    Ok(()) => {
                        let _ = sig::cloexec_from(3);
                        // dup2 leaves the copy open across exec.
                        for &(fd, at) in pass {
                            let _ = sig::dup2(fd, at);
                        }
                        format!("exec {}: {}", self.path.display(), sig::execve(&prog, &argv, &envp))
                    }
                    Err(m) => m,
                };
                let _ = rustix::io::write(&wr, msg.as_bytes());
                sig::exit_immediately(127)
            }
            Fork::Parent(pid) => {
                drop(wr);
                let mut child_err = String::new();
                let _ = std::fs::File::from(rd).read_to_string(&mut child_err);
                let status = sig::wait(pid).map_err(spawn)?;
                if !child_err.is_empty() {
                    return Err(CheckpointError::Setup { action, detail: child_err });
                }
                match status {
                    sig::ExitStatus::Exited(0) => Ok(()),
                    st => Err(CheckpointError::Criu { action, status: format!("{st:?}"), log: log.to_path_buf(), errors: error_lines(log) }),
                }
            }
        }
    }
}

/// In the child: into the job's cgroups and the mount namespace, as asked.
fn place_child(place: &Place<'_>, entry: Option<&hostproc_job::Entry>) -> Result<(), String> {
    if let Some(e) = entry {
        e.join_v1(|| {}).map_err(|e| e.to_string())?;
        e.add_unified(sig::getpid()).map_err(|e| e.to_string())?;
    }
    match place {
        Place::Host => Ok(()),
        Place::MountNsOf(pid) => {
            let p = format!("/proc/{pid}/ns/mnt");
            let f = std::fs::File::open(&p).map_err(|e| format!("open {p}: {e}"))?;
            sig::setns(f.as_raw_fd()).map_err(|e| format!("enter the mount namespace {p}: {e}"))
        }
        Place::NewMountNs(plan) => hostproc_storage::enter_bind_mode(plan).map_err(|e| e.to_string()),
    }
}

/// The lines of a CRIU log that say what failed (its "Error" lines), at most 12.
pub(crate) fn error_lines(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let errs: Vec<&str> = text.lines().filter(|l| l.contains("Error") || l.contains("error")).collect();
    let pick = if errs.is_empty() { text.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect() } else { errs };
    pick.iter().rev().take(12).rev().map(|l| format!("\n  {l}")).collect()
}
