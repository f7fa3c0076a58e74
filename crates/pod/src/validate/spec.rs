//! ValidatePodSpec's rules for HostProcess pods, in its order: the volumes, the containers
//! (regular, init, ephemeral: names, images, volumeMounts, resources, securityContext,
//! probes, restartPolicy; see `container`), hostNetwork's hostPorts, the pod's
//! restartPolicy, its securityContext, the HostProcess rules
//! (validateWindowsHostProcessPod), then spec.os.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{PodSpec, SecurityContext, WindowsSecurityContextOptions};

use super::field::{FieldError, Path};
use super::{container, names, visit_at, Options};

const FOR_WINDOWS: &str = "cannot be set for a windows pod";

pub fn pod_spec(spec: &PodSpec, path: &Path, opts: &Options) -> Vec<FieldError> {
    let mut errs = Vec::new();

    // ValidateVolumes: what volumeMounts may name.
    let vols = container::volumes(spec.volumes.as_deref().unwrap_or_default(), &path.child("volumes"), &mut errs);

    // validateContainers: names unique among regular containers.
    let cpath = path.child("containers");
    let mut all = HashSet::new();
    if spec.containers.is_empty() {
        errs.push(FieldError::required(cpath.clone(), ""));
    } else {
        for (i, c) in spec.containers.iter().enumerate() {
            let p = cpath.index(i);
            container_common(&c.name, c.image.as_deref(), c.security_context.as_ref(), &p, opts, &mut errs, &mut |e| container::common(c, &vols, &p, e));
            if !all.insert(c.name.as_str()) {
                errs.push(FieldError::duplicate(p.child("name"), c.name.as_str()));
            }
            container::probes(c, &p, &mut errs);
            container::regular_restart_policy(c, &p, &mut errs);
        }
    }
    // validateInitContainers: unique among regular and init containers.
    let mut all: HashSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let p = path.child("initContainers").index(i);
        container_common(&c.name, c.image.as_deref(), c.security_context.as_ref(), &p, opts, &mut errs, &mut |e| container::common(c, &vols, &p, e));
        let sidecar = container::init_restart_policy(c, &p, &mut errs);
        if all.contains(c.name.as_str()) {
            errs.push(FieldError::duplicate(p.child("name"), c.name.as_str()));
        } else if !c.name.is_empty() {
            all.insert(&c.name);
        }
        container::init_probes(c, sidecar, &p, &mut errs);
    }
    // validateEphemeralContainers: unique among all.
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        let p = path.child("ephemeralContainers").index(i);
        container_common(&c.name, c.image.as_deref(), c.security_context.as_ref(), &p, opts, &mut errs, &mut |_| {});
        // validateContainerOnlyForPod, for templates too.
        errs.extend(image_whitespace(c.image.as_deref(), &p));
        if !all.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(p.child("name"), c.name.as_str()));
        }
    }

    // validatePodHostNetworkDeps: regular containers only. A Pod's unset hostPorts were
    // defaulted to the containerPort; a template's stay 0, which is allowed.
    if spec.host_network == Some(true) {
        for (i, c) in spec.containers.iter().enumerate() {
            for (j, port) in c.ports.iter().flatten().enumerate() {
                let hp = port.host_port.unwrap_or(0);
                if hp != 0 && hp != port.container_port {
                    let p = cpath.index(i).child("ports").index(j).child("hostPort");
                    errs.push(FieldError::invalid(p, hp, "must match `containerPort` when `hostNetwork` is true"));
                }
            }
        }
    }

    container::restart_policy(spec.restart_policy.as_deref(), &path.child("restartPolicy"), &mut errs);

    // validatePodSpecSecurityContext: its windowsOptions.
    let pod_windows = spec.security_context.as_ref().and_then(|s| s.windows_options.as_ref());
    if let Some(w) = pod_windows {
        errs.extend(names::windows_options(w, &path.child("securityContext").child("windowsOptions")));
    }

    errs.extend(hostprocess(spec, path, opts));

    if let Some(os) = &spec.os {
        if os.name.is_empty() {
            errs.push(FieldError::required(path.child("os").child("name"), "cannot be empty"));
        } else if os.name != "linux" && os.name != "windows" {
            errs.push(FieldError::not_supported(path.child("os"), os.name.as_str(), &["linux", "windows"]));
        } else if os.name == "linux" {
            errs.extend(linux(spec, path));
        } else {
            errs.extend(windows(spec, path));
        }
    }
    errs
}

