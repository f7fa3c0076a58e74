//! `run` on Windows, the whole life of one container in the caller's process (which holds
//! the job, so a crash of it kills the payload through KILL_ON_JOB_CLOSE): the bundle's
//! spec to a job, a sandbox and the payload, the init's exit, then hcsshim's shutdown of
//! the rest (CTRL_SHUTDOWN_EVENT, the grace period, terminate), the sandbox released.

use std::os::windows::io::BorrowedHandle;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::Spec;

use super::sandbox::{self, Sandbox, SandboxError, Volume};
use super::{Job, JobError, Resources};

const LOCATION: &str = "microsoft.com/hostprocess-rootfs-location";
const MOUNT_MODE: &str = "hostproc.io/mount-mode";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read the bundle's spec {path}: {reason}")]
    Spec { path: PathBuf, reason: String },
    #[error("the spec has no {0}")]
    Missing(&'static str),
    #[error("annotation {name} = {value:?}: {hint}")]
    Annotation { name: &'static str, value: String, hint: &'static str },
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("hostproc.io/mount-mode = bind is not available on Windows yet (it needs a silo and the bind filter; {}): drop the annotation for the fallback layout at C:\\hpc\\<id>, or give host", if *.filter { "this host has bindfltapi.dll" } else { "this host has no bind filter (bindfltapi.dll)" })]
    BindMode { filter: bool },
    #[error("process.user.username = {0:?}: running as another account (LogonUser, ephemeral users) is not built on Windows yet, and the payload would run as hostproc's own account instead; give NT AUTHORITY\\SYSTEM (what hostproc runs as on a node) or no username")]
    User(String),
    #[error("cannot wait for the payload: {0}")]
    Wait(std::io::Error),
}

#[derive(Default, serde::Deserialize)]
struct Mirror {
    memory: Option<MirrorMemory>,
    cpu: Option<MirrorCpu>,
    storage: Option<MirrorStorage>,
}
#[derive(serde::Deserialize)]
struct MirrorMemory {
    limit: Option<u64>,
}
#[derive(serde::Deserialize)]
struct MirrorCpu {
    count: Option<u64>,
    shares: Option<u16>,
    maximum: Option<u16>,
}
#[derive(serde::Deserialize)]
struct MirrorStorage {
    iops: Option<u64>,
    bps: Option<u64>,
}

/// windows.resources, then hcsshim's resource annotations over them (as hcsshim reads them).
pub fn resources_from_spec(spec: &Spec) -> Result<Resources, RunError> {
    let mut r = Resources::default();
    if let Some(res) = spec.windows().as_ref().and_then(|w| w.resources()) {
        // oci-spec 0.10 marks WindowsResources' getters get_copy but derives only Getters,
        // so it has none: the fields are read back through serde.
        let res: Mirror = serde_json::to_value(res).and_then(serde_json::from_value).unwrap_or_default();
        if let Some(cpu) = res.cpu {
            (r.cpu_count, r.cpu_shares, r.cpu_maximum) = (cpu.count, cpu.shares, cpu.maximum);
        }
        r.memory_limit = res.memory.and_then(|m| m.limit);
        if let Some(st) = res.storage {
            (r.storage_iops, r.storage_bps) = (st.iops, st.bps);
        }
    }
    let ann = spec.annotations().clone().unwrap_or_default();
    let num = |name: &'static str| -> Result<Option<u64>, RunError> {
        ann.get(name).map(|v| v.trim().parse::<u64>().map_err(|_| RunError::Annotation { name, value: v.clone(), hint: "give a whole number" })).transpose()
    };
    if let Some(c) = num("io.microsoft.container.processor.count")? {
        r.cpu_count = Some(c);
    }
    let small = |name: &'static str, v: u64| u16::try_from(v).map_err(|_| RunError::Annotation { name, value: v.to_string(), hint: "give 1 to 10000" });
    if let Some(l) = num("io.microsoft.container.processor.limit")? {
        r.cpu_maximum = Some(small("io.microsoft.container.processor.limit", l)?);
    }
    if let Some(w) = num("io.microsoft.container.processor.weight")? {
        r.cpu_shares = Some(small("io.microsoft.container.processor.weight", w)?);
    }
    if let Some(mb) = num("io.microsoft.container.memory.sizeinmb")? {
        r.memory_limit = Some(mb << 20);
    }
    Ok(r)
}

/// What a bundle asks for, read once (`run`, and `create` on Windows).
#[derive(Debug, Clone)]
pub struct Plan {
    pub rootfs: PathBuf,
    pub annotations: std::collections::HashMap<String, String>,
    pub volumes: Vec<Volume>,
    pub resources: Resources,
    /// `hostproc.io/mount-mode: host`: the sandbox is the rootfs itself.
    pub host_mode: bool,
    pub args: Vec<String>,
    pub command_line: Option<String>,
    pub cwd: String,
    pub env: Vec<String>,
}

