//! The payload's first process: our own fork, born in the job's v2 cgroup and joining the
//! v1 hierarchies itself (see `hostproc_job::Entry`), held before exec until the parent
//! has done its part, then set up (session, mount namespace, limits, user, capabilities)
//! and exec'd. `std::process::Command` cannot hold a child before exec or set supplementary
//! groups, hence this.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use hostproc_sys::Fork;

use crate::config::{CapSets, ProcessConfig};
use crate::ContainerError;
use hostproc_identity::Identity;
use hostproc_job::{Entry, JobError};
use hostproc_storage::Plan;

/// How the process reaches the container's files.
pub enum MountNs<'a> {
    /// Host mode: the host's own mount namespace.
    Host,
    /// Bind mode, init: a new namespace with the plan's mounts.
    Enter(&'a Plan),
    /// Bind mode, exec: the namespace of this process (the container's init).
    Join(OwnedFd),
}

/// Everything a process of the container needs to start.
pub struct Launch<'a> {
    pub process: &'a ProcessConfig,
    pub identity: &'a Identity,
    pub mounts: MountNs<'a>,
    pub sandbox: &'a Path,
    /// The terminal's slave side, to become 0, 1, 2 and the controlling terminal.
    pub tty: Option<OwnedFd>,
    /// Descriptors 3 .. 3+N stay open for the payload (`--preserve-fds`).
    pub preserve_fds: u32,
    /// Descriptors the child closes at once: copies of locks the parent holds (a lock
    /// lives as long as any copy of its descriptor does).
    pub close_in_child: Vec<i32>,
}

/// A forked init (or exec'd process), before `go` and `outcome`.
pub struct Init {
    pub pid: i32,
    /// Born in the job's v2 cgroup (false: the parent must still add it there).
    pub in_unified: bool,
    go: Option<std::fs::File>,
    /// The parent's copy of the read end, held while `go` may still be written: a child
    /// whose set-up failed has exited and closed its own, and a write to a pipe nobody can
    /// read would end hostproc with SIGPIPE before it reports the child's error.
    _go_read: Option<OwnedFd>,
    errors: std::fs::File,
}

/// What the child needs, prepared before fork so that the child allocates little.
struct Prepared {
    argv: Vec<CString>,
    envp: Vec<CString>,
    search: Vec<String>,
}

fn prepare(cfg: &Launch) -> Result<Prepared, ContainerError> {
    let c = |s: &str, field: &str| CString::new(s).map_err(|_| ContainerError::invalid(field, "contains a NUL byte"));
    let argv = cfg.process.args.iter().map(|a| c(a, "process.args")).collect::<Result<_, _>>()?;
    let envp = cfg.process.env.iter().map(|e| c(e, "process.env")).collect::<Result<_, _>>()?;
    let path = cfg.process.env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("");
    let search = path.split(':').filter(|d| !d.is_empty()).map(str::to_owned).collect();
    Ok(Prepared { argv, envp, search })
}

/// How init is held before exec.
pub enum Hold {
    /// `run`: the parent releases it at once and reads the outcome from a pipe.
    Pipe,
    /// `create`/`start`: after set-up init reports ready, then waits on `start.fifo`
    /// until `start` writes to it, and reports an exec failure on `exec.fifo`. Both are
    /// opened read-write by init while still root, so no open ever blocks and a failure
    /// written before `start` reads is kept until it does.
    Fifo { start: std::path::PathBuf, exec: std::path::PathBuf },
}

