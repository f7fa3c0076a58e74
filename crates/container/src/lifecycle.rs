//! The container's life: `run` (create, start, supervise, tear down), `kill`, `delete`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hostproc_job::{Job, Layout};
use hostproc_storage::{HostMounts, Mode, Record, SharedPoints};

use crate::config::Config;
use crate::state::{self, Internal, State, Status};
use crate::{init, ContainerError};

/// Host-wide: mount points such as `/hpc` are shared by every container on the host,
/// whatever state root each uses, so their lock files live in one place.
pub const MOUNTPOINT_LOCKS: &str = "/run/hostproc/mountpoints";

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub root: PathBuf,
}

/// Signals `run` forwards to the payload's init (the others it takes as "stop").
const FORWARDED: &[i32] = &[
    libc_sig::HUP, libc_sig::QUIT, libc_sig::USR1, libc_sig::USR2, libc_sig::WINCH, libc_sig::CONT, libc_sig::ALRM, libc_sig::URG,
];

mod libc_sig {
    pub const HUP: i32 = 1;
    pub const INT: i32 = 2;
    pub const QUIT: i32 = 3;
    pub const USR1: i32 = 10;
    pub const USR2: i32 = 12;
    pub const ALRM: i32 = 14;
    pub const TERM: i32 = 15;
    pub const CHLD: i32 = 17;
    pub const CONT: i32 = 18;
    pub const URG: i32 = 23;
    pub const WINCH: i32 = 28;
}

/// Everything a container made, for undoing it.
struct Made {
    job: Option<Job>,
    points: Option<SharedPoints>,
    record: Record,
}

impl Made {
    /// Undo in HostProcess order: processes, storage, job, state.
    fn undo(mut self, root: &Path, id: &str) {
        if let Some(job) = &self.job {
            let _ = job.kill_all();
            let _ = job.wait_empty(Duration::from_secs(5));
        }
        if let Some(mut p) = self.points.take() {
            p.release(Path::new(MOUNTPOINT_LOCKS));
        }
        if let Err(e) = hostproc_storage::release(&self.record, Path::new(MOUNTPOINT_LOCKS)) {
            tracing::warn!("{e}");
        }
        if let Some(job) = &self.job {
            if let Err(e) = job.destroy() {
                tracing::warn!("{e}");
            }
        }
        let _ = std::fs::remove_dir_all(state::dir(root, id));
    }
}

