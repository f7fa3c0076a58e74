//! `pod run`: a Kubernetes pod on this host as a kubelet would run it, every container a
//! HostProcess container through the engine.
//!
//! * `bundle`: a PodSpec container to an OCI bundle (config.json) under the pod's state.
//! * `env`, `quantity`: env sources, `$(VAR)` expansion, resource quantities.
//! * `volumes`: hostPath, emptyDir, configMap, secret, downwardAPI.
//! * logs: `crate::logs` (CRI format, rotation) under `<pod dir>/logs/<container>/`.
//! * `state`: the pod's state file (a PodStatus), written atomically.
//! * `supervisor`: init containers, containers, restarts and back-off, stop;
//!   `sidecar`: the init phase, with sidecars (init containers with restartPolicy Always).
//! * `ops`: ls, stop, rm.

pub mod bundle;
pub mod env;
mod lifecycle;
pub mod ops;
pub mod quantity;
mod sidecar;
pub mod state;
pub mod supervisor;
pub mod volumes;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub use ops::{list, remove, stop};
pub use supervisor::{run, supervise_detached, RunOptions};

#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    #[error("{what} {path}: {source}")]
    Io { what: String, path: PathBuf, source: std::io::Error },
    #[error("pod {0:?} does not exist (see hostproc pod ls)")]
    NotFound(String),
    #[error("pod {0} exists already: remove it first (hostproc pod rm --force {0})")]
    Exists(String),
    #[error("pod {0} is running (its supervisor, pid {1}, is alive): stop it first (hostproc pod stop {0}) or use --force")]
    Running(String, i32),
    #[error("{0}")]
    Container(#[from] hostproc_container::ContainerError),
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
}

impl PodError {
    pub fn invalid(field: impl Into<String>, msg: impl Into<String>) -> PodError {
        PodError::Invalid { field: field.into(), msg: msg.into() }
    }
}

pub(crate) fn io_err(what: impl Into<String>, path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> PodError {
    let what = what.into();
    let path = path.as_ref().to_path_buf();
    move |source| PodError::Io { what, path, source }
}

/// A pod to run with the objects its volumes and env may name (kept in the pod's state
/// directory, so a detached supervisor reads the same).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodInput {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    #[serde(default)]
    pub config_maps: Vec<ConfigMap>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    /// The manifest's directory: relative `dir:` images are found from there.
    #[serde(default)]
    pub base_dir: Option<PathBuf>,
}

impl PodInput {
    pub fn name(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }

    pub fn namespace(&self) -> String {
        self.metadata.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into())
    }

    /// `<namespace>_<name>`: the pod's directory under `<root>/pods/`.
    pub fn key(&self) -> String {
        format!("{}_{}", self.namespace(), self.name())
    }

    fn same_ns(&self, m: &ObjectMeta) -> bool {
        m.namespace.as_deref().filter(|n| !n.is_empty()).is_none_or(|n| n == self.namespace())
    }

    /// A ConfigMap of the manifests by name (data and binaryData).
    pub fn config_map(&self, name: &str) -> Option<Vec<(String, Vec<u8>)>> {
        let cm = self.config_maps.iter().find(|c| c.metadata.name.as_deref() == Some(name) && self.same_ns(&c.metadata))?;
        let mut out: Vec<(String, Vec<u8>)> = cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
        out.extend(cm.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())));
        out.sort();
        Some(out)
    }

    /// A Secret of the manifests by name (data, with stringData over it as the API server
    /// merges them).
    pub fn secret(&self, name: &str) -> Option<Vec<(String, Vec<u8>)>> {
        let s = self.secrets.iter().find(|c| c.metadata.name.as_deref() == Some(name) && self.same_ns(&c.metadata))?;
        let mut m: std::collections::BTreeMap<String, Vec<u8>> = s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
        for (k, v) in s.string_data.iter().flatten() {
            m.insert(k.clone(), v.clone().into_bytes());
        }
        Some(m.into_iter().collect())
    }

    pub fn container(&self, name: &str) -> Option<&Container> {
        self.spec.containers.iter().chain(self.spec.init_containers.iter().flatten()).find(|c| c.name == name)
    }
}

/// The state directory of every pod: `<root>/pods`.
pub fn pods_dir(root: &Path) -> PathBuf {
    root.join("pods")
}

/// Every pod of the files (the manifest module's reading), each with every ConfigMap and
/// Secret of the files, once `pod validate`'s rules pass (the API server's errors, one a
/// line, as `pod validate` prints them).
pub fn load_files(paths: &[PathBuf]) -> Result<Vec<PodInput>, PodError> {
    let m = crate::manifest::load(paths)?;
    for w in &m.warnings {
        tracing::warn!("{w}");
    }
    for pod in &m.pods {
        let r = crate::validate::validate(pod, &crate::validate::Options::default());
        let at = format!("{}: {}", pod.file.display(), pod.object());
        if !r.valid() {
            let lines: Vec<String> = r.errors.iter().map(|e| e.to_string()).collect();
            return Err(PodError::invalid(at, format!("the API server would refuse it (hostproc pod validate):\n{}", lines.join("\n"))));
        }
        if let Some(why) = r.not_runnable() {
            return Err(PodError::invalid(at, format!("not runnable by hostproc: {why}")));
        }
    }
    Ok(m
        .pods
        .into_iter()
        .map(|p| PodInput { metadata: p.metadata, spec: p.spec, config_maps: m.config_maps.clone(), secrets: m.secrets.clone(), base_dir: p.file.parent().map(Path::to_path_buf) })
        .collect())
}

/// The host's addresses, as the pod (host network) sees them: the source address of the
/// default route (no packet is sent), else loopback.
pub fn host_ips() -> Vec<String> {
    let probe = |bind: &str, to: &str| -> Option<String> {
        let s = std::net::UdpSocket::bind(bind).ok()?;
        s.connect(to).ok()?;
        Some(s.local_addr().ok()?.ip().to_string())
    };
    let mut ips: Vec<String> = [probe("0.0.0.0:0", "192.0.2.1:9"), probe("[::]:0", "[2001:db8::1]:9")].into_iter().flatten().collect();
    if ips.is_empty() {
        ips.push("127.0.0.1".into());
    }
    ips
}

/// The host's name (kubelet's default node name).
pub fn host_name() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// YAML for `pod ls -o yaml`.
pub fn to_yaml(v: &serde_json::Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_default()
}

/// RFC 3339 with nanoseconds, UTC (the CRI log's and the status' timestamps).
pub fn now() -> String {
    now_ts().to_string()
}

pub(crate) fn now_ts() -> k8s_openapi::jiff::Timestamp {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    k8s_openapi::jiff::Timestamp::new(d.as_secs() as i64, d.subsec_nanos() as i32).unwrap_or_default()
}
