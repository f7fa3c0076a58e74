//! The state directory: `<root>/<id>/state.json`, written atomically (a temporary file
//! renamed over the old one), readable by root only.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hostproc_job::Job;
use hostproc_storage::Record;
use serde::{Deserialize, Serialize};

use crate::error::io_err;
use crate::ContainerError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// What hostproc keeps to find and undo a container's parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Internal {
    pub job: Job,
    #[serde(default)]
    pub storage: Record,
    pub lock_dir: PathBuf,
    /// Start time of init (clock ticks since boot), so a reused pid is never signalled.
    #[serde(default)]
    pub init_start: u64,
    /// Who the container's processes run as (execs that name no user too).
    pub identity: hostproc_identity::Identity,
    /// `CONTAINER_SANDBOX_MOUNT_POINT`.
    pub sandbox: PathBuf,
    /// Bind mode: execs join init's mount namespace.
    #[serde(default)]
    pub bind_mode: bool,
    /// The ephemeral user made for this container, removed at delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<hostproc_identity::EphemeralUser>,
    /// Why the container stopped, when hostproc knows (Kubernetes' term: "OOMKilled").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The process that stops the job when init exits (create/start), as (pid, start time).
    #[serde(default)]
    pub supervisor: Option<(i32, u64)>,
    /// Directories made for a missing working directory (process.cwd), parents first, as
    /// the host sees them: recorded before they are made, removed at teardown while empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub made_dirs: Vec<PathBuf>,
    /// The spec's startContainer, poststart and poststop hooks, for `start` and `delete`
    /// (absent without hooks, and in states written before hooks were run).
    #[serde(default, skip_serializing_if = "crate::hooks::Later::is_empty")]
    pub hooks: crate::hooks::Later,
}

/// runc's state JSON, plus hostproc's own part under `hostproc`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    pub hostproc: Internal,
}

/// runc's view of the state, for `state` and `list`.
#[derive(Serialize)]
pub struct Public<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
    /// hostproc's addition: why a stopped container stopped, when known ("OOMKilled").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// The state file's name in a container's state directory.
const STATE_FILE: &str = "state.json";

/// Removes a container's state directory. Once a container has started it holds only
/// `state.json`, so that and an rmdir do; anything else (the fifos of a container created
/// and never started, a stray temporary file) falls back to a walk. Gone already is fine.
pub fn remove_dir(root: &Path, id: &str) -> io::Result<()> {
    use rustix::fs::{open, unlinkat, AtFlags, Mode, OFlags};
    let d = dir(root, id);
    // Through the directory itself, never a link in its place (that goes as a link below).
    if let Ok(fd) = open(&d, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
        let _ = unlinkat(&fd, STATE_FILE, AtFlags::empty());
    }
    match fs::remove_dir(&d) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => match fs::remove_dir_all(&d) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        },
        Ok(()) => Ok(()),
    }
}

/// Creates the state root (0700) and the container's directory; fails if it exists.
pub fn create_dir(root: &Path, id: &str) -> Result<(PathBuf, fs::File), ContainerError> {
    let d = dir(root, id);
    // Made under a name no id can have ('~'), locked, then renamed into place without
    // replacing anything: no other command ever sees it unlocked (a `delete --force` that
    // came between a plain mkdir and the lock would remove it from under this create).
    let tmp = root.join(format!(".creating~{}", hostproc_sys::getpid()));
    let mkdir = || fs::DirBuilder::new().mode(0o700).create(&tmp);
    // One mkdir in the common case; the root is made, or a leftover of a crashed process
    // with our pid removed, only when that fails.
    match mkdir() {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(root).map_err(io_err("create the state root", root))?;
            mkdir().map_err(io_err("create the state directory", &tmp))?;
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_dir(&tmp);
            mkdir().map_err(io_err("create the state directory", &tmp))?;
        }
        Err(e) => return Err(io_err("create the state directory", &tmp)(e)),
    }
    let placed = (|| {
        use rustix::fs::{flock, open, renameat_with, FlockOperation, Mode, OFlags, RenameFlags, CWD};
        let f = open(&tmp, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        flock(&f, FlockOperation::LockExclusive)?;
        renameat_with(CWD, &tmp, CWD, &d, RenameFlags::NOREPLACE)?;
        Ok::<_, rustix::io::Errno>(fs::File::from(f))
    })();
    match placed {
        Ok(f) => Ok((d, f)),
        Err(e) => {
            let _ = fs::remove_dir(&tmp);
            match e {
                rustix::io::Errno::EXIST => Err(ContainerError::Exists(id.to_owned())),
                e => Err(io_err("create the state directory", &d)(e.into())),
            }
        }
    }
}

