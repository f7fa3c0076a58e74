//! Liveness, readiness and startup probes as kubelet runs them (pkg/kubelet/prober):
//! exec through the engine, httpGet and tcpSocket to the host's addresses (the pod is on
//! the host network), with initialDelaySeconds, periodSeconds, timeoutSeconds,
//! successThreshold and failureThreshold.
//!
//! [`Prober`] is poll-style: the supervisor asks [`Prober::next_due`] and calls
//! [`Prober::run_once`] then; [`spawn`] runs one on a thread of its own and reports each
//! change of its result on a channel.

mod exec;
pub mod http;
mod runner;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub use exec::{EngineExec, Exec, ExecResult, MAX_OUTPUT};
pub use http::HttpGet;
pub use runner::{spawn, Kind, ProbeHandle, ProbeUpdate, Prober, Result as ProbeResult, Timings};

/// A probe or handler that cannot be run, or an exec that could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{field}: {detail}")]
    Spec { field: String, detail: String },
    #[error("exec in container {id}: {detail}")]
    Exec { id: String, detail: String },
}

fn spec_err(field: &str, detail: impl Into<String>) -> ProbeError {
    ProbeError::Spec { field: field.to_string(), detail: detail.into() }
}

/// What a probe does, resolved from the spec (named ports looked up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Exec(Vec<String>),
    Http(HttpGet),
    Tcp { host: String, port: u16 },
}

/// The outcome of one try: kubelet's probe.Success (a Warning counts as success) or
/// probe.Failure, with the message kubelet would put in the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success(Option<String>),
    Failure(String),
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }
}

impl Action {
    /// The action of `probe` (its field path `field`, e.g.
    /// `spec.containers[0].livenessProbe`) for container `c`.
    pub fn from_probe(probe: &Probe, c: &Container, field: &str) -> Result<Action, ProbeError> {
        if probe.grpc.is_some() {
            return Err(spec_err(&format!("{field}.grpc"), "gRPC probes are not supported by hostproc; use exec, httpGet or tcpSocket"));
        }
        let n = probe.exec.is_some() as u8 + probe.http_get.is_some() as u8 + probe.tcp_socket.is_some() as u8;
        if n != 1 {
            return Err(spec_err(field, "give exactly one of exec, httpGet and tcpSocket"));
        }
        if let Some(e) = &probe.exec {
            return exec_action(e.command.as_deref(), &format!("{field}.exec"));
        }
        if let Some(h) = &probe.http_get {
            return http_action(h, c, &format!("{field}.httpGet")).map(Action::Http);
        }
        let t = probe.tcp_socket.as_ref().expect("one of the three");
        tcp_action(t, c, &format!("{field}.tcpSocket"))
    }

    /// Runs the action once within `timeout` (exec through `exec`).
    pub fn run(&self, exec: &dyn Exec, timeout: Duration) -> Outcome {
        match self {
            Action::Exec(cmd) => match exec.exec(cmd, Some(timeout)) {
                Ok(ExecResult { code: Some(0), output }) => Outcome::Success(none_if_empty(output)),
                Ok(ExecResult { code: Some(c), output }) => Outcome::Failure(format!("command {cmd:?} exited with {c}: {}", String::from_utf8_lossy(&output).trim_end())),
                Ok(ExecResult { code: None, .. }) => Outcome::Failure(format!("command {cmd:?} timed out after {timeout:?}")),
                Err(e) => Outcome::Failure(e.to_string()),
            },
            Action::Http(req) => match http::get(req, timeout) {
                Ok(r) if (200..400).contains(&r.status) => Outcome::Success(r.warning),
                Ok(r) => Outcome::Failure(format!("HTTP probe failed with statuscode: {}", r.status)),
                Err(e) => Outcome::Failure(format!("Get \"http://{}:{}{}\": {e}", req.host, req.port, req.path)),
            },
            Action::Tcp { host, port } => {
                match http::connect(host, *port, std::time::Instant::now() + timeout) {
                    Ok(_) => Outcome::Success(None),
                    Err(e) => Outcome::Failure(e),
                }
            }
        }
    }
}

fn none_if_empty(o: Vec<u8>) -> Option<String> {
    (!o.is_empty()).then(|| String::from_utf8_lossy(&o).into_owned())
}

pub(crate) fn exec_action(cmd: Option<&[String]>, field: &str) -> Result<Action, ProbeError> {
    match cmd {
        Some(c) if !c.is_empty() => Ok(Action::Exec(c.to_vec())),
        _ => Err(spec_err(&format!("{field}.command"), "give the command to run in the container")),
    }
}

/// A port: a number, or the name of one of the container's ports (kubelet's
/// `resolveContainerPort`).
fn port(p: &IntOrString, c: &Container, field: &str) -> Result<u16, ProbeError> {
    let n = match p {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => match name.parse::<i32>() {
            Ok(n) => n,
            Err(_) => c
                .ports
                .iter()
                .flatten()
                .find(|cp| cp.name.as_deref() == Some(name.as_str()))
                .map(|cp| cp.container_port)
                .ok_or_else(|| spec_err(field, format!("no port of container {:?} is named {name:?}; name one in ports or give the number", c.name)))?,
        },
    };
    u16::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| spec_err(field, format!("{n} is not a port; give 1 to 65535")))
}

fn host(h: Option<&str>) -> String {
    match h {
        Some(h) if !h.is_empty() => h.to_string(),
        // The pod's IP is the host's (host network): the loopback reaches what listens on any.
        _ => "127.0.0.1".to_string(),
    }
}

pub(crate) fn http_action(h: &HTTPGetAction, c: &Container, field: &str) -> Result<HttpGet, ProbeError> {
    match h.scheme.as_deref() {
        None | Some("") | Some("HTTP") => {}
        Some("HTTPS") => return Err(spec_err(&format!("{field}.scheme"), "HTTPS is not supported by hostproc (no TLS client); use HTTP, or an exec probe running curl -k")),
        Some(s) => return Err(spec_err(&format!("{field}.scheme"), format!("{s:?}: give HTTP"))),
    }
    let port = port(&h.port, c, &format!("{field}.port"))?;
    let path = match h.path.as_deref() {
        None | Some("") => "/".to_string(),
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("/{p}"),
    };
    if path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(spec_err(&format!("{field}.path"), "a path has no spaces or control characters; percent-encode them"));
    }
    let mut headers = Vec::new();
    for (i, hd) in h.http_headers.iter().flatten().enumerate() {
        let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
        if hd.name.is_empty() || hd.name.contains(':') || bad(&hd.name) || bad(&hd.value) {
            return Err(spec_err(&format!("{field}.httpHeaders[{i}]"), "a header name is a token and neither name nor value holds a line break"));
        }
        headers.push((hd.name.clone(), hd.value.clone()));
    }
    Ok(HttpGet { host: host(h.host.as_deref()), port, path, headers })
}

fn tcp_action(t: &TCPSocketAction, c: &Container, field: &str) -> Result<Action, ProbeError> {
    Ok(Action::Tcp { host: host(t.host.as_deref()), port: port(&t.port, c, &format!("{field}.port"))? })
}

#[cfg(test)]
mod tests;