/// validateContainerOnlyForPod: a Pod's containers' (and every ephemeral container's) image.
pub fn image_whitespace(image: Option<&str>, p: &Path) -> Option<FieldError> {
    let image = image.unwrap_or_default();
    (image.trim() != image).then(|| FieldError::invalid(p.child("image"), image, "must not have leading or trailing whitespace"))
}

/// validateContainerCommon's part here: the name, the image, then ValidateSecurityContext.
fn container_common(name: &str, image: Option<&str>, sc: Option<&SecurityContext>, p: &Path, opts: &Options, errs: &mut Vec<FieldError>, mid: &mut dyn FnMut(&mut Vec<FieldError>)) {
    let name_path = p.child("name");
    if name.is_empty() {
        errs.push(FieldError::required(name_path, ""));
    } else {
        for msg in names::dns1123_label(name) {
            errs.push(FieldError::invalid(name_path.clone(), name, msg));
        }
    }
    if image.unwrap_or_default().is_empty() {
        errs.push(FieldError::required(p.child("image"), ""));
    }
    // volumeMounts, imagePullPolicy, resources (`container`).
    mid(errs);
    let Some(sc) = sc else { return };
    let scp = p.child("securityContext");
    if sc.privileged == Some(true) && !opts.allow_privileged {
        errs.push(FieldError::forbidden(scp.child("privileged"), "disallowed by cluster policy"));
    }
    if let Some(w) = &sc.windows_options {
        errs.extend(names::windows_options(w, &scp.child("windowsOptions")));
    }
}

fn windows_options(sc: Option<&SecurityContext>) -> Option<&WindowsSecurityContextOptions> {
    sc.and_then(|s| s.windows_options.as_ref())
}

/// (containers, HostProcess containers): a container is one if its hostProcess is true, or
/// unset with the pod's true.
pub fn hostprocess_count(spec: &PodSpec) -> (usize, usize) {
    let pod = spec.security_context.as_ref().and_then(|s| s.windows_options.as_ref()).and_then(|w| w.host_process);
    let all = visit_at(spec, &Path::new("spec"));
    let hp = all.iter().filter(|c| windows_options(c.sc).and_then(|w| w.host_process).or(pod) == Some(true)).count();
    (all.len(), hp)
}

/// validateWindowsHostProcessPod: R1 for each container in visiting order, then R2, R3, R4.
fn hostprocess(spec: &PodSpec, path: &Path, opts: &Options) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let pod = spec.security_context.as_ref().and_then(|s| s.windows_options.as_ref()).and_then(|w| w.host_process);
    for c in visit_at(spec, path) {
        let own = windows_options(c.sc).and_then(|w| w.host_process);
        if let (Some(pod), Some(own)) = (pod, own) {
            if pod != own {
                let p = c.path.child("securityContext").child("windowsOptions").child("hostProcess");
                errs.push(FieldError::invalid(p, own, format!("pod hostProcess value must be identical if both are specified, was {pod}")));
            }
        }
    }
    let (containers, hostprocess) = hostprocess_count(spec);
    if hostprocess > 0 {
        if hostprocess != containers {
            errs.push(FieldError::invalid(
                path.clone(),
                "",
                "If pod contains any hostProcess containers then all containers must be HostProcess containers",
            ));
        }
        if spec.host_network != Some(true) {
            errs.push(FieldError::invalid(
                path.child("hostNetwork"),
                false,
                "hostNetwork must be true if pod contains any hostProcess containers",
            ));
        }
        if !opts.allow_privileged {
            errs.push(FieldError::forbidden(path.clone(), "hostProcess containers are disallowed by cluster policy"));
        }
    }
    errs
}

