//! `hostproc run` in the foreground: one process creates, supervises and tears down.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hostproc_job::{Job, Layout};
use hostproc_sys as sig;

use super::create::{mkfifo, release, EXEC_FIFO, START_FIFO};
use super::{init_launch, initial_state, setup, start_process, start_process_with, stop_rest, reap, Made};
use crate::config::Config;
use crate::hooks::{self, Kind};
use crate::init::Hold;
use crate::state::{self, State, Status};
use crate::ContainerError;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    pub pid_file: Option<PathBuf>,
}

/// Signals `run` forwards to the payload's init (SIGINT and SIGTERM mean "stop").
const FORWARDED: &[i32] = &[sig::SIGHUP, sig::SIGQUIT, sig::SIGUSR1, sig::SIGUSR2, sig::SIGWINCH, sig::SIGCONT, sig::SIGALRM, sig::SIGURG];

/// Creates the container, runs it in the foreground and tears it all down when its
/// init exits. Returns the payload's exit code (128+N for signal N).
pub fn run(opts: &RunOptions, bundle: &Path, id: &str) -> Result<i32, ContainerError> {
    let mut cfg = Config::load(bundle, id, opts.systemd_cgroup)?;
    let layout = Layout::detect(&Default::default())?;
    let mut st = initial_state(&cfg, &layout)?;

    // Block the signals we handle before anything exists, so none is lost; the child
    // unblocks them before exec.
    let mut set = sig::SigSet::empty();
    for s in FORWARDED.iter().chain(&[sig::SIGINT, sig::SIGTERM, sig::SIGCHLD]) {
        set.add(*s);
    }
    let old_mask = sig::set_signal_mask(&set).map_err(crate::error::io_err("block signals in", "hostproc"))?;
    // Orphans of the job come to us and are reaped, not left to a PID 1 that may not.
    let _ = sig::set_child_subreaper();
    let restore = || {
        let _ = sig::set_signal_mask(&old_mask);
    };

    // Held while the container is made, so no other command acts on it half-made.
    let guard = match state::create_dir(&opts.root, id) {
        Ok((_, f)) => super::Lock::made(f),
        Err(e) => {
            restore();
            return Err(e);
        }
    };
    let mut made = Made::new(st.hostproc.storage.clone());
    // As in create: once a create-time hook has run, a failed run runs poststop too.
    let mut hooks_ran = false;
    // The state names everything we are about to make before we make it: a crash at any
    // point below is undone by `delete --force`.
    let started = setup(&mut cfg, &mut made, &mut st, &opts.root).and_then(|()| {
        let mut close = vec![guard.raw()];
        close.extend(made.user_lock.iter().map(|e| e.lock_fd()));
        let job = made.job.as_ref().expect("job made");
        if cfg.hooks.at_create() || !cfg.hooks.later.start_container.is_empty() {
            // Hooks before exec: init is held on fifos as create holds it.
            return held_start(&cfg, &mut st, &opts.root, job, close, &mut hooks_ran);
        }
        // The running state is written while init sets up and execs (if the exec fails,
        // the undo below removes it with the rest).
        let running = |init: i32| {
            st.pid = init;
            st.status = Status::Running;
            st.hostproc.init_start = state::start_time(init).map(|t| t.0).unwrap_or(0);
            if let Err(e) = st.save(&opts.root) {
                tracing::warn!("{e}");
            }
        };
        start_process_with(&init_launch(&cfg, None, 0, close), job, &Hold::Pipe, Some(&cfg.resources), running)
    });
    let init = match started {
        Ok(pid) => pid,
        Err(e) => {
            made.undo(&opts.root, id);
            if hooks_ran {
                hooks::warn(Kind::Poststop, &cfg.hooks.later.poststop, &st, Status::Stopped);
            }
            restore();
            return Err(e);
        }
    };
    crate::crashpoint::hit("after-running");
    // Made: other commands (state, kill, delete --force) may act on it now.
    drop(guard);
    hooks::warn(Kind::Poststart, &cfg.hooks.later.poststart, &st, Status::Running);
    if let Some(p) = &opts.pid_file {
        if let Err(e) = super::write_pid_file(p, init) {
            tracing::warn!("{e}");
        }
    }

    let status = supervise(cfg.options.grace, made.job.as_ref().expect("job made"), init, &set);
    if made.job.as_ref().is_some_and(Job::oom_killed) {
        tracing::warn!("container {id}: the kernel's OOM killer ended a process of the job (memory limit reached)");
    }
    made.undo(&opts.root, id);
    hooks::warn(Kind::Poststop, &cfg.hooks.later.poststop, &st, Status::Stopped);
    restore();
    Ok(status.code())
}

/// Starts init held before exec (on fifos in the state directory, as `create` does), runs
/// the create-time and startContainer hooks, then lets it exec.
fn held_start(cfg: &Config, st: &mut State, root: &Path, job: &Job, close: Vec<i32>, hooks_ran: &mut bool) -> Result<i32, ContainerError> {
    let dir = state::dir(root, &cfg.id);
    let (start, exec) = (dir.join(START_FIFO), dir.join(EXEC_FIFO));
    mkfifo(&start)?;
    mkfifo(&exec)?;
    let pid = start_process(&init_launch(cfg, None, 0, close), job, &Hold::Fifo { start, exec }, Some(&cfg.resources))?;
    st.pid = pid;
    st.hostproc.init_start = state::start_time(pid).map(|t| t.0).unwrap_or(0);
    *hooks_ran = true;
    cfg.hooks.run_create(st)?;
    hooks::run(Kind::StartContainer, &cfg.hooks.later.start_container, st, Status::Created)?;
    st.status = Status::Running;
    if let Err(e) = st.save(root) {
        tracing::warn!("{e}");
    }
    release(&dir, pid)?.map_err(ContainerError::Start)?;
    Ok(pid)
}

/// Waits for init, forwarding signals; SIGINT/SIGTERM stop the job (a second one skips
/// the grace). When init exits, every other process of the job is stopped.
fn supervise(grace: Duration, job: &Job, init: i32, set: &sig::SigSet) -> sig::ExitStatus {
    let mut status = None;
    let mut deadline: Option<Instant> = None;
    loop {
        reap(init, &mut status);
        if status.is_some() {
            break;
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match sig::wait_signal(set, timeout) {
            Ok(Some(sig::SIGCHLD)) => {}
            Ok(Some(s)) if s == sig::SIGINT || s == sig::SIGTERM => {
                if deadline.is_some() {
                    let _ = job.kill_all();
                } else {
                    tracing::debug!("stop requested: SIGTERM to the job, grace {grace:?}");
                    let _ = job.signal_all(sig::SIGTERM);
                    deadline = Some(Instant::now() + grace);
                }
            }
            Ok(Some(s)) => {
                let _ = sig::kill(init, s);
            }
            Ok(None) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let _ = job.kill_all();
                    deadline = Some(Instant::now() + Duration::from_secs(3600));
                }
            }
            Err(e) => {
                tracing::warn!("waiting for signals: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    stop_rest(grace, job, deadline);
    status.expect("init exited")
}