/// `hostproc run`: creates the container, runs it in the foreground and tears it all
/// down when its init exits. Returns the payload's exit code (128+N for signal N).
pub fn run(opts: &RunOptions, bundle: &Path, id: &str) -> Result<i32, ContainerError> {
    let cfg = Config::load(bundle, id)?;
    let layout = Layout::detect(&Default::default())?;
    let planned = Job::planned(&layout, cfg.cgroups_path.as_deref(), id)?;

    // Block the signals we handle before anything exists, so none is lost; the child
    // unblocks them before exec.
    let mut set = hostproc_sys::SigSet::empty();
    for s in FORWARDED.iter().chain(&[libc_sig::INT, libc_sig::TERM, libc_sig::CHLD]) {
        set.add(*s);
    }
    let old_mask = hostproc_sys::set_signal_mask(&set).map_err(crate::error::io_err("block signals in", "hostproc"))?;
    let _ = hostproc_sys::set_child_subreaper();

    state::create_dir(&opts.root, id)?;
    let record = match cfg.storage.mode {
        Mode::Host => HostMounts::record(&cfg.storage),
        Mode::Bind => {
            let mut r = Record::default();
            r.shared_points.push(cfg.storage.location.clone());
            r.shared_points.extend(cfg.storage.mounts.iter().map(|m| m.destination.clone()));
            r
        }
    };
    let mut st = State {
        oci_version: crate::OCI_VERSION.into(),
        id: id.into(),
        pid: 0,
        status: Status::Creating,
        bundle: cfg.bundle.clone(),
        rootfs: cfg.storage.rootfs.clone(),
        created: state::now_rfc3339(),
        owner: state::owner_name(hostproc_sys::ids().0),
        annotations: cfg.annotations.clone(),
        hostproc: Internal { job: planned, storage: record.clone(), lock_dir: MOUNTPOINT_LOCKS.into(), init_start: 0, exit_status: None },
    };
    let mut made = Made { job: None, points: None, record };
    // The state names everything we are about to make before we make it: a crash at any
    // point below is undone by `delete --force`.
    if let Err(e) = st.save(&opts.root) {
        made.undo(&opts.root, id);
        return Err(e);
    }
    let init = match setup(&cfg, &layout, &mut made) {
        Ok(()) => match start(&cfg, &made) {
            Ok(init) => init,
            Err(e) => {
                made.undo(&opts.root, id);
                let _ = hostproc_sys::set_signal_mask(&old_mask);
                return Err(e);
            }
        },
        Err(e) => {
            made.undo(&opts.root, id);
            let _ = hostproc_sys::set_signal_mask(&old_mask);
            return Err(e);
        }
    };
    st.pid = init;
    st.status = Status::Running;
    st.hostproc.init_start = state::start_time(init).map(|t| t.0).unwrap_or(0);
    if let Err(e) = st.save(&opts.root) {
        tracing::warn!("{e}");
    }

    let status = supervise(&cfg, made.job.as_ref().expect("job made"), init, &set);
    made.undo(&opts.root, id);
    let _ = hostproc_sys::set_signal_mask(&old_mask);
    Ok(status.code())
}

/// Makes the job and the storage.
fn setup(cfg: &Config, layout: &Layout, made: &mut Made) -> Result<(), ContainerError> {
    made.job = Some(Job::create(layout, cfg.cgroups_path.as_deref(), &cfg.id, &cfg.resources)?);
    match cfg.storage.mode {
        Mode::Bind => {
            let mut points = vec![(cfg.storage.location.clone(), true)];
            points.extend(cfg.storage.mounts.iter().map(|m| (m.destination.clone(), m.source_is_dir)));
            made.points = Some(SharedPoints::acquire(Path::new(MOUNTPOINT_LOCKS), &points)?);
        }
        Mode::Host => HostMounts::apply(&cfg.storage, &made.record)?,
    }
    // The working directory is created if missing (seen from the host: in bind mode a
    // path under the sandbox lives in the rootfs).
    let cwd = cfg.storage.host_view(&cfg.process.cwd);
    if !cwd.exists() {
        std::fs::create_dir_all(&cwd).map_err(crate::error::io_err("create the working directory (process.cwd)", &cwd))?;
    }
    Ok(())
}

/// Forks init, puts it in the job, sets what only the parent can, and lets it exec.
fn start(cfg: &Config, made: &Made) -> Result<i32, ContainerError> {
    let job = made.job.as_ref().expect("job made");
    let mut init = init::spawn(cfg)?;
    let pid = init.pid;
    let placed = job.add(pid).map_err(ContainerError::from).and_then(|()| set_oom_score_adj(cfg, pid));
    if let Err(e) = placed {
        init.abort();
        return Err(e);
    }
    init.release()?;
    Ok(pid)
}

fn set_oom_score_adj(cfg: &Config, pid: i32) -> Result<(), ContainerError> {
    let Some(adj) = cfg.process.oom_score_adj else { return Ok(()) };
    let path = format!("/proc/{pid}/oom_score_adj");
    std::fs::write(&path, adj.to_string()).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::PermissionDenied {
            "this host does not let root lower oom_score_adj (CAP_SYS_RESOURCE is missing here); remove process.oomScoreAdj or give a value not below the current one"
                .to_string()
        } else {
            e.to_string()
        };
        ContainerError::invalid("process.oomScoreAdj", format!("cannot set {adj} ({path}): {why}"))
    })
}