impl State {
    /// Writes the state atomically.
    pub fn save(&self, root: &Path) -> Result<(), ContainerError> {
        let d = dir(root, &self.id);
        // A name of our own, made fresh (O_EXCL, never through a symlink): a file or link
        // planted there is removed, not followed.
        let tmp = d.join(format!(".state.json.{}", hostproc_sys::getpid()));
        let body = serde_json::to_vec(self).expect("state serializes");
        let open = || {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&tmp)
        };
        let mut f = match open() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&tmp);
                open()
            }
            r => r,
        }
        .map_err(io_err("write the state file", &tmp))?;
        let written = f.write_all(&body).map_err(io_err("write the state file", &tmp));
        let renamed = written.and_then(|()| fs::rename(&tmp, d.join(STATE_FILE)).map_err(io_err("write the state file", d.join(STATE_FILE))));
        if renamed.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        renamed
    }

    /// The status as it is now: a created or running container whose init is gone (or
    /// whose pid now names another process) is stopped.
    pub fn live_status(&self) -> Status {
        self.status_if(|| self.init_alive())
    }

    /// The live status and whether init is alive (also for a container recorded stopped or
    /// half-made), from one look at the process.
    pub fn live(&self) -> (Status, bool) {
        let alive = self.init_alive();
        (self.status_if(|| alive), alive)
    }

    /// The recorded status, or stopped when it says init runs and `alive` says it does not
    /// (asked only then).
    fn status_if(&self, alive: impl FnOnce() -> bool) -> Status {
        match self.status {
            Status::Created | Status::Running | Status::Paused => {
                if alive() {
                    self.status
                } else {
                    Status::Stopped
                }
            }
            s => s,
        }
    }

    pub fn init_alive(&self) -> bool {
        self.pid > 0 && start_time(self.pid).is_some_and(|(t, zombie)| t == self.hostproc.init_start && !zombie)
    }

    /// The state's view of a container, its status as the process says.
    pub fn public(&self) -> Public<'_> {
        let status = self.live_status();
        Public {
            oci_version: &self.oci_version,
            id: &self.id,
            pid: if status == Status::Stopped { 0 } else { self.pid },
            status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: &self.annotations,
            reason: if status != Status::Stopped {
                None
            } else if self.status != Status::Stopped {
                // init is gone but the supervisor has not recorded why yet: ask the job
                // (the cgroup stays until delete) as the supervisor will.
                self.hostproc.job.oom_killed().then_some(OOM_KILLED)
            } else {
                self.hostproc.reason.as_deref()
            },
        }
    }
}

/// `reason` of a container the kernel's OOM killer stopped (Kubernetes' word).
pub const OOM_KILLED: &str = "OOMKilled";

/// Reads a container's state. An unknown id is `NotExist`; a torn or foreign file is a
/// clear error naming it.
pub fn load_state(root: &Path, id: &str) -> Result<State, ContainerError> {
    crate::validate_id(id)?;
    let d = dir(root, id);
    let p = d.join(STATE_FILE);
    let foreign = |what: &str| ContainerError::BadState { path: d.clone(), detail: format!("{what}; remove it with `hostproc delete --force {id}`") };
    // Neither the directory nor the file is followed through a symlink.
    use rustix::fs::{Mode, OFlags};
    let dfd = match rustix::fs::open(&d, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Err(ContainerError::NotExist(id.to_owned())),
        Err(rustix::io::Errno::LOOP) => return Err(foreign("it is a symlink, and a planted symlink is never followed")),
        Err(rustix::io::Errno::NOTDIR) => {
            return Err(if fs::symlink_metadata(&d).map(|m| m.file_type().is_symlink()).unwrap_or(false) {
                foreign("it is a symlink, and a planted symlink is never followed")
            } else {
                foreign("it is a file, not a directory")
            })
        }
        Err(e) => return Err(io_err("open the state directory", &d)(e.into())),
    };
    let text = match rustix::fs::openat(&dfd, STATE_FILE, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => {
            let mut f = fs::File::from(fd);
            let mut t = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut t).map_err(io_err("read the state file", &p))?;
            t
        }
        Err(rustix::io::Errno::NOENT) => return Err(ContainerError::NotExist(id.to_owned())),
        Err(rustix::io::Errno::LOOP) => return Err(foreign("its state.json is a symlink, and a planted symlink is never followed")),
        Err(e) => return Err(io_err("read the state file", &p)(e.into())),
    };
    let st = parse_state(&text, &p, id)?;
    if st.id != id {
        return Err(ContainerError::BadState { path: p, detail: format!("it names container {:?}, not {id:?}; remove it with `hostproc delete --force {id}`", st.id) });
    }
    Ok(st)
}

/// Parses a state file's bytes (`path` and `id` name it in errors).
pub fn parse_state(text: &[u8], path: &Path, id: &str) -> Result<State, ContainerError> {
    serde_json::from_slice(text).map_err(|e| ContainerError::BadState {
        path: path.to_path_buf(),
        detail: format!("{e}; remove it with `hostproc delete --force {id}`"),
    })
}

/// Every container under `root`, in name order. Unreadable entries are skipped with a
/// warning rather than failing the whole list.
pub fn list(root: &Path) -> Result<Vec<State>, ContainerError> {
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read the state root", root)(e)),
    };
    let mut names: Vec<String> = rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| crate::validate_id(n).is_ok()).collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        match load_state(root, &n) {
            Ok(s) => out.push(s),
            Err(ContainerError::NotExist(_)) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }
    Ok(out)
}

/// (start time in clock ticks since boot, is a zombie) of a process.
pub fn start_time(pid: i32) -> Option<(u64, bool)> {
    let s = hostproc_sys::read_kernel_file(Path::new(&format!("/proc/{pid}/stat"))).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(19)?.parse().ok()?, f.first() == Some(&"Z")))
}

/// RFC 3339 time, UTC, with nanoseconds, as runc writes `created`.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (year, month, day, h, m, s) = civil(d.as_secs() as i64);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:09}Z", d.subsec_nanos())
}

/// Civil date and time (UTC) of `secs` since the epoch: (year, month, day, hour, minute,
/// second), by Howard Hinnant's civil-from-days.
pub fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The user name of `uid` for `owner` (empty when unknown, as runc leaves it).
pub fn owner_name(uid: u32) -> String {
    hostproc_identity::user_name(uid).unwrap_or_default()
}
