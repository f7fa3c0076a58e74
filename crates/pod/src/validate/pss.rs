//! The Pod Security Standards' baseline checks that a HostProcess pod meets
//! (k8s.io/pod-security-admission policy/check_*.go), with their reasons and details
//! verbatim, in the order the admission evaluates and lists them (its checks register in
//! their files' order: hostNamespaces, hostPathVolumes, hostPorts, privileged,
//! windowsHostProcess). The other baseline controls (AppArmor, capabilities, probe hosts,
//! /proc mount, SELinux, seccomp, sysctls) are not checked.

use k8s_openapi::api::core::v1::PodSpec;

use super::field::go_quote;
use super::visit;

/// The baseline checks the pod fails: (reason, detail).
pub fn baseline(spec: &PodSpec) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let on = |b: Option<bool>| b == Some(true);
    let mut namespaces = Vec::new();
    if on(spec.host_network) {
        namespaces.push("hostNetwork=true");
    }
    if on(spec.host_pid) {
        namespaces.push("hostPID=true");
    }
    if on(spec.host_ipc) {
        namespaces.push("hostIPC=true");
    }
    if !namespaces.is_empty() {
        out.push(("host namespaces", namespaces.join(", ")));
    }
    let host_paths: Vec<&str> =
        spec.volumes.iter().flatten().filter(|v| v.host_path.is_some()).map(|v| v.name.as_str()).collect();
    if !host_paths.is_empty() {
        out.push(("hostPath volumes", format!("{} {}", plural("volume", "volumes", host_paths.len()), join_quote(&host_paths))));
    }
    let containers = visit(spec);
    let mut port_users = Vec::new();
    let mut ports = std::collections::BTreeSet::new();
    for c in &containers {
        let used: Vec<i32> = c.ports.iter().filter_map(|p| p.host_port).filter(|&p| p != 0).collect();
        if !used.is_empty() {
            port_users.push(c.name);
            // A sorted set of the ports as strings, as sets.String sorts them.
            ports.extend(used.iter().map(|p| p.to_string()));
        }
    }
    if !port_users.is_empty() {
        let n = port_users.len();
        out.push((
            "hostPort",
            format!(
                "{} {} {} {} {}",
                plural("container", "containers", n),
                join_quote(&port_users),
                plural("uses", "use", n),
                plural("hostPort", "hostPorts", ports.len()),
                ports.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let privileged: Vec<&str> = containers
        .iter()
        .filter(|c| c.sc.and_then(|s| s.privileged) == Some(true))
        .map(|c| c.name)
        .collect();
    if !privileged.is_empty() {
        out.push((
            "privileged",
            format!("{} {} must not set securityContext.privileged=true", plural("container", "containers", privileged.len()), join_quote(&privileged)),
        ));
    }
    let hp = |o: Option<&k8s_openapi::api::core::v1::WindowsSecurityContextOptions>| o.and_then(|w| w.host_process) == Some(true);
    let mut setters = Vec::new();
    if hp(spec.security_context.as_ref().and_then(|s| s.windows_options.as_ref())) {
        setters.push("pod".to_owned());
    }
    let bad: Vec<&str> =
        containers.iter().filter(|c| hp(c.sc.and_then(|s| s.windows_options.as_ref()))).map(|c| c.name).collect();
    if !bad.is_empty() {
        setters.push(format!("{} {}", plural("container", "containers", bad.len()), join_quote(&bad)));
    }
    if !setters.is_empty() {
        out.push(("hostProcess", format!("{} must not set securityContext.windowsOptions.hostProcess=true", setters.join(" and "))));
    }
    out
}

fn plural(one: &'static str, many: &'static str, n: usize) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// `"a", "b"`, as the checks' joinQuote writes names.
fn join_quote(names: &[&str]) -> String {
    names.iter().map(|n| go_quote(n)).collect::<Vec<_>>().join(", ")
}
