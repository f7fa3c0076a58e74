//! The state directory on Windows, in the Linux layout (crates/container/src/state.rs):
//! `<root>/<id>/state.json`, written atomically (a temporary file renamed over the old one),
//! with runc's fields and hostproc's own part under `hostproc`. The container crate builds
//! only for Linux (its state names the cgroup job, mounts and Linux identities), so the
//! Windows part is its own small type here: the Job Object and the sandbox it made.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use hostproc_job::windows::sandbox::Sandbox;
use hostproc_job::windows::{Job, Process};
use serde::{Deserialize, Serialize};

use super::Error;

/// The runtime-spec version written in the state, as on Linux.
pub const OCI_VERSION: &str = "1.3.0";
const STATE_FILE: &str = "state.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        })
    }
}

/// What hostproc keeps to find and undo a Windows container's parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Internal {
    /// The Job Object (its name and the limits set): `delete` finds it by name.
    pub job: Job,
    /// What the sandbox made (links, directories): `delete` removes exactly those.
    pub sandbox: Sandbox,
    /// Creation time of init (100 ns since 1601), so a reused pid is never taken for it.
    pub init_start: u64,
    /// Init's first thread, left suspended by `create`, resumed by `start`.
    pub init_thread: u32,
    /// The process that holds the job (pid, creation time).
    #[serde(default)]
    pub supervisor: Option<(u32, u64)>,
    /// `hostproc.io/grace-period`: kill's and the supervisor's wait before terminating.
    pub grace_ms: u64,
}

/// runc's state JSON, plus hostproc's own part under `hostproc`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: u32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    pub hostproc: Internal,
}

/// runc's view, for `state`.
#[derive(Serialize)]
pub struct Public<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: u32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

/// Container ids as runc allows them (`^[\w+-\.]+$`), not `.` or `..`, at most 255 bytes
/// (the Linux rule: an id is one path component and part of the Job Object's name).
pub fn validate_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty() && id.len() <= 255 && id != "." && id != ".." && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok { Ok(()) } else { Err(Error::BadId(id.chars().take(64).collect())) }
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io { what, path: path.to_path_buf(), source }
}

/// Makes the container's state directory (and the root); fails if it exists.
pub fn create_dir(root: &Path, id: &str) -> Result<PathBuf, Error> {
    fs::create_dir_all(root).map_err(io_err("create the state root", root))?;
    let d = dir(root, id);
    match fs::create_dir(&d) {
        Ok(()) => Ok(d),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::Exists(id.to_owned())),
        Err(e) => Err(io_err("create the state directory", &d)(e)),
    }
}

/// Removes the state file and the directory (only what hostproc writes there; never
/// recursively). Gone already is fine.
pub fn remove(root: &Path, id: &str) -> Result<(), Error> {
    let d = dir(root, id);
    let rd = match fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read the state directory", &d)(e)),
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == STATE_FILE || name.starts_with(".state.json.") {
            fs::remove_file(e.path()).map_err(io_err("remove", &e.path()))?;
        }
    }
    match fs::remove_dir(&d) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove the state directory (something else is in it)", &d)(e)),
        _ => Ok(()),
    }
}

impl State {
    /// Writes the state atomically (a rename replaces the old file on Windows too).
    pub fn save(&self, root: &Path) -> Result<(), Error> {
        let d = dir(root, &self.id);
        let tmp = d.join(format!(".state.json.{}", std::process::id()));
        let body = serde_json::to_vec(self).expect("state serializes");
        fs::write(&tmp, body).map_err(io_err("write the state file", &tmp))?;
        let to = d.join(STATE_FILE);
        fs::rename(&tmp, &to).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_err("write the state file", &to)(e)
        })
    }

    /// Whether init (the very process recorded, not a later owner of its pid) runs.
    pub fn init_alive(&self) -> bool {
        matches!(Process::open(self.pid, Some(self.hostproc.init_start)), Ok(Some(p)) if p.alive())
    }

    /// The status as it is now: created or running with init gone is stopped.
    pub fn live_status(&self) -> Status {
        match self.status {
            Status::Created | Status::Running if !self.init_alive() => Status::Stopped,
            s => s,
        }
    }

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
        }
    }
}

/// Reads a container's state: an unknown id is `NotExist`, a torn file a clear error.
pub fn load(root: &Path, id: &str) -> Result<State, Error> {
    validate_id(id)?;
    let p = dir(root, id).join(STATE_FILE);
    let text = match fs::read(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NotExist { id: id.to_owned(), root: root.to_path_buf() }),
        Err(e) => return Err(io_err("read the state file", &p)(e)),
    };
    let st: State = serde_json::from_slice(&text).map_err(|e| Error::BadState { id: id.to_owned(), path: p.clone(), detail: e.to_string() })?;
    if st.id != id {
        return Err(Error::BadState { id: id.to_owned(), path: p, detail: format!("it names container {:?}", st.id) });
    }
    Ok(st)
}

/// RFC 3339 time, UTC, with nanoseconds, as runc writes `created` (Howard Hinnant's
/// civil-from-days, as the Linux state).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
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
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_nanos())
}
