//! The container's life. `run` keeps everything in one foreground process; `create` and
//! `start` split it as runc does, with a small supervisor that stops the job when init
//! exits even when no shim watches.

mod create;
mod exec;
mod ops;
mod run;

pub use create::{create, start, CreateOptions};
pub(crate) use create::spawn_supervisor;
pub use exec::{exec, ExecOptions};
pub use ops::{delete, kill, pause, ps, resume, stats, update};
pub use run::{run, RunOptions};

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hostproc_job::{Job, Layout, Part, Resources};
use hostproc_storage::{HostMounts, Mode, Record, SharedPoints};
use hostproc_sys as sig;

use crate::config::Config;
use crate::init::{self, Launch, MountNs};
use crate::state::{self, Internal, State, Status};
use crate::crashpoint::hit as crash;
use crate::ContainerError;

/// Host-wide: mount points such as `/hpc` are shared by every container on the host,
/// whatever state root each uses, so their lock files live in one place, outside any
/// state root (where they could collide with a container id).
pub const MOUNTPOINT_LOCKS: &str = "/run/lock/hostproc/mountpoints";

/// The container's lock: an exclusive `flock` on its state directory, so commands on one
/// container are serialized and different containers run in parallel.
pub(crate) struct Lock(File);

impl Lock {
    /// The lock on a state directory made by `state::create_dir` (locked before it had its
    /// name).
    pub fn made(f: File) -> Lock {
        Lock(f)
    }

    /// In a forked child: close the child's copy without releasing the parent's lock.
    pub fn forget_in_child(&self) {
        hostproc_sys::close_fd(self.raw());
    }

    pub fn raw(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd()
    }

    /// Which directory this lock is on (device, inode): the same id may name another
    /// container's directory once this one is gone.
    pub fn dir_ident(&self) -> Option<(u64, u64)> {
        rustix::fs::fstat(&self.0).ok().map(|st| (st.st_dev, st.st_ino))
    }
}

pub(crate) fn lock(root: &Path, id: &str) -> Result<Lock, ContainerError> {
    lock_with(root, id, rustix::fs::FlockOperation::LockExclusive)
}

/// `lock` without waiting: `Ok(None)` when another command holds it.
pub(crate) fn try_lock(root: &Path, id: &str) -> Result<Option<Lock>, ContainerError> {
    match lock_with(root, id, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(l) => Ok(Some(l)),
        Err(ContainerError::Io { source, .. }) if source.raw_os_error() == Some(rustix::io::Errno::WOULDBLOCK.raw_os_error()) => Ok(None),
        Err(e) => Err(e),
    }
}

fn lock_with(root: &Path, id: &str, op: rustix::fs::FlockOperation) -> Result<Lock, ContainerError> {
    use rustix::fs::{flock, fstat, lstat, open, Mode, OFlags};
    let d = state::dir(root, id);
    loop {
        let f = match open(&d, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(rustix::io::Errno::NOENT) => return Err(ContainerError::NotExist(id.into())),
            Err(rustix::io::Errno::NOTDIR) | Err(rustix::io::Errno::LOOP) => {
                return Err(ContainerError::invalid(d.display().to_string(), "is not a directory (a planted symlink?); remove it"))
            }
            Err(e) => return Err(crate::error::io_err("open the state directory", &d)(e.into())),
        };
        flock(&f, op).map_err(|e| crate::error::io_err("lock", &d)(e.into()))?;
        // While we waited, the holder may have removed this directory, and a create may
        // have put a new container's in its place: the lock counts only on the directory
        // still at the path (else a delete would take apart a container being made).
        let held = fstat(&f).map_err(|e| crate::error::io_err("lock", &d)(e.into()))?;
        match lstat(&d) {
            Ok(now) if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino) => return Ok(Lock(f)),
            Ok(_) => continue,
            Err(rustix::io::Errno::NOENT) => return Err(ContainerError::NotExist(id.into())),
            Err(e) => return Err(crate::error::io_err("lock", &d)(e.into())),
        }
    }
}

/// Everything a container made, for undoing it.
pub(crate) struct Made {
    pub job: Option<Job>,
    pub points: Option<SharedPoints>,
    pub record: Record,
    /// The ephemeral user as recorded (removed at undo), and our hold on its uid.
    pub user: Option<hostproc_identity::EphemeralUser>,
    pub user_lock: Option<hostproc_identity::Ephemeral>,
    /// Directories made for the working directory, parents first.
    pub dirs: Vec<PathBuf>,
}

impl Made {
    pub fn new(record: Record) -> Made {
        Made { job: None, points: None, record, user: None, user_lock: None, dirs: Vec::new() }
    }
}