/// Waits for init, forwarding signals; SIGINT/SIGTERM stop the job. When init exits,
/// every other process of the job is stopped: SIGTERM, the grace period, kill-all.
fn supervise(cfg: &Config, job: &Job, init: i32, set: &hostproc_sys::SigSet) -> hostproc_sys::ExitStatus {
    let mut status = None;
    let mut deadline: Option<Instant> = None;
    loop {
        reap(init, &mut status);
        if status.is_some() {
            break;
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match hostproc_sys::wait_signal(set, timeout) {
            Ok(Some(libc_sig::CHLD)) => {}
            Ok(Some(sig)) if sig == libc_sig::INT || sig == libc_sig::TERM => {
                if deadline.is_some() {
                    // Asked twice: no more grace.
                    let _ = job.kill_all();
                } else {
                    tracing::debug!("stop requested: SIGTERM to the job, grace {:?}", cfg.options.grace);
                    let _ = job.signal_all(libc_sig::TERM);
                    deadline = Some(Instant::now() + cfg.options.grace);
                }
            }
            Ok(Some(sig)) => {
                let _ = hostproc_sys::kill(init, sig);
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
    stop_rest(cfg, job, deadline);
    status.expect("init exited")
}

/// Reaps every exited child (orphans of the job come to us as subreaper).
fn reap(init: i32, status: &mut Option<hostproc_sys::ExitStatus>) {
    while let Ok(Some((pid, st))) = hostproc_sys::try_wait(-1) {
        if pid == init {
            *status = Some(st);
        }
    }
}

/// After init: SIGTERM to what is left, wait up to the grace, then kill-all.
fn stop_rest(cfg: &Config, job: &Job, deadline: Option<Instant>) {
    let mut ignore = None;
    if job.pids().map(|p| p.is_empty()).unwrap_or(true) {
        return;
    }
    let deadline = deadline.unwrap_or_else(|| {
        let _ = job.signal_all(libc_sig::TERM);
        Instant::now() + cfg.options.grace
    });
    while Instant::now() < deadline {
        reap(0, &mut ignore);
        if job.pids().map(|p| p.is_empty()).unwrap_or(true) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = job.kill_all();
    let _ = job.wait_empty(Duration::from_secs(10));
    reap(0, &mut ignore);
}

/// `kill`: a signal to init, or with `all` to every process of the job.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<(), ContainerError> {
    let st = state::load_state(root, id)?;
    if all {
        return Ok(if sig == libc::SIGKILL { st.hostproc.job.kill_all()? } else { st.hostproc.job.signal_all(sig)? });
    }
    if !st.init_alive() {
        return Err(ContainerError::NotRunning);
    }
    hostproc_sys::kill(st.pid, sig).map_err(|_| ContainerError::NotRunning)
}

/// `delete`: removes a stopped container; with `force`, from any state, also after a
/// crash half-way and for an id that does not exist.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), ContainerError> {
    crate::validate_id(id)?;
    let st = match state::load_state(root, id) {
        Ok(st) => st,
        Err(ContainerError::NotExist(_)) if force => {
            let _ = std::fs::remove_dir_all(state::dir(root, id));
            return Ok(());
        }
        Err(e @ ContainerError::BadConfig { .. }) if force => {
            tracing::warn!("{e}; removing the state directory only");
            let _ = std::fs::remove_dir_all(state::dir(root, id));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let status = st.live_status();
    if status != Status::Stopped && !force {
        return Err(ContainerError::NotStopped { id: id.into(), status: status.to_string() });
    }
    if st.init_alive() {
        let _ = hostproc_sys::kill(st.pid, libc::SIGKILL);
    }
    st.hostproc.job.destroy()?;
    hostproc_storage::release(&st.hostproc.storage, &st.hostproc.lock_dir)?;
    std::fs::remove_dir_all(state::dir(root, id)).map_err(crate::error::io_err("remove the state directory", state::dir(root, id)))?;
    Ok(())
}

mod libc {
    pub const SIGKILL: i32 = 9;
}
