//! The payload's first process: our own fork, held before exec until the parent has put
//! it in its job, then set up (session, mount namespace, limits, user, capabilities) and
//! exec'd. `std::process::Command` cannot hold a child before exec or set supplementary
//! groups, hence this.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use hostproc_storage::Mode;
use hostproc_sys::Fork;

use crate::config::{CapSets, Config};
use crate::ContainerError;

/// A forked init, waiting for `release`.
pub struct Init {
    pub pid: i32,
    go: Option<std::fs::File>,
    errors: std::fs::File,
}

/// What the child needs, prepared before fork so that the child allocates little.
struct Prepared {
    argv: Vec<CString>,
    envp: Vec<CString>,
    search: Vec<String>,
}

fn prepare(cfg: &Config) -> Result<Prepared, ContainerError> {
    let c = |s: &str, field: &str| CString::new(s).map_err(|_| ContainerError::invalid(field, "contains a NUL byte"));
    let argv = cfg.process.args.iter().map(|a| c(a, "process.args")).collect::<Result<_, _>>()?;
    let envp = cfg.process.env.iter().map(|e| c(e, "process.env")).collect::<Result<_, _>>()?;
    let path = cfg.process.env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("");
    let search = path.split(':').filter(|d| !d.is_empty()).map(str::to_owned).collect();
    Ok(Prepared { argv, envp, search })
}

/// Forks the init process. It waits (as root, in hostproc's cgroup) until `release`.
pub fn spawn(cfg: &Config) -> Result<Init, ContainerError> {
    let prepared = prepare(cfg)?;
    let (go_r, go_w) = hostproc_sys::pipe().map_err(crate::error::io_err("create a pipe for", "the init process"))?;
    let (err_r, err_w) = hostproc_sys::pipe().map_err(crate::error::io_err("create a pipe for", "the init process"))?;
    // SAFETY: hostproc is single-threaded; the child only sets up and execs or _exits.
    match unsafe { hostproc_sys::fork() }.map_err(crate::error::io_err("fork", "the init process"))? {
        Fork::Child => {
            drop(go_w);
            drop(err_r);
            child(cfg, &prepared, go_r, err_w)
        }
        Fork::Parent(pid) => Ok(Init { pid, go: Some(go_w.into()), errors: err_r.into() }),
    }
}

impl Init {
    /// Lets the child go on to exec, and waits until it has (the error pipe closes on
    /// exec) or has failed (it writes why, then exits).
    pub fn release(&mut self) -> Result<(), ContainerError> {
        if let Some(mut go) = self.go.take() {
            let _ = go.write_all(b"1");
        }
        let mut msg = String::new();
        let _ = self.errors.read_to_string(&mut msg);
        if msg.is_empty() {
            return Ok(());
        }
        let _ = hostproc_sys::wait(self.pid);
        Err(ContainerError::Start(msg))
    }

    /// Ends a child that was never released (set-up failed in the parent).
    pub fn abort(mut self) {
        self.go.take();
        let _ = hostproc_sys::kill(self.pid, hostproc_sys::SIGKILL);
        let _ = hostproc_sys::wait(self.pid);
    }
}

fn child(cfg: &Config, p: &Prepared, go: OwnedFd, err: OwnedFd) -> ! {
    let mut err = std::fs::File::from(err);
    let msg = match setup(cfg, go) {
        Ok(()) => exec(cfg, p),
        Err(m) => m,
    };
    let _ = err.write_all(msg.as_bytes());
    hostproc_sys::exit_immediately(127)
}

fn setup(cfg: &Config, go: OwnedFd) -> Result<(), String> {
    // Die with the parent while still ours; cleared before exec.
    let _ = hostproc_sys::set_parent_death_signal(hostproc_sys::SIGKILL);
    let mut go = std::fs::File::from(go);
    let mut b = [0u8; 1];
    if !matches!(go.read(&mut b), Ok(1)) {
        hostproc_sys::exit_immediately(1);
    }
    drop(go);
    hostproc_sys::reset_signal_dispositions();
    hostproc_sys::set_signal_mask(&hostproc_sys::SigSet::empty()).map_err(|e| format!("cannot reset the signal mask: {e}"))?;
    hostproc_sys::setsid().map_err(|e| format!("cannot start a new session: {e}"))?;
    if cfg.storage.mode == Mode::Bind {
        hostproc_storage::enter_bind_mode(&cfg.storage).map_err(|e| e.to_string())?;
    }
    for &(res, soft, hard) in &cfg.process.rlimits {
        hostproc_sys::set_rlimit(res, soft, hard).map_err(|e| format!("process.rlimits: cannot set resource {res} to {soft}/{hard}: {e}"))?;
    }
    std::env::set_current_dir(&cfg.process.cwd)
        .map_err(|e| format!("process.cwd: cannot change to {}: {e}", cfg.process.cwd.display()))?;
    if let Some(m) = cfg.identity.umask {
        hostproc_sys::set_umask(m);
    }
    switch_user(cfg)?;
    if cfg.process.no_new_privileges {
        hostproc_sys::set_no_new_privs().map_err(|e| format!("cannot set noNewPrivileges: {e}"))?;
    }
    hostproc_sys::set_parent_death_signal(0).map_err(|e| format!("cannot clear the parent-death signal: {e}"))?;
    // Nothing of ours may reach the payload: every descriptor above 2 closes at exec.
    hostproc_sys::cloexec_from(3).map_err(|e| format!("cannot mark descriptors close-on-exec: {e}"))?;
    Ok(())
}