/// Reads and checks `bundle`'s config.json.
pub fn plan(bundle: &Path) -> Result<Plan, RunError> {
    let path = bundle.join("config.json");
    let spec = Spec::load(&path).map_err(|e| {
        // OciSpecError's own message for a JSON error is only "serde failed".
        let reason = match e {
            oci_spec::OciSpecError::SerDe(e) => e.to_string(),
            oci_spec::OciSpecError::Io(e) => e.to_string(),
            e => e.to_string(),
        };
        RunError::Spec { path: path.clone(), reason }
    })?;
    let process = spec.process().as_ref().ok_or(RunError::Missing("process"))?;
    let root = spec.root().as_ref().ok_or(RunError::Missing("root"))?;
    let rootfs = if root.path().is_absolute() { root.path().clone() } else { bundle.join(root.path()) };
    let annotations = spec.annotations().clone().unwrap_or_default();
    let volumes: Vec<Volume> = spec
        .mounts()
        .iter()
        .flatten()
        .filter_map(|m| Some(Volume { source: m.source().clone()?, destination: m.destination().to_string_lossy().into_owned() }))
        .collect();
    // A payload must never run with more rights than asked: SYSTEM (Kubernetes' default for
    // HostProcess pods) is the most there is, any other account is refused until identity
    // is built.
    if let Some(u) = process.user().username().as_deref().filter(|u| !u.is_empty() && !u.eq_ignore_ascii_case("NT AUTHORITY\\SYSTEM")) {
        return Err(RunError::User(u.to_owned()));
    }
    let resources = resources_from_spec(&spec)?;
    // Host mode (as on Linux): the sandbox is the rootfs itself; no annotation: hcsshim's
    // fallback layout. Bind mode (one C:\hpc per container through a silo and the bind
    // filter) is not built yet: asked for explicitly, it is refused rather than replaced.
    let host_mode = match annotations.get(MOUNT_MODE).map(String::as_str) {
        None => false,
        Some("host") => true,
        Some("bind") => return Err(RunError::BindMode { filter: bind_filter_available() }),
        Some(v) => return Err(RunError::Annotation { name: MOUNT_MODE, value: v.into(), hint: "give bind or host" }),
    };
    Ok(Plan {
        rootfs,
        volumes,
        resources,
        host_mode,
        args: process.args().clone().unwrap_or_default(),
        command_line: process.command_line().clone(),
        cwd: process.cwd().to_string_lossy().into_owned(),
        env: process.env().clone().unwrap_or_default(),
        annotations,
    })
}

impl Plan {
    /// Makes the job and the sandbox of container `id`; on failure nothing is left.
    pub fn prepare(&self, id: &str) -> Result<(Job, Sandbox), RunError> {
        let job = Job::create(id, &self.resources)?;
        let sb = if self.host_mode {
            sandbox::setup_in_place(&self.rootfs, &self.volumes)
        } else {
            sandbox::setup(id, &self.rootfs, self.annotations.get(LOCATION).map(Path::new), &self.volumes)
        };
        match sb {
            Ok(sb) => Ok((job, sb)),
            Err(e) => {
                let _ = job.destroy();
                Err(e.into())
            }
        }
    }

    /// The payload to start in `sandbox`.
    pub fn command<'a>(&'a self, sandbox: &'a Path, stdio: [BorrowedHandle<'a>; 3]) -> super::Command<'a> {
        super::Command { args: &self.args, command_line: self.command_line.as_deref(), cwd: &self.cwd, env: &self.env, sandbox, stdio }
    }
}

/// Runs the container `id` of `bundle` to its end; the init's exit code.
pub fn run(bundle: &Path, id: &str, grace: Duration, stdio: [BorrowedHandle<'_>; 3]) -> Result<u32, RunError> {
    let plan = plan(bundle)?;
    let (job, sb) = plan.prepare(id)?;
    let result = (|| -> Result<u32, RunError> {
        let init = job.spawn(&plan.command(&sb.path, stdio))?;
        let code = init.wait(None).map_err(RunError::Wait)?.unwrap_or(1);
        job.stop(grace)?;
        Ok(code)
    })();
    let _ = job.destroy();
    let released = sandbox::release(&sb);
    let code = result?;
    released?;
    Ok(code)
}

/// Whether the host has the bind filter hcsshim's bind mode uses (its check: bindfltapi.dll
/// in the system directory).
pub fn bind_filter_available() -> bool {
    hostproc_winsys::system_directories().is_ok_and(|(system32, _)| system32.join("bindfltapi.dll").is_file())
}