/// Forks a process of the job (into its v2 cgroup where the kernel allows). It sets itself
/// up, joins the v1 hierarchies (each as the parent reports it made, [`Init::v1_made`]),
/// waits as root for [`Init::go`] when the parent still has to act on it, and goes on to
/// exec; [`Init::outcome`] reports how that ended.
pub fn spawn(cfg: &Launch, hold: &Hold, entry: &Entry, v1_by_parent: bool) -> Result<Init, ContainerError> {
    let prepared = prepare(cfg)?;
    let (go_r, go_w) = hostproc_sys::pipe().map_err(crate::error::io_err("create a pipe for", "the init process"))?;
    let (err_r, err_w) = hostproc_sys::pipe().map_err(crate::error::io_err("create a pipe for", "the init process"))?;
    let parent = hostproc_sys::getpid();
    // SAFETY: hostproc is single-threaded; the child only sets up and execs or _exits,
    // and never calls raise/abort (see fork_into_cgroup).
    let into = match &entry.unified {
        Some((dir, path)) => unsafe { hostproc_sys::fork_into_cgroup(dir.as_fd()) }
            .map_err(|source| JobError::Enter { path: path.clone(), source })?,
        None => None,
    };
    let in_unified = into.is_some() || entry.unified.is_none();
    // The child waits for the parent only when the parent has something to do first: with
    // `v1_by_parent`, a byte as each v1 hierarchy is made (the child joins it while the
    // next is made); then "go" once the v2 join of the fallback and oom_score_adj are done.
    // Otherwise it goes on at once.
    let wait_for_go = v1_by_parent || !in_unified || cfg.process.oom_score_adj.is_some();
    let forked = match into {
        Some(f) => f,
        // SAFETY: as above.
        None => unsafe { hostproc_sys::fork() }.map_err(crate::error::io_err("fork", "the init process"))?,
    };
    match forked {
        Fork::Child => {
            for fd in &cfg.close_in_child {
                hostproc_sys::close_fd(*fd);
            }
            drop(go_w);
            drop(err_r);
            let go = wait_for_go.then(|| Go { pipe: go_r.into(), v1_by_parent });
            child(cfg, &prepared, hold, entry, go, parent, err_w)
        }
        Fork::Parent(pid) => Ok(Init {
            pid,
            in_unified,
            go: wait_for_go.then(|| go_w.into()),
            _go_read: wait_for_go.then_some(go_r),
            errors: err_r.into(),
        }),
    }
}

/// The child's end of the parent's signals (see `spawn`).
struct Go {
    pipe: std::fs::File,
    v1_by_parent: bool,
}

impl Go {
    /// Waits for the parent's next byte; a parent gone (end of file) ends the child.
    fn wait(&mut self) {
        let mut b = [0u8; 1];
        if !matches!(self.pipe.read(&mut b), Ok(1)) {
            hostproc_sys::exit_immediately(1);
        }
    }
}

impl Init {
    /// Tells the child that the next v1 hierarchy is made (see `spawn`).
    pub fn v1_made(&mut self) {
        if let Some(go) = self.go.as_mut() {
            let _ = go.write_all(b"1");
        }
    }

    /// Lets the child go on, if it waits for that.
    pub fn go(&mut self) {
        if let Some(mut go) = self.go.take() {
            let _ = go.write_all(b"1");
        }
    }

    /// How the child's set-up ended. With `Hold::Pipe` waits until it has exec'd (the
    /// pipe closes) or failed (it writes why); with `Hold::Fifo` until it is set up and
    /// held ("R").
    pub fn outcome(&mut self) -> Result<(), ContainerError> {
        let mut buf = Vec::new();
        // Through `take`: no size probe (statx, lseek) on a pipe.
        let _ = (&mut self.errors).take(1 << 16).read_to_end(&mut buf);
        let msg = String::from_utf8_lossy(&buf);
        if msg.is_empty() || msg == "R" {
            return Ok(());
        }
        let _ = hostproc_sys::wait(self.pid);
        Err(ContainerError::Start(msg.into_owned()))
    }

    /// Ends a child that was never released (set-up failed in the parent).
    pub fn abort(mut self) {
        self.go.take();
        let _ = hostproc_sys::kill(self.pid, hostproc_sys::SIGKILL);
        let _ = hostproc_sys::wait(self.pid);
    }
}

fn child(cfg: &Launch, p: &Prepared, hold: &Hold, entry: &Entry, go: Option<Go>, parent: i32, err: OwnedFd) -> ! {
    let mut err = std::fs::File::from(err);
    // Everything that can fail does so before "ready" (create fails, as runc's does); only
    // the exec itself is left for `start`.
    let ready = setup(cfg, entry, go, parent).and_then(|()| {
        let fifos = open_fifos(hold)?;
        finish(cfg)?;
        Ok((fifos, resolve_program(cfg, p)?))
    });
    let msg = match ready {
        Ok((fifos, prog)) => {
            err = hold_here(fifos, err);
            exec(cfg, p, &prog)
        }
        Err(m) => m,
    };
    let _ = err.write_all(msg.as_bytes());
    hostproc_sys::exit_immediately(127)
}

/// With `Hold::Fifo`, init's ends of `start.fifo` and `exec.fifo`, opened read-write while
/// still root (so no open blocks).
fn open_fifos(hold: &Hold) -> Result<Option<(std::fs::File, std::fs::File)>, String> {
    let Hold::Fifo { start, exec } = hold else { return Ok(None) };
    let open = |p: &std::path::Path| std::fs::OpenOptions::new().read(true).write(true).open(p).map_err(|e| format!("cannot open {}: {e}", p.display()));
    Ok(Some((open(start)?, open(exec)?)))
}

