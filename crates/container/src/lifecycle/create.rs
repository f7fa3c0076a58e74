//! `create` and `start`, split as runc splits them: create makes the job, the storage and
//! an init held before exec; start lets it exec. A supervisor process (one per container,
//! started by create) stops the job and releases the storage when init exits.


use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hostproc_job::{Job, Layout};
use hostproc_storage::{Record, SharedPoints};
use hostproc_sys as sig;
use hostproc_sys::Fork;

use super::{init_launch, initial_state, lock, setup, start_process, stop_rest, write_pid_file, Made};
use crate::config::Config;
use crate::hooks::{self, Kind};
use crate::init::Hold;
use crate::state::{self, load_state, Status};
use crate::{console, ContainerError};

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
}

pub(super) const START_FIFO: &str = "start.fifo";
pub(super) const EXEC_FIFO: &str = "exec.fifo";

pub(super) fn mkfifo(p: &Path) -> Result<(), ContainerError> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| ContainerError::invalid("state root", "contains a NUL byte"))?;
    sig::mkfifo(&c, 0o600).map_err(crate::error::io_err("create", p))
}

/// Creates the container and returns once its init is set up and held before exec.
/// Returns init's pid.
pub fn create(opts: &CreateOptions, bundle: &Path, id: &str) -> Result<i32, ContainerError> {
    let mut cfg = Config::load(bundle, id, opts.systemd_cgroup)?;
    if cfg.process.terminal && opts.console_socket.is_none() {
        return Err(ContainerError::invalid("process.terminal", "is true, so --console-socket is required (or set terminal to false)"));
    }
    let layout = Layout::detect(&Default::default())?;
    let mut st = initial_state(&cfg, &layout)?;
    let (dir, guard) = state::create_dir(&opts.root, id)?;
    let guard = super::Lock::made(guard);
    let mut made = Made::new(st.hostproc.storage.clone());
    // Once a create-time hook has run, a failed create runs the poststop hooks too, as
    // runc's does (they undo what the others set up).
    let mut hooks_ran = false;
    let res = (|| {
        setup(&mut cfg, &mut made, &mut st, &opts.root)?;
        mkfifo(&dir.join(START_FIFO))?;
        mkfifo(&dir.join(EXEC_FIFO))?;
        let (master, tty) = match &opts.console_socket {
            Some(_) if cfg.process.terminal => {
                let (m, s, name) = console::open_pty()?;
                (Some((m, name)), Some(s))
            }
            _ => (None, None),
        };
        let hold = Hold::Fifo { start: dir.join(START_FIFO), exec: dir.join(EXEC_FIFO) };
        let job = made.job.as_ref().expect("job made");
        let mut close = vec![guard.raw()];
        close.extend(made.user_lock.iter().map(|e| e.lock_fd()));
        let pid = start_process(&init_launch(&cfg, tty, opts.preserve_fds, close), job, &hold, Some(&cfg.resources))?;
        crate::crashpoint::hit("after-init");
        st.pid = pid;
        // The job, the storage and init (held before exec, in its mount namespace) exist.
        if cfg.hooks.at_create() {
            hooks_ran = true;
            cfg.hooks.run_create(&st)?;
        }
        if let (Some((m, name)), Some(sock)) = (&master, &opts.console_socket) {
            console::send_master(sock, m, name)?;
        }
        let pidfd = sig::pidfd_open(pid).map_err(crate::error::io_err("watch", format!("/proc/{pid}")))?;
        st.status = Status::Created;
        st.hostproc.init_start = state::start_time(pid).map(|t| t.0).unwrap_or(0);
        let sup = spawn_supervisor(&opts.root, id, pidfd, &cfg, job, made.points.take(), (&made.record, &made.dirs), master.map(|m| m.0), &guard)?;
        st.hostproc.supervisor = Some((sup, state::start_time(sup).map(|t| t.0).unwrap_or(0)));
        st.save(&opts.root)?;
        crate::crashpoint::hit("after-created");
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid)?;
        }
        Ok(pid)
    })();
    match res {
        Ok(pid) => {
            drop(guard);
            // The supervisor's copy of the uid lock now holds it for the container's life.
            drop(made.user_lock.take());
            Ok(pid)
        }
        Err(e) => {
            // Undone under the lock, as `run` does: undo works by path (the job's cgroups,
            // the state directory), and once the lock is free a delete --force and a new
            // create of the same id may put another container there.
            made.undo(&opts.root, id);
            drop(guard);
            if hooks_ran {
                hooks::warn(Kind::Poststop, &cfg.hooks.later.poststop, &st, Status::Stopped);
            }
            Err(e)
        }
    }
}