impl Made {
    /// Undo in HostProcess order: processes and job, storage, ephemeral user, state.
    pub fn undo(mut self, root: &Path, id: &str) {
        // Every process gone (destroy kills and waits) before the storage goes.
        if let Some(job) = &self.job {
            if let Err(e) = job.destroy() {
                tracing::warn!("{e}");
            }
        }
        // Before the storage: a working directory made inside a host-mode volume is
        // reached through its mount.
        remove_made_dirs(&self.dirs);
        release_storage(self.points.take(), &self.record);
        if let Some(user) = self.user.take() {
            if let Err(e) = hostproc_identity::release(&user, self.user_lock.take()) {
                tracing::warn!("{e}");
            }
        }
        let _ = state::remove_dir(root, id);
    }
}

/// Releases a container's storage. The shared mount points this process holds are let go
/// once, through its hold; the record covers the rest (host-mode mounts, and the shared
/// points of a crashed holder).
pub(crate) fn release_storage(points: Option<SharedPoints>, record: &Record) {
    let mut rest = record.clone();
    if let Some(mut p) = points {
        p.release(Path::new(MOUNTPOINT_LOCKS));
        rest.shared_points.clear();
    }
    if let Err(e) = hostproc_storage::release(&rest, Path::new(MOUNTPOINT_LOCKS)) {
        tracing::warn!("{e}");
    }
}

/// Removes the directories made for the working directory, deepest first, each only while
/// it is empty (what the payload left there stays, with the directories above it) and no
/// process works in it (another container may have found it made and be running there).
/// Idempotent: gone already is fine.
pub(crate) fn remove_made_dirs(dirs: &[PathBuf]) {
    if dirs.is_empty() {
        return;
    }
    let in_use = process_cwds();
    for d in dirs.iter().rev() {
        if in_use.iter().any(|c| c.starts_with(d)) {
            tracing::info!(path = %d.display(), "working directory left in place: a process works in it");
            continue;
        }
        match std::fs::remove_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::info!(path = %d.display(), "working directory left in place: {e}"),
        }
    }
}

/// The working directory of every process this one may look at (teardown only).
fn process_cwds() -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.filter_map(|e| {
        let e = e.ok()?;
        e.file_name().to_str()?.parse::<u32>().ok()?;
        std::fs::read_link(e.path().join("cwd")).ok()
    })
    .collect()
}

/// The first state of a container, naming everything about to be made, and where its
/// storage will be.
pub(crate) fn initial_state(cfg: &Config, layout: &Layout) -> Result<State, ContainerError> {
    let planned = Job::planned(layout, cfg.cgroups_path.as_deref(), &cfg.id, &cfg.resources)?;
    let record = match cfg.storage.mode {
        Mode::Host => HostMounts::record(&cfg.storage),
        Mode::Bind => Record { shared_points: cfg.storage.shared_points().into_iter().map(|(p, _)| p).collect(), ..Default::default() },
    };
    Ok(State {
        oci_version: crate::OCI_VERSION.into(),
        id: cfg.id.clone(),
        pid: 0,
        status: Status::Creating,
        bundle: cfg.bundle.clone(),
        rootfs: cfg.storage.rootfs.clone(),
        created: state::now_rfc3339(),
        owner: state::owner_name(hostproc_sys::ids().0),
        annotations: cfg.annotations.clone(),
        hostproc: Internal {
            job: planned,
            storage: record,
            lock_dir: MOUNTPOINT_LOCKS.into(),
            init_start: 0,
            identity: cfg.identity.clone(),
            sandbox: cfg.storage.sandbox().to_path_buf(),
            bind_mode: cfg.storage.mode == Mode::Bind,
            ephemeral: None,
            reason: None,
            supervisor: None,
            made_dirs: Vec::new(),
            hooks: cfg.hooks.later.clone(),
        },
    })
}