/// With `Hold::Fifo`: report ready, wait for `start`, and return the channel on which an
/// exec failure is reported from now on.
fn hold_here(fifos: Option<(std::fs::File, std::fs::File)>, mut err: std::fs::File) -> std::fs::File {
    let Some((mut start_f, exec_f)) = fifos else { return err };
    // `create` returns once it reads "R" and init outlives it: `finish` has cleared the
    // parent-death signal.
    if err.write_all(b"R").is_err() {
        hostproc_sys::exit_immediately(1);
    }
    drop(err);
    let mut b = [0u8; 1];
    loop {
        match start_f.read(&mut b) {
            Ok(1) => break,
            Ok(_) => hostproc_sys::exit_immediately(1),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => hostproc_sys::exit_immediately(1),
        }
    }
    drop(start_f);
    exec_f
}

fn setup(cfg: &Launch, entry: &Entry, mut go: Option<Go>, parent: i32) -> Result<(), String> {
    // Die with the parent while still ours; cleared before exec. A parent that died before
    // the signal was armed is seen as a new parent.
    let _ = hostproc_sys::set_parent_death_signal(hostproc_sys::SIGKILL);
    if hostproc_sys::parent_pid() != parent {
        hostproc_sys::exit_immediately(1);
    }
    hostproc_sys::reset_signal_dispositions();
    hostproc_sys::set_signal_mask(&hostproc_sys::SigSet::empty()).map_err(|e| format!("cannot reset the signal mask: {e}"))?;
    hostproc_sys::setsid().map_err(|e| format!("cannot start a new session: {e}"))?;
    if let Some(tty) = &cfg.tty {
        let fd = tty.as_raw_fd();
        hostproc_sys::set_controlling_terminal(fd).map_err(|e| format!("cannot take the terminal: {e}"))?;
        for target in 0..3 {
            hostproc_sys::dup2(fd, target).map_err(|e| format!("cannot attach the terminal: {e}"))?;
        }
    }
    match &cfg.mounts {
        MountNs::Host => {}
        MountNs::Enter(plan) => hostproc_storage::enter_bind_mode(plan).map_err(|e| e.to_string())?,
        MountNs::Join(ns) => hostproc_sys::setns(ns.as_raw_fd()).map_err(|e| format!("cannot join the container's mount namespace: {e}"))?,
    }
    for &(name, res, soft, hard) in &cfg.process.rlimits {
        hostproc_sys::set_rlimit(res, soft, hard).map_err(|e| {
            let hint = if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) {
                " (the kernel's ceiling is lower: for RLIMIT_NOFILE, fs.nr_open); lower the value"
            } else {
                ""
            };
            format!("process.rlimits: cannot set {name} to {soft}/{hard}: {e}{hint}")
        })?;
    }
    std::env::set_current_dir(&cfg.process.cwd)
        .map_err(|e| format!("process.cwd: cannot change to {}: {e}", cfg.process.cwd.display()))?;
    if let Some(m) = cfg.identity.umask {
        hostproc_sys::set_umask(m);
    }
    // Last, so that the parent's part (making the v1 hierarchies) overlaps the above; each
    // hierarchy is joined as soon as it is made.
    entry
        .join_v1(|| {
            if let Some(g) = go.as_mut().filter(|g| g.v1_by_parent) {
                g.wait();
            }
        })
        .map_err(|e| e.to_string())?;
    if let Some(g) = go.as_mut() {
        g.wait();
    }
    Ok(())
}

/// The last steps before exec: the user, no-new-privileges, descriptors.
fn finish(cfg: &Launch) -> Result<(), String> {
    switch_user(cfg)?;
    if cfg.process.no_new_privileges {
        hostproc_sys::set_no_new_privs().map_err(|e| format!("cannot set noNewPrivileges: {e}"))?;
    }
    hostproc_sys::set_parent_death_signal(0).map_err(|e| format!("cannot clear the parent-death signal: {e}"))?;
    // Nothing of ours may reach the payload: every descriptor above 2 closes at exec.
    hostproc_sys::cloexec_from(3 + cfg.preserve_fds as i32).map_err(|e| format!("cannot mark descriptors close-on-exec: {e}"))?;
    Ok(())
}