fn switch_user(cfg: &Config) -> Result<(), String> {
    let id = &cfg.identity;
    let caps = cfg.process.caps.as_ref();
    if let Some(c) = caps {
        for cap in caps::all() {
            if !c.bounding.contains(&cap) {
                caps::drop(None, caps::CapSet::Bounding, cap).map_err(|e| format!("process.capabilities.bounding: cannot drop {cap}: {e}"))?;
            }
        }
        hostproc_sys::set_keep_caps(true).map_err(|e| format!("cannot keep capabilities: {e}"))?;
    }
    hostproc_sys::set_groups(&id.additional_gids)
        .map_err(|e| format!("process.user.additionalGids {:?}: cannot set: {e}", id.additional_gids))?;
    hostproc_sys::set_gid(id.gid).map_err(|e| format!("process.user.gid {}: cannot set: {e}", id.gid))?;
    hostproc_sys::set_uid(id.uid).map_err(|e| format!("process.user.uid {}: cannot set: {e}", id.uid))?;
    if let Some(c) = caps {
        hostproc_sys::set_keep_caps(false).map_err(|e| format!("cannot reset keep-capabilities: {e}"))?;
        set_caps(c)?;
    }
    Ok(())
}

fn set_caps(c: &CapSets) -> Result<(), String> {
    let set = |which: caps::CapSet, list: &[caps::Capability], name: &str| {
        let s: caps::CapsHashSet = list.iter().copied().collect();
        caps::set(None, which, &s).map_err(|e| format!("process.capabilities.{name}: cannot set {list:?}: {e}"))
    };
    set(caps::CapSet::Permitted, &c.permitted, "permitted")?;
    set(caps::CapSet::Inheritable, &c.inheritable, "inheritable")?;
    set(caps::CapSet::Effective, &c.effective, "effective")?;
    caps::clear(None, caps::CapSet::Ambient).map_err(|e| format!("cannot clear ambient capabilities: {e}"))?;
    for cap in &c.ambient {
        caps::raise(None, caps::CapSet::Ambient, *cap).map_err(|e| {
            format!("process.capabilities.ambient: cannot raise {cap}: {e} (it must also be permitted and inheritable)")
        })?;
    }
    Ok(())
}

/// execve, searching PATH as execvp does; returns the error message on failure.
fn exec(cfg: &Config, p: &Prepared) -> String {
    let prog = &cfg.process.args[0];
    if prog.contains('/') {
        let e = hostproc_sys::execve(&p.argv[0], &p.argv, &p.envp);
        return format!("cannot execute {prog} (process.args[0]): {e}{}", hint(&e, Path::new(prog), cfg));
    }
    let mut denied = None;
    for dir in &p.search {
        let full = format!("{}/{prog}", dir.trim_end_matches('/'));
        let Ok(c) = CString::new(full.clone()) else { continue };
        let e = hostproc_sys::execve(&c, &p.argv, &p.envp);
        match e.raw_os_error() {
            Some(x) if x == rustix::io::Errno::NOENT.raw_os_error() || x == rustix::io::Errno::NOTDIR.raw_os_error() => {}
            Some(x) if x == rustix::io::Errno::ACCESS.raw_os_error() => {
                denied.get_or_insert(full);
            }
            _ => return format!("cannot execute {full} (process.args[0] {prog:?}): {e}"),
        }
    }
    match denied {
        Some(path) => format!("cannot execute {path} (process.args[0] {prog:?}): permission denied for uid {}", cfg.identity.uid),
        None => format!(
            "program {prog:?} (process.args[0]) not found: searched {}; give an absolute path or fix PATH in process.env",
            if p.search.is_empty() { "no directory (PATH is empty)".to_string() } else { p.search.join(", ") }
        ),
    }
}

fn hint(e: &std::io::Error, _path: &Path, cfg: &Config) -> String {
    match e.raw_os_error() {
        Some(x) if x == rustix::io::Errno::NOENT.raw_os_error() => {
            format!(": no such file (the sandbox is at {})", cfg.storage.sandbox().display())
        }
        Some(x) if x == rustix::io::Errno::ACCESS.raw_os_error() => format!(": not executable by uid {}", cfg.identity.uid),
        _ => String::new(),
    }
}

