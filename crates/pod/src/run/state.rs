//! The pod's state: `<root>/pods/<ns>_<name>/pod.json`, a PodStatus plus what hostproc
//! needs to find and undo the pod's parts (under `hostproc` keys), written atomically.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{io_err, PodError};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Running {
    pub started_at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub started_at: String,
    pub finished_at: String,
}

/// Kubernetes' ContainerState: one of the three.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<Running>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<Terminated>,
}

impl CState {
    pub fn waiting(reason: &str) -> CState {
        CState { waiting: Some(Waiting { reason: reason.into(), message: String::new() }), ..Default::default() }
    }
    pub fn is_empty(&self) -> bool {
        self.waiting.is_none() && self.running.is_none() && self.terminated.is_none()
    }
}

/// hostproc's part of a container's status.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CInternal {
    /// Every engine container id made for it (recorded before it is made).
    pub engine_ids: Vec<String>,
    /// The `hostproc run` process running the current one, as (pid, start time).
    pub runner: Option<(i32, u64)>,
    /// When each restart began (RFC 3339), for the back-off record.
    pub restart_times: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CStatus {
    pub name: String,
    pub state: CState,
    #[serde(default, skip_serializing_if = "CState::is_empty")]
    pub last_state: CState,
    pub ready: bool,
    pub restart_count: u32,
    pub image: String,
    pub started: bool,
    pub hostproc: CInternal,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodState {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub node_name: String,
    pub host_ip: String,
    pub start_time: String,
    /// Pending, Running, Succeeded or Failed.
    pub phase: String,
    #[serde(default)]
    pub init_container_statuses: Vec<CStatus>,
    #[serde(default)]
    pub container_statuses: Vec<CStatus>,
    /// The supervisor process (pid, start time).
    pub supervisor: Option<(i32, u64)>,
    pub detached: bool,
    /// tmpfs mounted for volumes (emptyDir medium Memory, secret), recorded before each mount.
    #[serde(default)]
    pub tmpfs: Vec<PathBuf>,
    /// Set once a stop was asked for: restarts end.
    #[serde(default)]
    pub stopping: bool,
}

pub const STATE_FILE: &str = "pod.json";
/// The pod and its objects as given (for the detached supervisor).
pub const INPUT_FILE: &str = "input.json";

impl PodState {
    pub fn save(&self, dir: &Path) -> Result<(), PodError> {
        let p = dir.join(STATE_FILE);
        let tmp = dir.join(format!(".{STATE_FILE}.{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).expect("json")).map_err(io_err("write the pod state", &tmp))?;
        std::fs::rename(&tmp, &p).map_err(io_err("write the pod state", &p))
    }

    pub fn load(dir: &Path) -> Result<PodState, PodError> {
        let p = dir.join(STATE_FILE);
        let b = std::fs::read(&p).map_err(io_err("read the pod state", &p))?;
        serde_json::from_slice(&b).map_err(|e| PodError::invalid(p.display().to_string(), format!("unreadable pod state: {e}; remove the pod with hostproc pod rm --force")))
    }

    pub fn all(&self) -> impl Iterator<Item = &CStatus> {
        self.init_container_statuses.iter().chain(&self.container_statuses)
    }

    /// Whether the supervisor is alive (same pid and start time).
    pub fn supervisor_alive(&self) -> bool {
        self.supervisor.is_some_and(|(pid, start)| alive(pid, start))
    }

    /// Kubernetes' Pod (metadata + status) for `pod ls -o json|yaml`, hostproc's parts
    /// left out but the supervisor's loss said.
    pub fn to_pod(&self) -> Value {
        let strip = |v: &[CStatus]| -> Vec<Value> {
            v.iter()
                .map(|c| {
                    let mut j = serde_json::to_value(c).expect("json");
                    j.as_object_mut().expect("object").remove("hostproc");
                    j
                })
                .collect()
        };
        let ready = !self.container_statuses.is_empty() && self.container_statuses.iter().all(|c| c.ready);
        let initialized = self.init_container_statuses.iter().all(|c| c.state.terminated.as_ref().is_some_and(|t| t.exit_code == 0));
        let cond = |t: &str, ok: bool| json!({"type": t, "status": if ok { "True" } else { "False" }});
        let mut status = json!({
            "phase": self.phase,
            "conditions": [cond("PodScheduled", true), cond("Initialized", initialized), cond("ContainersReady", ready), cond("Ready", ready)],
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "podIP": self.host_ip,
            "podIPs": [{"ip": self.host_ip}],
            "startTime": self.start_time,
            "initContainerStatuses": strip(&self.init_container_statuses),
            "containerStatuses": strip(&self.container_statuses),
        });
        if self.supervisor_lost() {
            status["reason"] = json!("SupervisorLost");
            status["message"] = json!(format!("the pod's supervisor (pid {}) is gone: containers are no longer restarted; hostproc pod rm --force removes the pod", self.supervisor.map_or(0, |s| s.0)));
        }
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid},
            "spec": {"nodeName": self.node_name, "hostNetwork": true},
            "status": status,
        })
    }

    /// The pod is not finished but nobody supervises it any more.
    pub fn supervisor_lost(&self) -> bool {
        matches!(self.phase.as_str(), "Pending" | "Running") && !self.supervisor_alive()
    }
}

/// A process's start time (clock ticks since boot, field 22 of /proc/PID/stat), if it
/// is alive and not a zombie.
pub fn start_time(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    f.nth(18)?.parse().ok()
}

pub fn alive(pid: i32, start: u64) -> bool {
    pid > 0 && start_time(pid) == Some(start)
}
