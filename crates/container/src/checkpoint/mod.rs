//! Checkpoint and restore with CRIU, with runc's flags and image layout (the CRIU images
//! in the image directory, `descriptors.json` for init's stdio), so that containerd's runc
//! shim drives hostproc as it drives runc.
//!
//! The whole job is taken: every process tree in the job's cgroup (a payload that
//! daemonizes leaves init's tree), each dumped by its own CRIU run, init's tree into the
//! image directory itself and the others into `hostproc-trees/<n>/`. CRIU runs inside the
//! container's mount namespace (bind mode), so the namespace is CRIU's own and is not
//! dumped: at restore hostproc makes it again from the bundle (the rootfs at its location,
//! the volumes) and CRIU restores the processes into it. The job is made again from the
//! bundle's limits and CRIU runs inside it, so the restored processes are in the job.
//! `hostproc.json` keeps hostproc's own record (the state, the trees, the pids).

mod criu;
pub mod archive;

pub use criu::Criu;

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lifecycle;
use crate::state::{load_state, State, Status};
use crate::ContainerError;
use criu::Place;

/// Why a checkpoint or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("CRIU {name} cannot be used: {detail}; build it with .ci/build-criu (CRIU 4.0 or later on kernels from 6.13 on) and give it with --criu")]
    NoCriu { name: String, detail: String },
    #[error("criu {action} failed ({status}); its log is {log}:{errors}")]
    Criu { action: &'static str, status: String, log: PathBuf, errors: String },
    #[error("criu {action}: could not set up its process: {detail}")]
    Setup { action: &'static str, detail: String },
    #[error("cannot checkpoint container {id}: {detail}")]
    Refused { id: String, detail: String },
    #[error("cannot restore from {path}: {detail}")]
    Image { path: PathBuf, detail: String },
    #[error("cannot restore container {id}: {detail}")]
    Restore { id: String, detail: String },
    #[error("cannot {what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}

fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.into();
    move |source| CheckpointError::Io { what, path, source }
}

/// hostproc's record in the image directory.
pub const META: &str = "hostproc.json";
/// runc's record of init's stdio (what /proc/<init>/fd/0-2 linked to).
pub const DESCRIPTORS: &str = "descriptors.json";
/// Where the trees other than init's go, beneath the image directory.
pub const TREES: &str = "hostproc-trees";

#[derive(Debug, Serialize, Deserialize)]
pub struct Meta {
    pub version: u32,
    /// The CRIU version that dumped it.
    pub criu: String,
    pub state: State,
    /// The root pid of each tree dumped, init's first, and its images directory relative
    /// to the image directory ("" for init's).
    pub trees: Vec<(i32, String)>,
    /// Every pid of the job when it was dumped (CRIU restores them all with their pids).
    pub pids: Vec<i32>,
    /// init's stdio that CRIU took as external files (descriptor, CRIU's key): opened in
    /// the host's mount namespace before init made its own, so not in the one dumped.
    /// At restore the restoring process's own descriptor takes its place.
    #[serde(default)]
    pub external_stdio: Vec<(i32, String)>,
}

impl Meta {
    pub fn load(image: &Path) -> Result<Meta, CheckpointError> {
        let p = image.join(META);
        let text = fs::read(&p).map_err(|e| CheckpointError::Image {
            path: image.to_path_buf(),
            detail: format!("{}: {e} (not a checkpoint written by hostproc checkpoint)", p.display()),
        })?;
        serde_json::from_slice(&text).map_err(|e| CheckpointError::Image { path: image.to_path_buf(), detail: format!("{}: {e}", p.display()) })
    }
}

/// runc's checkpoint flags.
#[derive(Debug, Clone, Default)]
pub struct CheckpointOptions {
    pub root: PathBuf,
    pub criu: Option<String>,
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub pre_dump: bool,
    pub manage_cgroups_mode: Option<String>,
    /// Also write the checkpoint as Kubernetes' checkpoint archive.
    pub export: Option<PathBuf>,
}

/// The CRIU flags both directions share.
fn common_flags(tcp: bool, ext_unix: bool, shell: bool, locks: bool) -> Vec<String> {
    let mut a = Vec::new();
    for (on, flag) in [(tcp, "--tcp-established"), (ext_unix, "--ext-unix-sk"), (shell, "--shell-job"), (locks, "--file-locks")] {
        if on {
            a.push(flag.to_owned());
        }
    }
    a
}

fn check_cgroups_mode(mode: Option<&str>) -> Result<(), ContainerError> {
    match mode {
        None | Some("soft" | "full" | "strict" | "ignore") => Ok(()),
        Some(m) => Err(ContainerError::invalid("--manage-cgroups-mode", format!("{m:?} is not one of soft, full, strict, ignore"))),
    }
}

/// Checkpoints a running container into `image_path`: written beside it under a temporary
/// name and renamed into place when every tree is dumped, so a failed dump leaves no
/// half-written checkpoint there. CRIU always leaves the processes running; without
/// `leave_running` hostproc then stops the job and deletes the container, as runc does.
pub fn checkpoint(o: &CheckpointOptions, id: &str) -> Result<(), ContainerError> {
    check_cgroups_mode(o.manage_cgroups_mode.as_deref())?;
    let criu = Criu::find(o.criu.as_deref())?;
    let image = std::path::absolute(&o.image_path).map_err(crate::error::io_err("resolve --image-path", &o.image_path))?;
    let g = lifecycle::lock(&o.root, id)?;
    let st = load_state(&o.root, id)?;
    let paused = match st.live_status() {
        Status::Running => false,
        // containerd pauses a task around its checkpoint. CRIU cannot seize frozen
        // processes without its own freezer handling (one tree at a time here): thawed for
        // the dump (CRIU stops each tree itself), frozen again after.
        Status::Paused => true,
        s => return Err(CheckpointError::Refused { id: id.into(), detail: format!("it is {s}; only a running or paused container can be checkpointed") }.into()),
    };
    let pids = st.hostproc.job.pids()?;
    let roots = tree_roots(id, &st, &pids)?;
    let tmp = prepare_target(&image)?;
    if paused {
        st.hostproc.job.freeze(false)?;
    }
    let res = dump_into(o, &criu, &st, &roots, &pids, &tmp);
    if paused {
        let _ = st.hostproc.job.freeze(true);
    }
    if let Err(e) = res {
        // Ours: made by prepare_target under a name with our pid.
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // Over an empty directory (containerd makes it), never over a checkpoint.
    if let Err(e) = fs::rename(&tmp, &image) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(CheckpointError::Io { what: "move the checkpoint into", path: image, source: e }.into());
    }
    if let Some(archive) = &o.export {
        archive::export(&image, &st, archive)?;
    }
    if !o.leave_running && !o.pre_dump {
        drop(g);
        lifecycle::delete(&o.root, id, true)?;
    }
    Ok(())
}

fn dump_into(o: &CheckpointOptions, criu: &Criu, st: &State, roots: &[i32], pids: &[i32], tmp: &Path) -> Result<(), ContainerError> {
    let work = match &o.work_path {
        Some(w) => {
            fs::create_dir_all(w).map_err(io("create the work directory", w))?;
            std::path::absolute(w).map_err(io("resolve the work directory", w))?
        }
        None => tmp.to_path_buf(),
    };
    let place = || if st.hostproc.bind_mode { Place::MountNsOf(st.pid) } else { Place::Host };
    let external = if st.hostproc.bind_mode { external_stdio(st.pid) } else { Vec::new() };
    let mut trees = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        let rel = if i == 0 { String::new() } else { format!("{TREES}/{i}") };
        let dir = tmp.join(&rel);
        fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let log = if i == 0 { "dump.log".to_owned() } else { format!("dump-{i}.log") };
        let mut args: Vec<String> = vec![
            if o.pre_dump { "pre-dump" } else { "dump" }.into(),
            "-t".into(),
            root.to_string(),
            "-D".into(),
            dir.display().to_string(),
            "-W".into(),
            work.display().to_string(),
            "-o".into(),
            log.clone(),
            "-v4".into(),
            // Every tree is left running until all are dumped: a failure on the second
            // must not have killed the first.
            "--leave-running".into(),
            format!("--manage-cgroups={}", o.manage_cgroups_mode.as_deref().unwrap_or("soft")),
        ];
        args.extend(common_flags(o.tcp_established, o.ext_unix_sk, o.shell_job, o.file_locks));
        for (_, key) in &external {
            args.push("--external".into());
            args.push(key.clone());
        }
        if o.pre_dump {
            args.push("--track-mem".into());
        }
        if let Some(p) = &o.parent_path {
            args.push("--prev-images-dir".into());
            args.push(p.display().to_string());
            args.push("--track-mem".into());
        }
        criu.run(if o.pre_dump { "pre-dump" } else { "dump" }, &args, place(), None, &[], &work.join(&log))?;
        trees.push((*root, rel));
    }
    // runc's descriptors.json: what init's stdio was, for --inherit-fd at restore.
    let fds: Vec<String> = (0..3).map(|n| fs::read_link(format!("/proc/{}/fd/{n}", st.pid)).map(|p| p.display().to_string()).unwrap_or_default()).collect();
    let write = |name: &str, body: Vec<u8>| fs::write(tmp.join(name), body).map_err(io("write", tmp.join(name)));
    write(DESCRIPTORS, serde_json::to_vec(&fds).expect("descriptors serialize"))?;
    let meta = Meta { version: 1, criu: criu.version.clone(), state: st.clone(), trees, pids: pids.to_vec(), external_stdio: external };
    write(META, serde_json::to_vec_pretty(&meta).expect("meta serializes"))?;
    Ok(())
}

