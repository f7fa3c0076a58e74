//! ValidatePodSpec's rules beyond HostProcess that a pod runner meets first, with
//! Kubernetes' paths and messages (pkg/apis/core/validation/validation.go, 1.33): volumes
//! (ValidateVolumes: names, duplicates, a source), each container's volumeMounts,
//! imagePullPolicy and resources (in validateContainerCommon's order), probes and
//! lifecycle handlers (validateProbe, validateHandler; successThreshold 1 for liveness and
//! startup; none on an init container that is not a sidecar), restartPolicy (the pod's and
//! an init container's). Values are checked after the API server's defaulting (a probe's
//! 0 period is the default 10, an empty pull policy the default), as it checks them.
//!
//! A quantity that is not one fails the API server's decoding, before validation; here it
//! is reported at its field as `Invalid value` with the decoder's message.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Probe, ResourceRequirements, Volume};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::field::{FieldError, Path};
use super::names;
use crate::run::quantity::Quantity;

const QUANTITY_RE: &str = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const NEGATIVE: &str = "must be greater than or equal to 0";
const NOT_FOR_INIT: &str = "may not be set for init containers without restartPolicy=Always";

/// ValidateVolumes: the names of the volumes that passed (what volumeMounts may name).
pub fn volumes(vols: &[Volume], path: &Path, errs: &mut Vec<FieldError>) -> HashSet<String> {
    let mut names = HashSet::new();
    for (i, v) in vols.iter().enumerate() {
        let p = path.index(i);
        let name_path = p.child("name");
        let mut el = Vec::new();
        if volume_sources(v) == 0 {
            el.push(FieldError::required(p.clone(), "must specify a volume type"));
        }
        if v.name.is_empty() {
            el.push(FieldError::required(name_path.clone(), ""));
        } else {
            for msg in names::dns1123_label(&v.name) {
                el.push(FieldError::invalid(name_path.clone(), v.name.as_str(), msg));
            }
        }
        if names.contains(&v.name) {
            el.push(FieldError::duplicate(name_path, v.name.as_str()));
        }
        if el.is_empty() {
            names.insert(v.name.clone());
        }
        errs.extend(el);
    }
    names
}

fn volume_sources(v: &Volume) -> usize {
    let set = serde_json::to_value(v).ok().and_then(|x| x.as_object().map(|o| o.keys().filter(|k| *k != "name").count()));
    set.unwrap_or(0)
}

/// validateContainerCommon's rules after the image, before the securityContext.
pub fn common(c: &Container, vols: &HashSet<String>, p: &Path, errs: &mut Vec<FieldError>) {
    let mut paths = HashSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let mp = p.child("volumeMounts").index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(mp.child("name"), ""));
        }
        if !vols.contains(&m.name) {
            errs.push(FieldError::not_found(mp.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(mp.child("mountPath"), ""));
        }
        if !paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(mp.child("mountPath"), m.mount_path.as_str(), "must be unique"));
        }
    }
    if let Some(pp) = c.image_pull_policy.as_deref().filter(|p| !p.is_empty()) {
        if !["Always", "IfNotPresent", "Never"].contains(&pp) {
            errs.push(FieldError::not_supported(p.child("imagePullPolicy"), pp, &["Always", "IfNotPresent", "Never"]));
        }
    }
    if let Some(r) = &c.resources {
        resources(r, &p.child("resources"), errs);
    }
}

/// ValidateResourceRequirements for cpu and memory (limits, then requests and their
/// limit), in key order.
fn resources(r: &ResourceRequirements, p: &Path, errs: &mut Vec<FieldError>) {
    let parse = |m: Option<&std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>, which: &str, errs: &mut Vec<FieldError>| {
        let mut out = HashMap::new();
        for (k, q) in m.into_iter().flatten() {
            let kp = p.child(which).key(k);
            match Quantity::parse(&q.0) {
                Ok(v) => {
                    out.insert(k.clone(), (v, q.0.trim().to_string()));
                }
                Err(_) if q.0.trim().starts_with('-') && Quantity::parse(&q.0.trim()[1..]).is_ok() => errs.push(FieldError::invalid(kp, q.0.as_str(), NEGATIVE)),
                Err(_) => errs.push(FieldError::invalid(kp, q.0.as_str(), QUANTITY_RE)),
            }
        }
        out
    };
    let limits = parse(r.limits.as_ref(), "limits", errs);
    let requests = parse(r.requests.as_ref(), "requests", errs);
    let mut keys: Vec<&String> = requests.keys().collect();
    keys.sort();
    for k in keys {
        let (req, req_s) = &requests[k];
        if let Some((lim, lim_s)) = limits.get(k) {
            if req.milli() > lim.milli() {
                errs.push(FieldError::invalid(p.child("requests"), req_s.as_str(), format!("must be less than or equal to {k} limit of {lim_s}")));
            }
        }
    }
}

