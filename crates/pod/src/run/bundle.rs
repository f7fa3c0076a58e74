//! A PodSpec container to a HostProcess bundle: `config.json` under the pod's state
//! directory, the rootfs from the image.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Container;
use serde_json::{json, Value};

use super::env::{container_env, expand_all, Facts};
use super::quantity::Quantity;
use hostproc_image::ImageConfig;
use super::volumes::{mounts, Ready};
use super::{io_err, PodError};

/// The container's image through hostproc's store (`dir:PATH`, relative to the manifest's
/// directory; `oci:`, `oci-archive:`, names in the store, with imagePullPolicy) and a
/// writable view of it made in `dir` (recorded there first: [`release_view`] undoes it,
/// also after a crash). Returns the view's path and the image's config.
pub fn image_view(root: &Path, c: &Container, base: Option<&Path>, field: &str, dir: &Path, pull: &hostproc_image::PullOptions) -> Result<(PathBuf, ImageConfig), PodError> {
    let policy = match c.image_pull_policy.as_deref() {
        Some(p) => Some(hostproc_image::PullPolicy::parse(p).map_err(|e| PodError::invalid(format!("{field}.imagePullPolicy"), e.to_string()))?),
        None => None,
    };
    view(root, c, base, field, dir, policy, pull)
}

fn view(root: &Path, c: &Container, base: Option<&Path>, field: &str, dir: &Path, policy: Option<hostproc_image::PullPolicy>, pull: &hostproc_image::PullOptions) -> Result<(PathBuf, ImageConfig), PodError> {
    let mut image = c.image.clone().unwrap_or_default();
    if let Some(p) = image.strip_prefix("dir:").filter(|p| !p.starts_with('/')) {
        image = format!("dir:{}", base.unwrap_or(Path::new("")).join(p).display());
    }
    let bad = |e: hostproc_image::ImageError| PodError::invalid(format!("{field}.image"), e.to_string());
    let policy = policy.unwrap_or_else(|| hostproc_image::PullPolicy::default_for(&image));
    let img = hostproc_image::Store::open(root).map_err(bad)?.resolve_with(&image, policy, pull).map_err(bad)?;
    std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let view = img.container_rootfs(dir).map_err(bad)?;
    Ok((view.path().to_path_buf(), img.config))
}

/// A restarted container's new view: the old one (and what the last run wrote in it)
/// released, a new one made at the same place (the bundle's root.path is unchanged). The
/// image is the one pulled when the pod started (policy Never here): a detached supervisor
/// holds no registry credentials, and the pod keeps the image it was started with.
pub fn fresh_view(root: &Path, c: &Container, base: Option<&Path>, field: &str, dir: &Path) -> Result<(), PodError> {
    hostproc_image::ContainerRootfs::release_at(dir).map_err(|e| PodError::invalid(format!("{field}.image"), format!("container {:?}: the last run's rootfs: {e}", c.name)))?;
    view(root, c, base, field, dir, Some(hostproc_image::PullPolicy::Never), &hostproc_image::PullOptions::default()).map(|_| ())
}

/// Releases the image view recorded in a container's directory (none: nothing to do).
pub fn release_view(dir: &Path) {
    if let Err(e) = hostproc_image::ContainerRootfs::release_at(dir) {
        tracing::warn!("{e}");
    }
}

/// kubelet's `MilliCPUToShares`.
pub fn milli_cpu_to_shares(milli: i128) -> u64 {
    const MIN: i128 = 2;
    const MAX: i128 = 262_144;
    if milli == 0 {
        return MIN as u64;
    }
    (milli * 1024 / 1000).clamp(MIN, MAX) as u64
}

/// kubelet's `MilliCPUToQuota` (0: no quota).
pub fn milli_cpu_to_quota(milli: i128, period: i128) -> i64 {
    if milli == 0 {
        return 0;
    }
    (milli * period / 1000).max(1000) as i64
}

pub const CPU_PERIOD: u64 = 100_000;

/// linux.resources from the container's requests and limits, as kubelet sets them.
pub fn resources(c: &Container, field: &str) -> Result<Value, PodError> {
    let get = |which: &str, name: &str| -> Result<Option<Quantity>, PodError> {
        let m = c.resources.as_ref().and_then(|r| if which == "limits" { r.limits.as_ref() } else { r.requests.as_ref() });
        m.and_then(|m| m.get(name)).map(|q| Quantity::parse(&q.0).map_err(|e| PodError::invalid(format!("{field}.resources.{which}.{name}"), e))).transpose()
    };
    let cpu_limit = get("limits", "cpu")?;
    // The API server defaults a missing request to the limit.
    let cpu_request = get("requests", "cpu")?.or(cpu_limit);
    let mut cpu = json!({"shares": milli_cpu_to_shares(cpu_request.map_or(0, Quantity::milli))});
    if let Some(l) = cpu_limit {
        let q = milli_cpu_to_quota(l.milli(), CPU_PERIOD as i128);
        if q > 0 {
            cpu["quota"] = json!(q);
            cpu["period"] = json!(CPU_PERIOD);
        }
    }
    let mut res = json!({"cpu": cpu});
    if let Some(m) = get("limits", "memory")? {
        res["memory"] = json!({"limit": m.units() as i64});
    }
    Ok(res)
}

