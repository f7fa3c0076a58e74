use super::*;
use k8s_openapi::api::core::v1::Pod;

fn manifest(kind: &str, spec: serde_json::Value) -> PodManifest {
    let pod: Pod = serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})).unwrap();
    PodManifest {
        file: "f".into(),
        kind: kind.into(),
        name: "p".into(),
        document: 1,
        metadata: pod.metadata,
        spec: pod.spec.unwrap(),
    }
}

#[test]
fn baseline_messages_name_setters_volumes_and_ports_as_the_checks_do() {
    let m = manifest(
        "Pod",
        serde_json::json!({
            "hostNetwork": true, "hostPID": true,
            "securityContext": {"windowsOptions": {"hostProcess": true}},
            "volumes": [{"name": "a", "hostPath": {"path": "/a"}}, {"name": "b", "hostPath": {"path": "/b"}}, {"name": "e", "emptyDir": {}}],
            "initContainers": [{"name": "i", "image": "x", "securityContext": {"windowsOptions": {"hostProcess": true}}}],
            "containers": [
                {"name": "c", "image": "x", "ports": [{"containerPort": 8080}, {"containerPort": 80}], "securityContext": {"privileged": true, "windowsOptions": {"hostProcess": true}}},
                {"name": "d", "image": "x", "ports": [{"containerPort": 9000, "hostPort": 9000}]}
            ]
        }),
    );
    let r = validate(&m, &Options::default());
    assert_eq!(r.errors, []);
    assert_eq!((r.containers, r.hostprocess_containers), (3, 3));
    assert_eq!(r.pss_level(), "privileged");
    assert_eq!(
        r.baseline_message().unwrap(),
        "violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true, hostPID=true), \
         hostPath volumes (volumes \"a\", \"b\"), \
         hostPort (containers \"c\", \"d\" use hostPorts 80, 8080, 9000), \
         privileged (container \"c\" must not set securityContext.privileged=true), \
         hostProcess (pod and containers \"i\", \"c\" must not set securityContext.windowsOptions.hostProcess=true)"
    );
    assert!(r.not_runnable().is_none());
    // A template is not defaulted: no hostPort from the containerPorts.
    let r = validate(&manifest("DaemonSet", serde_json::json!({"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]})), &Options::default());
    assert!(r.baseline.is_empty());
    assert_eq!(r.pss_level(), "baseline");
    assert!(r.not_runnable().unwrap().starts_with("no HostProcess container"));
}

#[test]
fn metadata_container_names_and_disallowed_privileged() {
    let mut m = manifest("Pod", serde_json::json!({"containers": [{"name": "Bad_Name", "image": " x", "securityContext": {"privileged": true}}]}));
    m.name = String::new();
    let r = validate(&m, &Options { allow_privileged: false });
    let lines: Vec<String> = r.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0], "metadata.name: Required value: name or generateName is required");
    assert!(lines[1].starts_with("spec.containers[0].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of"));
    assert_eq!(lines[2], "spec.containers[0].securityContext.privileged: Forbidden: disallowed by cluster policy");
    assert_eq!(lines[3], "spec.containers[0].image: Invalid value: \" x\": must not have leading or trailing whitespace");
    // Ephemeral containers: refused on create for a Pod, in a template always.
    let spec = serde_json::json!({"containers": [{"name": "a", "image": "x"}], "ephemeralContainers": [{"name": "a", "image": "x"}]});
    let lines: Vec<String> = validate(&manifest("Pod", spec.clone()), &Options::default()).errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines, ["spec.ephemeralContainers[0].name: Duplicate value: \"a\"", "spec.ephemeralContainers: Forbidden: cannot be set on create"]);
    let lines: Vec<String> = validate(&manifest("Job", spec), &Options::default()).errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        lines,
        ["spec.template.spec.ephemeralContainers[0].name: Duplicate value: \"a\"", "spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template"]
    );
    let r = validate(&manifest("Pod", serde_json::json!({})), &Options::default());
    assert_eq!(r.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(), ["spec.containers: Required value"]);
}