fn switch_user(cfg: &Launch) -> Result<(), String> {
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
    // Effective first: the kernel refuses a permitted set narrower than the effective one.
    set(caps::CapSet::Effective, &c.effective, "effective")?;
    set(caps::CapSet::Permitted, &c.permitted, "permitted")?;
    set(caps::CapSet::Inheritable, &c.inheritable, "inheritable")?;
    caps::clear(None, caps::CapSet::Ambient).map_err(|e| format!("cannot clear ambient capabilities: {e}"))?;
    for cap in &c.ambient {
        caps::raise(None, caps::CapSet::Ambient, *cap).map_err(|e| {
            format!("process.capabilities.ambient: cannot raise {cap}: {e} (it must also be permitted and inheritable)")
        })?;
    }
    Ok(())
}

/// The file to execute, found as execvp would find it, as the payload's user and in its
/// mount namespace, so that a missing or unusable program fails `create`. A name without a
/// slash is searched in PATH (the host's directories, then the sandbox's copies: see
/// `env::build`); an absolute path the host lacks is looked up in the sandbox too, as
/// hcsshim does (an image's `/pause` is `$CONTAINER_SANDBOX_MOUNT_POINT/pause` here).
fn resolve_program(cfg: &Launch, p: &Prepared) -> Result<CString, String> {
    let prog = &cfg.process.args[0];
    let sandbox = cfg.sandbox.to_string_lossy();
    if prog.contains('/') {
        let e = match executable(&p.argv[0]) {
            Ok(()) => return Ok(p.argv[0].clone()),
            Err(e) => e,
        };
        if prog.starts_with('/') && e == rustix::io::Errno::NOENT && !prog.starts_with(&*sandbox) {
            let inside = format!("{}{prog}", sandbox.trim_end_matches('/'));
            let c = CString::new(inside.clone()).map_err(|_| "process.args[0]: contains a NUL byte".to_string())?;
            return match executable(&c) {
                Ok(()) => Ok(c),
                Err(rustix::io::Errno::NOENT) => Err(format!("cannot execute {prog} (process.args[0]): no such file on the host nor at {inside} in the sandbox")),
                Err(e2) => Err(format!("cannot execute {inside} (process.args[0] {prog:?}): {}{}", std::io::Error::from(e2), hint(e2, cfg))),
            };
        }
        return Err(format!("cannot execute {prog} (process.args[0]): {}{}", std::io::Error::from(e), hint(e, cfg)));
    }
    let mut denied = None;
    for dir in &p.search {
        let full = format!("{}/{prog}", dir.trim_end_matches('/'));
        let Ok(c) = CString::new(full.clone()) else { continue };
        match executable(&c) {
            Ok(()) => return Ok(c),
            Err(rustix::io::Errno::ACCESS) => {
                denied.get_or_insert(full);
            }
            Err(_) => {}
        }
    }
    let host: Vec<&str> = p.search.iter().map(String::as_str).filter(|d| !d.starts_with(&*sandbox)).collect();
    let image: Vec<&str> = p.search.iter().map(String::as_str).filter(|d| d.starts_with(&*sandbox)).collect();
    Err(match denied {
        Some(path) => format!("cannot execute {path} (process.args[0] {prog:?}): permission denied for uid {}", cfg.identity.uid),
        None if p.search.is_empty() => format!("program {prog:?} (process.args[0]) not found: PATH is empty; give an absolute path or set PATH in process.env"),
        None => format!(
            "program {prog:?} (process.args[0]) not found: searched the host's PATH ({}) and the image's copies of it in the sandbox ({}); give an absolute path or fix PATH in process.env",
            host.join(", "),
            if image.is_empty() { "none".to_string() } else { image.join(", ") },
        ),
    })
}

/// Whether `path` is a file this process may execute (execve's EACCES for a directory).
fn executable(path: &CString) -> Result<(), rustix::io::Errno> {
    let st = rustix::fs::stat(path.as_c_str())?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(rustix::io::Errno::ACCESS);
    }
    rustix::fs::access(path.as_c_str(), rustix::fs::Access::EXEC_OK)
}

/// execve of the resolved program; returns the error message on failure.
fn exec(cfg: &Launch, p: &Prepared, prog: &CString) -> String {
    let e = hostproc_sys::execve(prog, &p.argv, &p.envp);
    let errno = rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::INVAL);
    format!("cannot execute {} (process.args[0] {:?}): {e}{}", prog.to_string_lossy(), cfg.process.args[0], hint(errno, cfg))
}

fn hint(e: rustix::io::Errno, cfg: &Launch) -> String {
    match e {
        rustix::io::Errno::NOENT => format!(": no such file (the sandbox is at {})", cfg.sandbox.display()),
        rustix::io::Errno::ACCESS => format!(": not executable by uid {}", cfg.identity.uid),
        _ => String::new(),
    }
}
