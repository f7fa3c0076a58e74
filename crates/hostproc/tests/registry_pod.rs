//! `pod run` pulls what it needs: a registry image (Debian's docker-registry with htpasswd
//! auth) with imagePullPolicy Never refused while it is not in the store, IfNotPresent
//! refused without credentials, then pulled with the pod's imagePullSecret (a
//! kubernetes.io/dockerconfigjson Secret in the same file) and run.

mod common;
#[path = "common/oci.rs"]
mod oci;
#[path = "common/registry.rs"]
mod registry;

use std::fs;

use base64::Engine as _;
use common::*;
use oci::{Compression as C, Layout, E};
use registry::*;
use serde_json::json;

#[test]
fn pod_run_pulls_with_its_image_pull_secret_and_honours_the_policy() {
    assert!(registry_bin().is_some(), "{REGISTRY_BIN} is missing: apt-get install docker-registry (.ci/run does)");
    let t = tempdir();
    let storage = t.path().join("storage");
    {
        let plain = Registry::start(&t.path().join("reg"), &storage, None, &Auth::None);
        let mut l = Layout::new(&t.path().join("layout"));
        let layer = oci::tar(&[E::File("hello.txt", "hello from a pulled image\n", 0o644)]);
        let (m, _) = l.image(&[(layer, C::Gzip)], None, &["cat $CONTAINER_SANDBOX_MOUNT_POINT/hello.txt"]);
        push_layout_image(&plain.addr, "team/pod", Some("1"), &l, &m);
    }
    let hf = t.path().join("htpasswd");
    htpasswd(&hf, "carol", "pw4pods");
    let reg = Registry::start(&t.path().join("reg"), &storage, None, &Auth::Htpasswd(hf));
    let image = format!("{}/team/pod:1", reg.addr);
    let root = Root::new();
    let name = unique_id("regpod").to_ascii_lowercase().replace('_', "-");
    let cfg = json!({"auths": {reg.addr.clone(): {"auth": base64::engine::general_purpose::STANDARD.encode("carol:pw4pods")}}});
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(cfg.to_string())}});
    let pod = |policy: &str, secrets: bool| {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"hostNetwork": true, "restartPolicy": "Never", "securityContext": {"windowsOptions": {"hostProcess": true}},
                "containers": [{"name": "main", "image": image, "imagePullPolicy": policy}]}});
        if secrets {
            p["spec"]["imagePullSecrets"] = json!([{"name": "regcred"}]);
        }
        p
    };
    let run = |docs: &[serde_json::Value]| {
        let f = t.path().join("pod.yaml");
        fs::write(&f, docs.iter().map(|d| format!("---\n{d}\n")).collect::<String>()).unwrap();
        let mut c = command(&root);
        c.args(["pod", "run", f.to_str().unwrap()]).env("DOCKER_CONFIG", t.path().join("no-docker"));
        execute(c)
    };
    let o = run(&[pod("Never", true), secret.clone()]);
    o.assert_code(1);
    assert!(o.stderr.contains("imagePullPolicy is Never"), "{}", o.dump());
    let o = run(&[pod("IfNotPresent", false)]);
    o.assert_code(1);
    assert!(o.stderr.contains("refused the pull") && o.stderr.contains("401"), "{}", o.dump());
    assert_eq!(reg.blob_gets(), 0);
    let o = run(&[pod("IfNotPresent", true), secret.clone()]);
    assert_eq!(o.code(), 0, "{}", o.dump());
    let log = fs::read_to_string(root.path().join(format!("pods/default_{name}/logs/main/0.log"))).unwrap_or_default();
    assert!(log.contains("hello from a pulled image"), "{log}\n{}", o.dump());
    assert_eq!(reg.blob_gets(), 2, "config and layer");
    hostproc(&root, &["pod", "rm", "--force", &name]).assert_code(0);
    // Now present: Never runs it, nothing downloaded.
    let o = run(&[pod("Never", false)]);
    assert_eq!(o.code(), 0, "{}", o.dump());
    hostproc(&root, &["pod", "rm", "--force", &name]).assert_code(0);
    assert_eq!(reg.blob_gets(), 2);
}