/// Makes the job, the storage and the ephemeral user, each recorded in the state before
/// it is made.
pub(crate) fn setup(cfg: &mut Config, made: &mut Made, st: &mut State, root: &Path) -> Result<(), ContainerError> {
    st.save(root)?;
    crash("after-state");
    // The v2 part now (init is forked into it); the v1 part while init sets up
    // (`start_process`). Without a v2 hierarchy, all of it now.
    let job = st.hostproc.job.clone();
    job.make(&cfg.resources, Part::Unified)?;
    made.job = Some(job);
    crash("after-cgroup");
    match cfg.storage.mode {
        Mode::Bind => made.points = hostproc_storage::acquire_bind_points(&cfg.storage, Path::new(MOUNTPOINT_LOCKS))?,
        Mode::Host => HostMounts::apply(&cfg.storage, &made.record)?,
    }
    crash("after-mounts");
    if let Some((group, gid)) = cfg.ephemeral_group.clone() {
        let eph = hostproc_identity::allocate(&cfg.id, gid, |user| {
            made.user = Some(user.clone());
            st.hostproc.ephemeral = Some(user.clone());
            st.save(root).map_err(|e| e.to_string())
        })
        .map_err(|e| ContainerError::invalid(format!("runAsUserName (group {group})"), e.to_string()))?;
        cfg.identity.uid = eph.user.uid;
        cfg.identity.name = Some(eph.user.name.clone());
        st.hostproc.identity = cfg.identity.clone();
        made.user_lock = Some(eph);
        crash("after-user");
    }
    // The working directory is created if missing (seen from the host: in bind mode a
    // path under the sandbox lives in the rootfs), each directory recorded before it is
    // made, so that teardown (also delete --force after a crash) removes it again.
    let cwd = cfg.storage.host_view(&cfg.process.cwd);
    if std::fs::symlink_metadata(&cwd).is_err() {
        let mut missing: Vec<PathBuf> = cwd.ancestors().take_while(|p| std::fs::symlink_metadata(p).is_err()).map(Path::to_path_buf).collect();
        missing.reverse();
        st.hostproc.made_dirs = missing.clone();
        made.dirs = missing;
        st.save(root)?;
        for d in &made.dirs {
            match std::fs::create_dir(d) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(crate::error::io_err("create the working directory (process.cwd)", d)(e));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The init's launch description.
pub(crate) fn init_launch(cfg: &Config, tty: Option<std::os::fd::OwnedFd>, preserve_fds: u32, close_in_child: Vec<i32>) -> Launch<'_> {
    Launch {
        process: &cfg.process,
        identity: &cfg.identity,
        mounts: match cfg.storage.mode {
            Mode::Bind => MountNs::Enter(&cfg.storage),
            Mode::Host => MountNs::Host,
        },
        sandbox: cfg.storage.sandbox(),
        tty,
        preserve_fds,
        close_in_child,
    }
}

/// Forks a process into the job, sets what only the parent can, and releases it. With
/// `v1`, the job's v1 part is made (with these limits) while the child sets up.
pub(crate) fn start_process(l: &Launch, job: &Job, hold: &init::Hold, v1: Option<&Resources>) -> Result<i32, ContainerError> {
    start_process_with(l, job, hold, v1, |_| {})
}

/// The same, running `meanwhile` with the new pid while the child sets up and execs (work
/// of the parent's that need not wait for the outcome).
pub(crate) fn start_process_with(l: &Launch, job: &Job, hold: &init::Hold, v1: Option<&Resources>, meanwhile: impl FnOnce(i32)) -> Result<i32, ContainerError> {
    // The last check before a process is made, whatever built its identity: (uid_t)-1
    // would leave the payload as root (setresuid's "unchanged"); the ephemeral user's
    // placeholder must have been replaced by its uid by now.
    let id = l.identity;
    if id.uid == u32::MAX || id.gid == u32::MAX || id.additional_gids.contains(&u32::MAX) {
        return Err(ContainerError::invalid("process.user", "uid or gid 4294967295 ((uid_t)-1) names no account; give 0 to 4294967294"));
    }
    let entry = job.entry()?;
    let v1 = v1.filter(|_| entry.has_v1() && entry.unified.is_some());
    let mut p = init::spawn(l, hold, &entry, v1.is_some())?;
    let pid = p.pid;
    let placed = (|| -> Result<(), ContainerError> {
        if !p.in_unified {
            entry.add_unified(pid)?;
        }
        if let Some(res) = v1 {
            job.make_each(res, Part::V1, || p.v1_made())?;
        }
        set_oom_score_adj(l.process.oom_score_adj, pid)
    })();
    if let Err(e) = placed {
        p.abort();
        return Err(e);
    }
    p.go();
    meanwhile(pid);
    p.outcome()?;
    Ok(pid)
}

fn set_oom_score_adj(adj: Option<i32>, pid: i32) -> Result<(), ContainerError> {
    let Some(adj) = adj else { return Ok(()) };
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

/// Reaps every exited child; returns init's status if it was among them.
pub(crate) fn reap(init: i32, status: &mut Option<sig::ExitStatus>) {
    while let Ok(Some((pid, st))) = sig::try_wait(-1) {
        if pid == init {
            *status = Some(st);
        }
    }
}

/// After init: SIGTERM to what is left, wait up to the grace (or the given deadline),
/// then kill-all. Children we are parent of are reaped along the way.
pub(crate) fn stop_rest(grace: Duration, job: &Job, deadline: Option<Instant>) {
    let mut ignore = None;
    if job.pids().map(|p| p.is_empty()).unwrap_or(true) {
        return;
    }
    let deadline = deadline.unwrap_or_else(|| {
        let _ = job.signal_all(sig::SIGTERM);
        Instant::now() + grace
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

/// Writes `pid` to `path` atomically (a temporary file renamed into place).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<(), ContainerError> {
    let path = std::path::absolute(path).map_err(crate::error::io_err("resolve the pid file", path))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let tmp = dir.join(format!(".{}.tmp{}", path.file_name().unwrap_or_default().to_string_lossy(), sig::getpid()));
    std::fs::write(&tmp, pid.to_string()).map_err(crate::error::io_err("write the pid file", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(crate::error::io_err("write the pid file", &path))
}
