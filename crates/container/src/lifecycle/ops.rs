//! Commands on an existing container: kill, delete, pause, resume, update, ps, stats.

use std::path::Path;
use std::time::Duration;

use hostproc_job::Resources;
use hostproc_sys as sig;

use super::lock;
use crate::hooks::{self, Kind};
use crate::state::{self, load_state, Status};
use crate::ContainerError;

/// A signal to init, or with `all` to every process of the job. `kill --all` succeeds on
/// a stopped container (the shim sends it after init exits).
pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<(), ContainerError> {
    let g = lock(root, id)?;
    let st = load_state(root, id)?;
    if all {
        // containerd's shim sends `kill --all 9` as soon as init has exited: a supervisor
        // still giving the rest of the job its grace period (SIGTERM, wait, kill-all) is let
        // finish first, so the HostProcess stop keeps its grace under containerd too. The
        // lock is freed meanwhile: the supervisor takes it to record the stop.
        if signal == sig::SIGKILL && !st.live().1 {
            let grace = crate::Annotations::parse(&st.annotations).map(|a| a.grace).unwrap_or(Duration::from_secs(5));
            drop(g);
            wait_supervisor(&st, grace + Duration::from_secs(1));
        }
        let job = &st.hostproc.job;
        if signal == sig::SIGKILL {
            job.kill_all()?;
        } else {
            job.signal_all(signal)?;
        }
        crate::crashpoint::hit("kill-after-signal");
        return Ok(());
    }
    match st.live_status() {
        Status::Created | Status::Running | Status::Paused => {}
        _ => return Err(ContainerError::NotRunning),
    }
    sig::kill(st.pid, signal).map_err(|_| ContainerError::NotRunning)?;
    crate::crashpoint::hit("kill-after-signal");
    Ok(())
}

/// Removes a stopped (or created) container; with `force`, from any state, also after a
/// crash half-way and for an id that does not exist.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), ContainerError> {
    crate::validate_id(id)?;
    let guard = match lock(root, id) {
        Ok(g) => g,
        Err(ContainerError::NotExist(_)) if force => return Ok(()),
        Err(ContainerError::Invalid { .. }) if force => {
            // A planted symlink in place of the state directory: remove the link only.
            let _ = std::fs::remove_file(state::dir(root, id));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let st = match load_state(root, id) {
        Ok(st) => st,
        Err(ContainerError::NotExist(_)) if force => {
            let _ = state::remove_dir(root, id);
            return Ok(());
        }
        Err(e @ ContainerError::BadState { .. }) if force => {
            tracing::warn!("{e}; removing the state directory only");
            let _ = state::remove_dir(root, id);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let (status, alive) = st.live();
    if !force && !matches!(status, Status::Stopped | Status::Created) {
        return Err(ContainerError::NotStopped { id: id.into(), status: status.to_string() });
    }
    if alive {
        let _ = sig::kill(st.pid, sig::SIGKILL);
    }
    crate::crashpoint::hit("delete-after-kill");
    let job = &st.hostproc.job;
    // A frozen job cannot die: thaw it first.
    let _ = job.freeze(false);
    job.destroy()?;
    // The supervisor records "stopped" under the lock before it exits: let it.
    let ours = guard.dir_ident();
    drop(guard);
    // The supervisor wakes when init dies and finds the job empty; it holds the mount
    // points and the uid lock until it exits, so wait for it (and end it if stuck).
    if wait_supervisor(&st, Duration::from_secs(2)) == Some(false) {
        if let Some((pid, _)) = st.hostproc.supervisor {
            let _ = sig::kill(pid, sig::SIGKILL);
        }
        wait_supervisor(&st, Duration::from_secs(10));
    }
    crate::crashpoint::hit("delete-after-job");
    super::remove_made_dirs(&st.hostproc.made_dirs);
    hostproc_storage::release(&st.hostproc.storage, &st.hostproc.lock_dir)?;
    if let Some(user) = &st.hostproc.ephemeral {
        hostproc_identity::release(user, None).map_err(|e| ContainerError::invalid("ephemeral user", e.to_string()))?;
    }
    // A concurrent delete of the same id may have finished first: gone is gone.
    // The state directory goes under its lock again, and only if it is still this
    // container's: while the lock was free another delete may have removed it and a create
    // put a new container of the same id in its place.
    match lock(root, id) {
        Ok(g) if g.dir_ident() == ours => {
            state::remove_dir(root, id).map_err(crate::error::io_err("remove the state directory", state::dir(root, id)))?;
            drop(g);
            // Deleted: the poststop hooks, before the command returns (once: by the delete
            // that removed the state).
            hooks::warn(Kind::Poststop, &st.hostproc.hooks.poststop, &st, Status::Stopped);
            Ok(())
        }
        Ok(_) | Err(ContainerError::NotExist(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Waits up to `timeout` for the container's supervisor to exit: `None` when it is not
/// running, else whether it exited. A pidfd names the process for good; the start time,
/// checked once it is open, says it is still our supervisor and not a reused pid.
fn wait_supervisor(st: &state::State, timeout: Duration) -> Option<bool> {
    let (pid, start) = st.hostproc.supervisor?;
    let fd = sig::pidfd_open(pid).ok()?;
    if !state::start_time(pid).is_some_and(|(t, z)| t == start && !z) {
        return None;
    }
    Some(sig::wait_pidfd(std::os::fd::AsFd::as_fd(&fd), Some(timeout)))
}

/// The state and its live status (one look at the process), if the container is alive.
fn running(root: &Path, id: &str) -> Result<(state::State, Status), ContainerError> {
    let st = load_state(root, id)?;
    match st.live_status() {
        s @ (Status::Running | Status::Created | Status::Paused) => Ok((st, s)),
        _ => Err(ContainerError::NotRunning),
    }
}

/// Freezes every process of the job.
pub fn pause(root: &Path, id: &str) -> Result<(), ContainerError> {
    let _g = lock(root, id)?;
    let (mut st, status) = running(root, id)?;
    if status != Status::Running {
        return Err(ContainerError::Start(format!("container {id} is not running: {status}")));
    }
    if !st.hostproc.job.freeze(true)? {
        return Err(ContainerError::invalid("pause", "this host has no freezer for the job (no freezer controller, no cgroup v2)"));
    }
    st.status = Status::Paused;
    st.save(root)
}

/// Thaws a paused job.
pub fn resume(root: &Path, id: &str) -> Result<(), ContainerError> {
    let _g = lock(root, id)?;
    let (mut st, status) = running(root, id)?;
    if status != Status::Paused {
        return Err(ContainerError::Start(format!("container {id} is not paused")));
    }
    st.hostproc.job.freeze(false)?;
    st.status = Status::Running;
    st.save(root)
}

/// Changes the job's limits.
pub fn update(root: &Path, id: &str, res: &Resources) -> Result<(), ContainerError> {
    let _g = lock(root, id)?;
    let st = load_state(root, id)?;
    if st.live_status() == Status::Stopped {
        return Err(ContainerError::NotRunning);
    }
    st.hostproc.job.apply(res)?;
    Ok(())
}

/// The pids of every process of the job.
pub fn ps(root: &Path, id: &str) -> Result<Vec<i32>, ContainerError> {
    let st = load_state(root, id)?;
    Ok(st.hostproc.job.pids()?)
}

/// The job's usage.
pub fn stats(root: &Path, id: &str) -> Result<hostproc_job::Stats, ContainerError> {
    let st = load_state(root, id)?;
    if st.live_status() == Status::Stopped {
        return Err(ContainerError::NotRunning);
    }
    Ok(st.hostproc.job.stats()?)
}