/// validateLinux: no windowsOptions anywhere.
fn linux(spec: &PodSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    const MSG: &str = "windows options cannot be set for a linux pod";
    if windows_options_pod(spec).is_some() {
        errs.push(FieldError::forbidden(path.child("securityContext").child("windowsOptions"), MSG));
    }
    for c in visit_at(spec, path) {
        if windows_options(c.sc).is_some() {
            errs.push(FieldError::forbidden(c.path.child("securityContext").child("windowsOptions"), MSG));
        }
    }
    errs
}

fn windows_options_pod(spec: &PodSpec) -> Option<&WindowsSecurityContextOptions> {
    spec.security_context.as_ref().and_then(|s| s.windows_options.as_ref())
}

/// validateWindows: the Linux-only fields of the pod's and each container's securityContext.
fn windows(spec: &PodSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut forbid = |set: bool, p: Path| {
        if set {
            errs.push(FieldError::forbidden(p, FOR_WINDOWS));
        }
    };
    let scp = path.child("securityContext");
    // In the internal type hostUsers, hostPID, hostIPC and shareProcessNamespace live in the
    // pod's securityContext (always there after defaulting); their paths are spec's.
    let sc = spec.security_context.clone().unwrap_or_default();
    forbid(sc.app_armor_profile.is_some(), scp.child("appArmorProfile"));
    forbid(sc.se_linux_options.is_some(), scp.child("seLinuxOptions"));
    forbid(spec.host_users.is_some(), path.child("hostUsers"));
    forbid(spec.host_pid == Some(true), path.child("hostPID"));
    forbid(spec.host_ipc == Some(true), path.child("hostIPC"));
    forbid(sc.seccomp_profile.is_some(), scp.child("seccompProfile"));
    forbid(sc.fs_group.is_some(), scp.child("fsGroup"));
    forbid(sc.fs_group_change_policy.is_some(), scp.child("fsGroupChangePolicy"));
    forbid(sc.sysctls.as_ref().is_some_and(|s| !s.is_empty()), scp.child("sysctls"));
    forbid(spec.share_process_namespace.is_some(), path.child("shareProcessNamespace"));
    forbid(sc.run_as_user.is_some(), scp.child("runAsUser"));
    forbid(sc.run_as_group.is_some(), scp.child("runAsGroup"));
    forbid(sc.supplemental_groups.is_some(), scp.child("supplementalGroups"));
    forbid(sc.supplemental_groups_policy.is_some(), scp.child("supplementalGroupsPolicy"));
    forbid(sc.se_linux_change_policy.is_some(), scp.child("seLinuxChangePolicy"));
    for c in visit_at(spec, path) {
        let Some(sc) = c.sc else { continue };
        let p = c.path.child("securityContext");
        forbid(sc.app_armor_profile.is_some(), p.child("appArmorProfile"));
        forbid(sc.se_linux_options.is_some(), p.child("seLinuxOptions"));
        forbid(sc.seccomp_profile.is_some(), p.child("seccompProfile"));
        forbid(sc.capabilities.is_some(), p.child("capabilities"));
        forbid(sc.read_only_root_filesystem.is_some(), p.child("readOnlyRootFilesystem"));
        forbid(sc.privileged.is_some(), p.child("privileged"));
        forbid(sc.allow_privilege_escalation.is_some(), p.child("allowPrivilegeEscalation"));
        forbid(sc.proc_mount.is_some(), p.child("procMount"));
        forbid(sc.run_as_user.is_some(), p.child("runAsUser"));
        forbid(sc.run_as_group.is_some(), p.child("runAsGroup"));
    }
    errs
}
