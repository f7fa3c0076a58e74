//! What the kubelet sends for a HostProcess pod (cri.rs), and the CRI log format it reads.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ImageSpec, Int64Value, KeyValue, LinuxContainerConfig,
    LinuxContainerResources, LinuxContainerSecurityContext, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, Mount, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata,
};

use crate::common::lc::is_rfc3339;

/// The container's image (the pod's sandbox image is client::PAUSE).
pub const IMAGE: &str = "hptest.local/hostproc/hello:v1";
/// run_as_user and run_as_group of the container (nobody/nogroup).
pub const USER: i64 = 65534;

/// `key=value` pairs as a protobuf map.
pub fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The node's pid and ipc namespaces, and `network` (NODE for hostNetwork).
fn namespaces(network: NamespaceMode) -> Option<NamespaceOption> {
    Some(NamespaceOption {
        network: network as i32,
        pid: NamespaceMode::Node as i32,
        ipc: NamespaceMode::Node as i32,
        ..Default::default()
    })
}

/// A HostProcess pod (hostNetwork unless `network` says POD), its cgroup parent `parent`.
pub fn pod_config(
    name: &str,
    logs: &Path,
    parent: &str,
    network: NamespaceMode,
) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "hptest".into(),
            attempt: 0,
        }),
        log_directory: logs.display().to_string(),
        labels: map(&[("app", name)]),
        annotations: map(&[
            ("microsoft.com/hostprocess-container", "true"),
            ("hostproc.io/grace-period", "2s"),
            // Not in the handler's pod_annotations: containerd must not pass it on.
            ("hptest.io/not-passed", "x"),
        ]),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: parent.into(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: namespaces(network),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The payload: prints what it sees, writes its pid to `<vol>/init`, then says `said-N`
/// each time `<vol>/say` appears, until SIGTERM (then `stopping`, exit 0).
fn payload_script(vol: &str) -> String {
    format!(
        "echo \"uid=$(id -u) gid=$(id -g)\"; echo \"env=$HPTEST_ENV\"; \
         echo \"file=$(cat \"$HPTEST_FILE\")\"; echo \"vol=$(cat {vol}/in.txt)\"; \
         echo $$ > {vol}/init.tmp && mv {vol}/init.tmp {vol}/init; \
         trap 'echo stopping; exit 0' TERM; n=0; \
         while :; do \
           if [ -e {vol}/say ]; then n=$((n+1)); echo \"said-$n\"; rm -f {vol}/say; fi; \
           sleep 0.1 & wait $!; \
         done"
    )
}

/// The container: the host's `/bin/sh` running [`payload_script`], `vol_host` mounted at
/// `vol`, env, an annotation, a user, and the resources of a BestEffort pod.
pub fn container_config(vol_host: &Path, vol: &str) -> ContainerConfig {
    let env = |key: &str, value: &str| KeyValue {
        key: key.into(),
        value: value.into(),
    };
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "payload".into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMAGE.into(),
            ..Default::default()
        }),
        command: vec!["/bin/sh".into(), "-c".into()],
        args: vec![payload_script(vol)],
        envs: vec![
            env("HPTEST_ENV", "from-cri"),
            env("HPTEST_FILE", "$CONTAINER_SANDBOX_MOUNT_POINT/hello.txt"),
        ],
        mounts: vec![Mount {
            container_path: vol.into(),
            host_path: vol_host.display().to_string(),
            ..Default::default()
        }],
        annotations: map(&[("hostproc.io/mount-mode", "bind")]),
        log_path: "payload/0.log".into(),
        linux: Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources {
                cpu_period: 100_000,
                cpu_shares: 2,
                oom_score_adj: 1000,
                ..Default::default()
            }),
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: namespaces(NamespaceMode::Node),
                run_as_user: Some(Int64Value { value: USER }),
                run_as_group: Some(Int64Value { value: USER }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// One line of a CRI log file: (timestamp, stream, tag, content).
pub type LogLine = (String, String, String, String);

/// The lines of a CRI log file; each is checked to be
/// `<RFC3339Nano> <stdout|stderr> <F|P> <content>`.
#[track_caller]
pub fn cri_log(path: &Path) -> Vec<LogLine> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            assert!(
                f.len() == 4
                    && is_rfc3339(f[0])
                    && matches!(f[1], "stdout" | "stderr")
                    && matches!(f[2], "F" | "P"),
                "{}: not a CRI log line: {l:?}",
                path.display()
            );
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

/// Whether `log` holds `content` as one full stdout line.
pub fn has_line(log: &[LogLine], content: &str) -> bool {
    log.iter()
        .any(|(_, s, t, c)| s == "stdout" && t == "F" && c == content)
}
