//! `exec`: another process in the container's job, as the container's user unless the
//! process names another, in the container's mount namespace (bind mode).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use hostproc_identity::Identity;
use hostproc_sys as sig;
use oci_spec::runtime::Process;

use super::{start_process, write_pid_file};
use crate::config::ProcessConfig;
use crate::init::{Hold, Launch, MountNs};
use crate::state::{load_state, Status};
use crate::{console, ContainerError};

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    /// The process: from `--process FILE`, or built from the command line.
    pub process: Option<Process>,
    pub args: Vec<String>,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub tty: bool,
    pub no_new_privs: bool,
}

/// Runs a process in the container. Returns its exit code (0 with `detach`).
pub fn exec(root: &Path, id: &str, o: &ExecOptions) -> Result<i32, ContainerError> {
    let st = load_state(root, id)?;
    if !matches!(st.live_status(), Status::Running | Status::Created) {
        return Err(ContainerError::NotRunning);
    }
    let sandbox = st.hostproc.sandbox.clone();
    // The process: the one `--process` gives, or one made of the flags (nothing else set:
    // `Process::default()` carries a sample spec's capabilities and rlimits).
    let from_flags;
    let p = match &o.process {
        Some(p) => p,
        None => {
            let mut p = Process::default();
            p.set_args(Some(o.args.clone()))
                .set_env(Some(o.env.clone()))
                .set_cwd(o.cwd.clone().unwrap_or_default().into())
                .set_terminal(Some(o.tty))
                .set_no_new_privileges(Some(o.no_new_privs))
                .set_capabilities(None)
                .set_rlimits(None)
                .set_oom_score_adj(None);
            from_flags = p;
            &from_flags
        }
    };
    // The container's identity unless the process or the flags name a user.
    let mut identity = st.hostproc.identity.clone();
    if o.process.is_some() {
        let u = p.user();
        crate::config::check_ids(u)?;
        if u.uid() != 0 || u.gid() != 0 || u.additional_gids().as_ref().is_some_and(|g| !g.is_empty()) {
            identity = Identity::from_spec(u.uid(), u.gid(), u.additional_gids().as_deref().unwrap_or(&[]), u.umask());
            // containerd's exec copies the container's process.user, image groups and all.
            crate::config::host_groups(&mut identity, &st.rootfs)?;
        }
    }
    if let Some((uid, gid)) = o.user {
        if uid == u32::MAX || gid == Some(u32::MAX) || o.additional_gids.contains(&u32::MAX) {
            return Err(ContainerError::invalid("--user", "4294967295 is not a valid id; give 0 to 4294967294"));
        }
        identity.uid = uid;
        identity.gid = gid.unwrap_or(identity.gid);
        if !o.additional_gids.is_empty() {
            identity.additional_gids = o.additional_gids.clone();
        }
    }
    // Resolved as create resolves init's (arguments, environment, cwd, rlimits, ...).
    let process = ProcessConfig::resolve(p, &sandbox, || identity.home())?;
    let terminal = process.terminal;
    let mounts = if st.hostproc.bind_mode {
        let p = format!("/proc/{}/ns/mnt", st.pid);
        let fd: OwnedFd = rustix::fs::open(p.as_str(), rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
            .map_err(|_| ContainerError::NotRunning)?;
        MountNs::Join(fd)
    } else {
        MountNs::Host
    };
    let (master, tty) = if terminal {
        let Some(_) = &o.console_socket else {
            return Err(ContainerError::invalid("--tty", "needs --console-socket to hand the terminal to"));
        };
        let (m, s, name) = console::open_pty()?;
        (Some((m, name)), Some(s))
    } else {
        (None, None)
    };
    let launch = Launch { process: &process, identity: &identity, mounts, sandbox: &sandbox, tty, preserve_fds: o.preserve_fds, close_in_child: Vec::new() };
    // Without --detach we wait for the process: it must be ours to reap.
    let mut set = sig::SigSet::empty();
    for s in [sig::SIGINT, sig::SIGTERM, sig::SIGHUP, sig::SIGQUIT, sig::SIGUSR1, sig::SIGUSR2, sig::SIGWINCH, sig::SIGCHLD] {
        set.add(s);
    }
    let old = if o.detach { None } else { sig::set_signal_mask(&set).ok() };
    let pid = match start_process(&launch, &st.hostproc.job, &Hold::Pipe, None) {
        Ok(p) => p,
        Err(e) => {
            if let Some(old) = old {
                let _ = sig::set_signal_mask(&old);
            }
            return Err(e);
        }
    };
    crate::crashpoint::hit("exec-after-spawn");
    if let (Some((m, name)), Some(sock)) = (&master, &o.console_socket) {
        console::send_master(sock, m, name)?;
    }
    drop(master);
    if let Some(p) = &o.pid_file {
        write_pid_file(p, pid)?;
    }
    if o.detach {
        return Ok(0);
    }
    // Forward signals to the process until it exits.
    loop {
        if let Ok(Some((p, status))) = sig::try_wait(pid) {
            if p == pid {
                if let Some(old) = old {
                    let _ = sig::set_signal_mask(&old);
                }
                return Ok(status.code());
            }
        }
        match sig::wait_signal(&set, None) {
            Ok(Some(sig::SIGCHLD)) | Ok(None) => {}
            Ok(Some(s)) => {
                let _ = sig::kill(pid, s);
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }
}