/// Forks the supervisor. It holds the container's shared mount points and, when init
/// exits, stops the job (SIGTERM, grace, kill-all), releases the storage and marks the
/// container stopped. The cgroup stays until `delete`, as with runc.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_supervisor(
    root: &Path,
    id: &str,
    pidfd: OwnedFd,
    cfg: &Config,
    job: &Job,
    points: Option<SharedPoints>,
    (record, dirs): (&Record, &[PathBuf]),
    master: Option<OwnedFd>,
    guard: &super::Lock,
) -> Result<i32, ContainerError> {
    // SAFETY: hostproc is single-threaded; the child runs only the supervisor below.
    match unsafe { sig::fork() }.map_err(crate::error::io_err("fork", "the supervisor"))? {
        Fork::Parent(pid) => {
            // The supervisor holds the mount points now; our copies just close.
            drop(points);
            Ok(pid)
        }
        Fork::Child => {
            guard.forget_in_child();
            drop(master);
            let _ = sig::setsid();
            // Nothing of the caller's: containerd waits for the container's stdio to close.
            if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
                use std::os::fd::AsRawFd;
                for t in 0..3 {
                    let _ = sig::dup2(null.as_raw_fd(), t);
                }
            }
            supervise(root, id, pidfd, cfg.options.grace, job, points, record, dirs);
            sig::exit_immediately(0)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn supervise(root: &Path, id: &str, pidfd: OwnedFd, grace: Duration, job: &Job, points: Option<SharedPoints>, record: &Record, dirs: &[PathBuf]) {
    // It sleeps for the container's life: keep only what it uses resident.
    sig::trim_resident_memory();
    sig::wait_pidfd(std::os::fd::AsFd::as_fd(&pidfd), None);
    // Read before the rest is stopped: the kernel's count of OOM kills in the job.
    let oom = job.oom_killed();
    stop_rest(grace, job, None);
    super::remove_made_dirs(dirs);
    super::release_storage(points, record);
    // A `delete` may hold the lock while it waits for us to finish: do not wait for it
    // long (the status is derived from init's death anyway; this only records it).
    for _ in 0..200 {
        match super::try_lock(root, id) {
            Ok(Some(_g)) => {
                if let Ok(mut st) = load_state(root, id) {
                    st.status = Status::Stopped;
                    if oom {
                        st.hostproc.reason = Some(state::OOM_KILLED.into());
                    }
                    let _ = st.save(root);
                }
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return,
        }
    }
}

/// Lets a created container's init exec its payload, after the startContainer hooks. A
/// program that cannot be executed, or a failing hook, fails here, and the container is
/// then stopped. The poststart hooks run once it runs.
pub fn start(root: &Path, id: &str) -> Result<(), ContainerError> {
    let g = lock(root, id)?;
    let mut st = load_state(root, id)?;
    match st.live_status() {
        Status::Created => {}
        Status::Stopped => return Err(ContainerError::Start("cannot start a container that has stopped".into())),
        s => return Err(ContainerError::Start(format!("cannot start an already {s} container"))),
    }
    if let Err(e) = hooks::run(Kind::StartContainer, &st.hostproc.hooks.start_container, &st, Status::Created) {
        // Stopped: init and anything else in the job killed; the supervisor, seeing init
        // exit, releases the storage.
        if let Err(k) = st.hostproc.job.kill_all() {
            tracing::warn!("{k}");
        }
        st.status = Status::Stopped;
        let _ = st.save(root);
        return Err(e.into());
    }
    if let Err(msg) = release(&state::dir(root, id), st.pid)? {
        st.status = Status::Stopped;
        let _ = st.save(root);
        return Err(ContainerError::Start(msg));
    }
    st.status = Status::Running;
    st.save(root)?;
    // Not under the lock: a poststart hook may ask hostproc about the container.
    drop(g);
    hooks::warn(Kind::Poststart, &st.hostproc.hooks.poststart, &st, Status::Running);
    Ok(())
}

/// Releases init held on the fifos in `dir` and waits until it has exec'd (the fifos are
/// removed). The inner error is init's: its exec failed and it is gone.
pub(super) fn release(dir: &Path, pid: i32) -> Result<Result<(), String>, ContainerError> {
    let exec_path = dir.join(EXEC_FIFO);
    // Reader first: whatever init reports must find us listening.
    let exec_fd = rustix::fs::open(&exec_path, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
        .map_err(|e| crate::error::io_err("open", &exec_path)(e.into()))?;
    let start_path = dir.join(START_FIFO);
    let start_fd = rustix::fs::open(&start_path, rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
        .map_err(|e| match e {
            rustix::io::Errno::NXIO => ContainerError::Start("container init is gone; delete the container".into()),
            e => crate::error::io_err("open", &start_path)(e.into()),
        })?;
    crate::crashpoint::hit("start-before-release");
    rustix::io::write(&start_fd, b"1").map_err(|e| crate::error::io_err("write", &start_path)(e.into()))?;
    drop(start_fd);
    crate::crashpoint::hit("start-after-release");
    let msg = read_until_closed(&exec_fd, pid);
    let _ = std::fs::remove_file(&start_path);
    let _ = std::fs::remove_file(&exec_path);
    Ok(if msg.is_empty() { Ok(()) } else { Err(msg) })
}

/// Reads what init writes on exec.fifo until every writer is gone (exec or exit).
fn read_until_closed(fd: &OwnedFd, pid: i32) -> String {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        let t = Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
        match poll(&mut fds, Some(&t)) {
            Ok(0) => {
                // No writer ever came, or init died before opening: check it lives.
                if state::start_time(pid).is_none_or(|(_, z)| z) {
                    break;
                }
                continue;
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