/// What a container's bundle is made from.
pub struct Spec<'a> {
    pub facts: &'a Facts<'a>,
    pub container: &'a Container,
    /// `spec.containers[0]` or `spec.initContainers[1]`.
    pub field: String,
    pub volumes: &'a HashMap<String, Ready>,
    pub rootfs: PathBuf,
    /// The image's Entrypoint, Cmd, Env, WorkingDir, User.
    pub image: ImageConfig,
}

/// Writes `<dir>/config.json`.
pub fn write(s: &Spec, dir: &Path) -> Result<(), PodError> {
    let c = s.container;
    let pod = &s.facts.input;
    let mut env = container_env(s.facts, c)?;
    // kubelet expands command and args; the image's Entrypoint/Cmd come as they are.
    let command = c.command.as_deref().map(|v| expand_all(v, &env));
    let args = c.args.as_deref().map(|v| expand_all(v, &env));
    let argv = s.image.argv(command.as_deref(), args.as_deref());
    if argv.is_empty() {
        return Err(PodError::invalid(format!("{}.command", s.field), format!("container {:?}: no command or args, and the image has no Entrypoint or Cmd; give command", c.name)));
    }
    // kubelet sets HOSTNAME to the pod's hostname: the node's on the host network.
    env.insert(0, ("HOSTNAME".into(), super::host_name()));
    let mut envs = s.image.merged_env(&env);
    if !envs.iter().any(|e| e.starts_with("PATH=")) {
        envs.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }

    let psc = pod.spec.security_context.as_ref();
    let csc = c.security_context.as_ref();
    let run_as_name = csc.and_then(|s| s.windows_options.as_ref()).and_then(|w| w.run_as_user_name.clone()).or(psc.and_then(|s| s.windows_options.as_ref()).and_then(|w| w.run_as_user_name.clone()));
    let run_as_user = csc.and_then(|s| s.run_as_user).or(psc.and_then(|s| s.run_as_user));
    let run_as_group = csc.and_then(|s| s.run_as_group).or(psc.and_then(|s| s.run_as_group));
    // The image's User applies only when the pod names no user (as containerd: runAsUser
    // replaces it whole); runAsUserName replaces process.user in the engine.
    let img = match s.image.user.as_deref().filter(|u| !u.is_empty() && run_as_name.is_none() && run_as_user.is_none()) {
        Some(u) => Some(hostproc_identity::image_user(u).map_err(|e| PodError::invalid(format!("{}.image", s.field), format!("container {:?}: {e}", c.name)))?),
        None => None,
    };
    let uid = run_as_user.or(img.as_ref().map(|i| i64::from(i.uid))).unwrap_or(0);
    let gid = run_as_group.or(img.as_ref().map(|i| i64::from(i.gid))).unwrap_or(0);
    let mut groups: Vec<i64> = img.as_ref().map(|i| i.additional_gids.iter().map(|&g| i64::from(g)).collect()).unwrap_or_default();
    for g in psc.and_then(|s| s.supplemental_groups.clone()).unwrap_or_default() {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let mut user = json!({"uid": uid, "gid": gid});
    if !groups.is_empty() {
        user["additionalGids"] = json!(groups);
    }

    let mut ann = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        ann.insert(k.into(), Value::String(v));
    };
    put("microsoft.com/hostprocess-container", "true".into());
    put("hostproc.io/mount-mode", "bind".into());
    let grace = pod.spec.termination_grace_period_seconds.unwrap_or(30).clamp(0, 86_400);
    put("hostproc.io/grace-period", format!("{grace}s"));
    if let Some(n) = run_as_name {
        put("hostproc.io/run-as-user-name", n);
    }
    // As containerd's CRI sets them.
    let (name, ns, uid_) = (pod.name(), pod.namespace(), pod.metadata.uid.clone().unwrap_or_default());
    put("io.kubernetes.cri.container-type", "container".into());
    put("io.kubernetes.cri.container-name", c.name.clone());
    put("io.kubernetes.cri.sandbox-name", name.clone());
    put("io.kubernetes.cri.sandbox-namespace", ns.clone());
    put("io.kubernetes.cri.sandbox-uid", uid_.clone());
    put("io.kubernetes.cri.image-name", c.image.clone().unwrap_or_default());
    put("io.kubernetes.pod.name", name);
    put("io.kubernetes.pod.namespace", ns);
    put("io.kubernetes.pod.uid", uid_);
    put("io.kubernetes.container.name", c.name.clone());

    let spec = json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": user,
            "args": argv,
            "env": envs,
            "cwd": c.working_dir.clone().filter(|w| !w.is_empty()).or(s.image.working_dir.clone()).unwrap_or_default(),
            "noNewPrivileges": false
        },
        "root": {"path": s.rootfs, "readonly": false},
        "hostname": "",
        "mounts": mounts(c, &s.field, s.volumes)?,
        "annotations": ann,
        "linux": {"resources": resources(c, &s.field)?, "namespaces": []}
    });
    std::fs::create_dir_all(dir).map_err(io_err("create the bundle", dir))?;
    let p = dir.join("config.json");
    let tmp = dir.join("config.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&spec).expect("json")).map_err(io_err("write", &tmp))?;
    std::fs::rename(&tmp, &p).map_err(io_err("write", &p))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn kubelet_cpu() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(100), 102);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_shares(1_000_000), 262_144);
        assert_eq!(milli_cpu_to_quota(0, 100_000), 0);
        assert_eq!(milli_cpu_to_quota(5, 100_000), 1000);
        assert_eq!(milli_cpu_to_quota(250, 100_000), 25_000);
        assert_eq!(milli_cpu_to_quota(2000, 100_000), 200_000);
    }
}