/// init's descriptors 0-2 whose mount is not in its mount namespace (a file such as
/// /dev/null that init's creator opened on the host), as CRIU's external-file keys.
fn external_stdio(pid: i32) -> Vec<(i32, String)> {
    use std::os::unix::fs::MetadataExt;
    let mounts = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    let ids: Vec<&str> = mounts.lines().filter_map(|l| l.split_whitespace().next()).collect();
    let mut out = Vec::new();
    for n in 0..3 {
        let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{n}")).unwrap_or_default();
        let Some(mnt) = info.lines().find_map(|l| l.strip_prefix("mnt_id:")).and_then(|v| v.trim().parse::<u64>().ok()) else { continue };
        if ids.contains(&mnt.to_string().as_str()) {
            continue;
        }
        let Ok(md) = fs::metadata(format!("/proc/{pid}/fd/{n}")) else { continue };
        if md.file_type().is_file() || md.file_type().is_dir() || std::os::unix::fs::FileTypeExt::is_char_device(&md.file_type()) {
            out.push((n, format!("file[{mnt:x}:{:x}]", md.ino())));
        }
    }
    out
}

/// The temporary directory beside `image` the dump goes into. `image` itself may exist
/// only as an empty directory.
fn prepare_target(image: &Path) -> Result<PathBuf, CheckpointError> {
    match fs::read_dir(image) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(CheckpointError::Image {
                    path: image.to_path_buf(),
                    detail: "the image directory is not empty: a checkpoint is never written over another; give a new or empty --image-path".into(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(CheckpointError::Io { what: "read the image directory", path: image.to_path_buf(), source: e }),
    }
    let parent = image.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(io("create", parent))?;
    let name = image.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "checkpoint".into());
    let tmp = parent.join(format!(".{name}.hostproc-dump-{}", hostproc_sys::getpid()));
    fs::create_dir(&tmp).map_err(io("create the temporary checkpoint directory", &tmp))?;
    Ok(tmp)
}

/// The root of every process tree in the job (a process whose parent is not in the job),
/// init's first. In bind mode each must share init's mount namespace (CRIU runs there).
fn tree_roots(id: &str, st: &State, pids: &[i32]) -> Result<Vec<i32>, CheckpointError> {
    if !pids.contains(&st.pid) {
        return Err(CheckpointError::Refused { id: id.into(), detail: format!("init (pid {}) is not in the job's cgroup", st.pid) });
    }
    let mut roots = vec![st.pid];
    let mut foreign = Vec::new();
    let init_ns = fs::read_link(format!("/proc/{}/ns/mnt", st.pid)).ok();
    for &p in pids {
        if p == st.pid {
            continue;
        }
        let Some(ppid) = parent_of(p) else { continue };
        if !pids.contains(&ppid) {
            roots.push(p);
        }
        if st.hostproc.bind_mode && fs::read_link(format!("/proc/{p}/ns/mnt")).ok() != init_ns {
            foreign.push(format!("{p} ({})", comm(p)));
        }
    }
    if !foreign.is_empty() {
        return Err(CheckpointError::Refused {
            id: id.into(),
            detail: format!("processes {} are in another mount namespace than init's, which one CRIU run cannot take with the rest; stop them first", foreign.join(", ")),
        });
    }
    Ok(roots)
}

fn parent_of(pid: i32) -> Option<i32> {
    let s = hostproc_sys::read_kernel_file(Path::new(&format!("/proc/{pid}/stat"))).ok()?;
    s[s.rfind(')')? + 2..].split_whitespace().nth(1)?.parse().ok()
}

fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// runc's restore flags.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub root: PathBuf,
    pub criu: Option<String>,
    pub systemd_cgroup: bool,
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    /// `None`: the current directory, or with `from_archive` the archive's spec.dump.
    pub bundle: Option<PathBuf>,
    /// Restore from Kubernetes' checkpoint archive instead of `image_path`.
    pub from_archive: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_subreaper: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub manage_cgroups_mode: Option<String>,
}

mod restore;
pub use restore::restore;

