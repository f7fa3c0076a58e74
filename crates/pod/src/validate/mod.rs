//! `hostproc pod validate`: what the Kubernetes API server answers for a HostProcess pod
//! (pkg/apis/core/validation: the rules in docs/pod.md, "Validation"), with its field
//! paths, order and messages; the Pod Security Standards level the pod needs; and whether
//! hostproc can run it.
//!
//! The API server's rules that concern HostProcess pods are checked, and those a pod
//! runner meets first (names, images, duplicates, volumes and volumeMounts, resources,
//! probes and hooks, restart policies); a pod these find valid may still be refused by a
//! cluster for another field (env names, ports, selectors, ...).

mod container;
pub mod field;
mod names;
mod pss;
mod spec;

use k8s_openapi::api::core::v1::{ContainerPort, PodSpec, SecurityContext};

use crate::manifest::PodManifest;
use field::{FieldError, Path};

/// How the modelled API server is configured.
#[derive(Debug, Clone)]
pub struct Options {
    /// kube-apiserver's `--allow-privileged`. Its own default is false, but kubeadm, kind and
    /// the managed clusters start it with true (a HostProcess pod needs it), so true here.
    pub allow_privileged: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { allow_privileged: true }
    }
}

/// What validation found for one pod.
#[derive(Debug, Clone)]
pub struct Report {
    /// The API server's errors, in its order; empty when it would accept the object.
    pub errors: Vec<FieldError>,
    /// Containers (init, regular, ephemeral) and how many of them are HostProcess ones.
    pub containers: usize,
    pub hostprocess_containers: usize,
    /// The baseline Pod Security Standard checks the pod fails: (reason, detail).
    pub baseline: Vec<(&'static str, String)>,
}

impl Report {
    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Why hostproc cannot run a pod the API server accepts, if it cannot.
    pub fn not_runnable(&self) -> Option<String> {
        (self.valid() && self.hostprocess_containers == 0).then(|| {
            "no HostProcess container: hostproc runs HostProcess pods only; set spec.securityContext.windowsOptions.hostProcess: true and spec.hostNetwork: true".to_owned()
        })
    }

    /// The least permissive Pod Security Standards level that admits the pod, as far as the
    /// checks in [`pss`] tell: "privileged" when a baseline check fails, else "baseline".
    pub fn pss_level(&self) -> &'static str {
        if self.baseline.is_empty() {
            "baseline"
        } else {
            "privileged"
        }
    }

    /// The admission's message for a namespace enforcing baseline, if it refuses the pod.
    pub fn baseline_message(&self) -> Option<String> {
        (!self.baseline.is_empty()).then(|| {
            let list = self.baseline.iter().map(|(r, d)| format!("{r} ({d})")).collect::<Vec<_>>().join(", ");
            format!("violates PodSecurity \"baseline:latest\": {list}")
        })
    }
}

/// A container of any of the three lists, as the rules see it.
pub(crate) struct Ctr<'a> {
    pub path: Path,
    pub name: &'a str,
    pub sc: Option<&'a SecurityContext>,
    pub ports: &'a [ContainerPort],
}

/// The containers in Kubernetes' visiting order: initContainers, containers,
/// ephemeralContainers, with their paths under `spec_path`.
pub(crate) fn visit_at<'a>(spec: &'a PodSpec, spec_path: &Path) -> Vec<Ctr<'a>> {
    let mut out = Vec::new();
    let list = |name: &str| spec_path.child(name);
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        out.push(Ctr {
            path: list("initContainers").index(i),
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
        });
    }
    for (i, c) in spec.containers.iter().enumerate() {
        out.push(Ctr {
            path: list("containers").index(i),
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
        });
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        out.push(Ctr {
            path: list("ephemeralContainers").index(i),
            name: &c.name,
            sc: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
        });
    }
    out
}

pub(crate) fn visit(spec: &PodSpec) -> Vec<Ctr<'_>> {
    visit_at(spec, &Path::new("spec"))
}

/// Validates one pod (a Pod, or a workload's template at the path the API server reports
/// for that kind).
pub fn validate(pod: &PodManifest, opts: &Options) -> Report {
    let is_pod = pod.kind == "Pod";
    let mut spec = pod.spec.clone();
    if is_pod {
        default_host_ports(&mut spec);
    }
    let mut errors = Vec::new();
    // The object's own name (the workload's for a template): ValidateObjectMeta.
    let name_path = Path::new("metadata").child("name");
    if pod.name.is_empty() {
        errors.push(FieldError::required(name_path, "name or generateName is required"));
    } else {
        for msg in names::dns1123_subdomain(&pod.name) {
            errors.push(FieldError::invalid(name_path.clone(), pod.name.as_str(), msg));
        }
    }
    let spec_path = Path::new(pod.spec_path());
    errors.extend(spec::pod_spec(&spec, &spec_path, opts));
    if is_pod {
        // validatePodMetadataAndSpec, after the spec: containers, then initContainers.
        let lists = [("containers", &spec.containers[..]), ("initContainers", spec.init_containers.as_deref().unwrap_or_default())];
        for (list, containers) in lists {
            for (i, c) in containers.iter().enumerate() {
                errors.extend(spec::image_whitespace(c.image.as_deref(), &spec_path.child(list).index(i)));
            }
        }
        // ValidatePodCreate, after that.
        if spec.ephemeral_containers.as_ref().is_some_and(|e| !e.is_empty()) {
            errors.push(FieldError::forbidden(spec_path.child("ephemeralContainers"), "cannot be set on create"));
        }
    } else if spec.ephemeral_containers.as_ref().is_some_and(|e| !e.is_empty()) {
        // ValidatePodTemplateSpec, after the spec.
        errors.push(FieldError::forbidden(spec_path.child("ephemeralContainers"), "ephemeral containers not allowed in pod template"));
    }
    let (containers, hostprocess_containers) = spec::hostprocess_count(&spec);
    Report { errors, containers, hostprocess_containers, baseline: pss::baseline(&spec) }
}

/// The Pod defaulting the API server applies before validating and admitting a Pod (not a
/// template): with hostNetwork, an unset hostPort is the containerPort.
fn default_host_ports(spec: &mut PodSpec) {
    if spec.host_network != Some(true) {
        return;
    }
    let lists = spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten());
    for port in lists.flat_map(|c| c.ports.iter_mut().flatten()) {
        if port.host_port.unwrap_or(0) == 0 {
            port.host_port = Some(port.container_port);
        }
    }
}

#[cfg(test)]
mod tests;