/// A regular container's (or a sidecar's) lifecycle and probes: validateLifecycle,
/// validateLivenessProbe, validateReadinessProbe, validateStartupProbe.
pub fn probes(c: &Container, p: &Path, errs: &mut Vec<FieldError>) {
    if let Some(l) = &c.lifecycle {
        for (name, h) in [("postStart", &l.post_start), ("preStop", &l.pre_stop)] {
            if let Some(h) = h {
                lifecycle_handler(h, &p.child("lifecycle").child(name), errs);
            }
        }
    }
    for (name, probe) in [("livenessProbe", &c.liveness_probe), ("readinessProbe", &c.readiness_probe), ("startupProbe", &c.startup_probe)] {
        let Some(probe) = probe else { continue };
        let pp = p.child(name);
        self::probe(probe, &pp, errs);
        let st = probe.success_threshold.unwrap_or(0);
        if name != "readinessProbe" && st != 0 && st != 1 {
            errs.push(FieldError::invalid(pp.child("successThreshold"), st, "must be 1"));
        }
    }
}

/// An init container's restartPolicy (Always only: a sidecar); true for a sidecar.
pub fn init_restart_policy(c: &Container, p: &Path, errs: &mut Vec<FieldError>) -> bool {
    match c.restart_policy.as_deref() {
        Some("Always") => true,
        Some(other) => {
            errs.push(FieldError::not_supported(p.child("restartPolicy"), other, &["Always"]));
            false
        }
        None => false,
    }
}

/// What only a sidecar among init containers may have (checked as a container's).
pub fn init_probes(c: &Container, sidecar: bool, p: &Path, errs: &mut Vec<FieldError>) {
    if sidecar {
        probes(c, p, errs);
        return;
    }
    for (name, set) in [("lifecycle", c.lifecycle.is_some()), ("livenessProbe", c.liveness_probe.is_some()), ("readinessProbe", c.readiness_probe.is_some()), ("startupProbe", c.startup_probe.is_some())] {
        if set {
            errs.push(FieldError::forbidden(p.child(name), NOT_FOR_INIT));
        }
    }
}

/// A regular container's restartPolicy (after its probes).
pub fn regular_restart_policy(c: &Container, p: &Path, errs: &mut Vec<FieldError>) {
    if c.restart_policy.is_some() {
        errs.push(FieldError::forbidden(p.child("restartPolicy"), "may not be set for non-init containers"));
    }
}

/// validateRestartPolicy (after defaulting: empty is Always).
pub fn restart_policy(policy: Option<&str>, p: &Path, errs: &mut Vec<FieldError>) {
    if let Some(rp) = policy.filter(|r| !r.is_empty()) {
        if !["Always", "OnFailure", "Never"].contains(&rp) {
            errs.push(FieldError::not_supported(p.clone(), rp, &["Always", "OnFailure", "Never"]));
        }
    }
}

/// validateProbe: the handler, then the counts (0 is defaulted; negative is refused).
fn probe(probe: &Probe, p: &Path, errs: &mut Vec<FieldError>) {
    handler(probe.exec.as_ref().map(|e| e.command.as_deref().unwrap_or_default().len()), probe.http_get.as_ref().map(|h| &h.port), probe.tcp_socket.as_ref().map(|t| &t.port), probe.grpc.is_some(), false, p, errs);
    for (name, v) in [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ] {
        if let Some(v) = v.filter(|v| *v < 0) {
            errs.push(FieldError::invalid(p.child(name), v, NEGATIVE));
        }
    }
    if let Some(t) = probe.termination_grace_period_seconds.filter(|t| *t <= 0) {
        errs.push(FieldError::invalid(p.child("terminationGracePeriodSeconds"), t, "must be greater than 0"));
    }
}

fn lifecycle_handler(h: &LifecycleHandler, p: &Path, errs: &mut Vec<FieldError>) {
    handler(h.exec.as_ref().map(|e| e.command.as_deref().unwrap_or_default().len()), h.http_get.as_ref().map(|x| &x.port), h.tcp_socket.as_ref().map(|t| &t.port), false, h.sleep.is_some(), p, errs);
}

/// validateHandler: exactly one handler type, each checked (exec's command, a port).
fn handler(exec: Option<usize>, http: Option<&IntOrString>, tcp: Option<&IntOrString>, grpc: bool, sleep: bool, p: &Path, errs: &mut Vec<FieldError>) {
    let mut n = 0;
    let mut one = |set: bool, name: &str, errs: &mut Vec<FieldError>| -> bool {
        if !set {
            return false;
        }
        if n > 0 {
            errs.push(FieldError::forbidden(p.child(name), "may not specify more than 1 handler type"));
            return false;
        }
        n += 1;
        true
    };
    if one(exec.is_some(), "exec", errs) && exec == Some(0) {
        errs.push(FieldError::required(p.child("exec").child("command"), ""));
    }
    if one(http.is_some(), "httpGet", errs) {
        port(http, &p.child("httpGet").child("port"), errs);
    }
    if one(tcp.is_some(), "tcpSocket", errs) {
        port(tcp, &p.child("tcpSocket").child("port"), errs);
    }
    one(grpc, "grpc", errs);
    one(sleep, "sleep", errs);
    if n == 0 {
        errs.push(FieldError::required(p.clone(), "must specify a handler type"));
    }
}

/// ValidatePortNumOrName for a number.
fn port(port: Option<&IntOrString>, p: &Path, errs: &mut Vec<FieldError>) {
    if let Some(IntOrString::Int(n)) = port {
        if !(1..=65535).contains(n) {
            errs.push(FieldError::invalid(p.clone(), *n, "must be between 1 and 65535, inclusive"));
        }
    }
}
