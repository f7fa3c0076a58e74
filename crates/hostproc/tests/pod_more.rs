//! `hostproc pod run` as a kubelet: a restarted container's fresh image view, secret
//! volumes on a tmpfs, the image's User resolved on the host, `pod logs`' container list.

mod common;
#[path = "common/oci.rs"]
mod oci;
#[path = "common/pod.rs"]
mod pod;

use std::fs;
use std::path::{Path, PathBuf};

use pod::*;
use serde_json::json;

/// An OCI layout in the test's directory with one small layer, its config's User `user`.
fn oci_image(t: &T, user: &str) -> String {
    let dir = t.path("layout");
    let mut l = oci::Layout::new(&dir);
    l.user = user.into();
    let layer = oci::tar(&[oci::E::Dir("work", 0o755), oci::E::File("hello.txt", "hello from the layer\n", 0o644)]);
    l.image(&[(layer, oci::Compression::Gzip)], Some("example.com/podmore:v1"), &["true"]);
    format!("oci:{}", dir.display())
}

/// Mount points (as this process sees them) at or under `dir`, with their fs type.
fn mounts_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let p = PathBuf::from(pre.split(' ').nth(4)?);
            p.starts_with(dir).then(|| (p, post.split(' ').next().unwrap_or("").to_string()))
        })
        .collect()
}

/// A container restarted by restartPolicy OnFailure is a new container: what its first
/// run wrote into its rootfs is gone in the second (kubelet makes a new container).
#[test]
fn a_restarted_container_gets_a_fresh_writable_image_view() {
    let t = T::new("podfresh");
    let image = oci_image(&t, "0");
    let first = t.path("first-ran");
    let script = format!(
        "cd $CONTAINER_SANDBOX_MOUNT_POINT; if [ -e written-by-run ]; then echo STALE; exit 0; fi; echo run >> written-by-run; \
         if [ -e {f} ]; then echo FRESH; exit 0; fi; touch {f}; exit 3",
        f = first.display()
    );
    let mut pod = t.pod(&[], &[("main", &script)], json!({"restartPolicy": "OnFailure"}));
    pod["spec"]["containers"][0]["image"] = json!(image);
    let out = t.run(&[pod]);
    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), t.log("main", 1));
    assert!(first.exists(), "the first run did not run");
    assert_eq!(t.state()["containerStatuses"][0]["restartCount"], 1, "{}", t.state());
    assert_eq!(t.lines("main", 1), ["FRESH"], "the second run saw the first run's file");
    t.rm_and_check();
}

/// A secret volume is a tmpfs of the pod's (never on disk), as kubelet mounts it, and it
/// goes with `pod rm`.
#[test]
fn secret_volumes_are_on_a_tmpfs_removed_with_the_pod() {
    let t = T::new("podsecret");
    let mut pod = t.pod(&[], &[("main", "cat /etc/sec/token; echo; stat -f -c %T /etc/sec")], json!({}));
    pod["spec"]["volumes"] = json!([{"name": "sec", "secret": {"secretName": "creds"}}]);
    pod["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "sec", "mountPath": "/etc/sec"}]);
    let out = t.run(&[pod, secret("creds", json!({"token": "s3cret"}))]);
    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), t.log("main", 0));
    assert_eq!(t.lines("main", 0), ["s3cret", "tmpfs"]);
    // The pod has ended but is not removed: its secret is still on the tmpfs.
    let vol = t.pod_dir().join("volumes/sec");
    assert_eq!(mounts_under(&t.pod_dir()), [(vol.clone(), "tmpfs".to_string())]);
    assert_eq!(fs::read_to_string(vol.join("token")).unwrap(), "s3cret");
    t.rm_and_check();
    assert!(mounts_under(&t.pod_dir()).is_empty() && !vol.exists());
}

/// The image's User names a host account ("name" or "name:group"), as a runAsUserName
/// does; a name the host does not know is refused naming it and the fix, nothing made.
#[test]
fn a_named_image_user_resolves_on_the_host_and_an_unknown_one_is_refused() {
    for (user, want) in [("daemon", "U=1 G=1"), ("daemon:nogroup", "U=1 G=65534"), ("nobody:0", "U=65534 G=0")] {
        let t = T::new("podimguser");
        let image = oci_image(&t, user);
        let mut pod = t.pod(&[], &[("main", "echo U=$(id -u) G=$(id -g)")], json!({}));
        pod["spec"]["securityContext"] = json!({"windowsOptions": {"hostProcess": true}});
        pod["spec"]["containers"][0]["image"] = json!(image);
        let out = t.run(&[pod]);
        assert_eq!(out.code(), 0, "{user}: {}\n{}", out.dump(), t.log("main", 0));
        assert_eq!(t.lines("main", 0), [want], "image User {user:?}");
        t.rm_and_check();
    }
    for (user, words) in [("no-such-user-hp", &["\"no-such-user-hp\"", "useradd no-such-user-hp", "runAsUserName"][..]), ("daemon:no-such-group-hp", &["groupadd no-such-group-hp", "runAsGroup"][..])] {
        let t = T::new("podimguser");
        let image = oci_image(&t, user);
        let mut pod = t.pod(&[], &[("main", "true")], json!({}));
        pod["spec"]["securityContext"] = json!({"windowsOptions": {"hostProcess": true}});
        pod["spec"]["containers"][0]["image"] = json!(image);
        let out = t.run(&[pod.clone()]);
        assert_eq!(out.code(), 1, "{}", out.dump());
        assert!(out.stderr.contains("spec.containers[0].image") && words.iter().all(|w| out.stderr.contains(w)), "{user}: {}", out.dump());
        assert!(!t.pod_dir().exists(), "{user}: the pod was left made");
        // A runAsUserName (or runAsUser) replaces the image's User: nothing to resolve.
        pod["spec"]["securityContext"]["windowsOptions"]["runAsUserName"] = json!("NT AUTHORITY\\SYSTEM");
        let out = t.run(&[pod]);
        assert_eq!(out.code(), 0, "{}", out.dump());
        t.rm_and_check();
    }
}

/// `pod logs` lists the containers as the API server and kubectl do: init containers
/// apart.
#[test]
fn pod_logs_lists_containers_then_init_containers() {
    let t = T::new("podlogsnames");
    let out = t.run(&[t.pod(&[("i", "echo init")], &[("a", "echo from-a"), ("b", "echo from-b")], json!({}))]);
    assert_eq!(out.code(), 0, "{}", out.dump());
    let out = t.hostproc(&["pod", "logs", &t.name, "-c", "nope"]);
    assert_ne!(out.code(), 0, "{}", out.dump());
    assert!(out.stderr.contains(&format!("container nope is not valid for pod {}; choose one of: [a b] or one of the init containers: [i]", t.name)), "{}", out.dump());
    let out = t.hostproc(&["pod", "logs", &t.name]);
    assert!(out.ok() && out.stdout.trim() == "from-a", "{}", out.dump());
    assert!(out.stderr.contains("Defaulted container \"a\" out of: a, b, i (init)"), "{}", out.dump());
    let out = t.hostproc(&["pod", "logs", &t.name, "-c", "i"]);
    assert!(out.ok() && out.stdout.trim() == "init", "{}", out.dump());
    t.rm_and_check();
}


/// The README's main job, as it says it (`pod run --rm examples/pods/node-setup/pod.yaml`
/// from the repository's top directory; here with the test's own --root): the init
/// container and the container write the host's files through the hostPath volume, the
/// pod Succeeds, the command exits 0 and removes the pod.
#[test]
fn the_readme_main_job_runs_the_node_setup_pod_to_completion_and_cleans_up() {
    let root = common::Root::new();
    let top = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let host = Path::new("/run/hostproc-example-pod");
    let _ = fs::remove_file(host.join("node.conf"));
    let mut c = common::command(&root);
    c.current_dir(&top).args(["pod", "run", "--rm", "examples/pods/node-setup/pod.yaml"]);
    let out = common::execute(c);
    assert_eq!(out.code(), 0, "{}", out.dump());
    let conf = fs::read_to_string(host.join("node.conf")).unwrap();
    assert!(conf.contains("log_level=info") && conf.contains("cpu_limit_millicores=100") && conf.contains("pod node-setup-once"), "{conf}");
    let inv = fs::read_to_string(host.join("inventory")).unwrap();
    assert!(inv.starts_with("node=") && inv.contains("kernel="), "{inv}");
    // --rm: nothing of the pod is left (state, cgroups, mounts).
    assert!(root.entries().iter().all(|e| !e.to_string_lossy().contains("node-setup-once")), "{:?}", root.entries());
    assert!(common::cgroups_named("default_node-setup-once_").is_empty());
    assert!(common::mounts_mentioning(&[root.path().to_str().unwrap()]).is_empty());
    let _ = fs::remove_dir_all(host);
}

/// A sidecar (an init container with restartPolicy Always) as kubelet runs it: the next
/// init container waits for its startupProbe, it runs beside the container and is
/// restarted when it exits, and it is stopped (SIGTERM) once the container is done; the
/// pod Succeeds on its container alone.
#[test]
fn a_sidecar_starts_before_the_next_init_container_restarts_and_stops_after_the_containers() {
    let t = T::new("podsidecar");
    let order = t.path("order").display().to_string();
    let flag = t.path("flag").display().to_string();
    let once = t.path("once").display().to_string();
    let side = format!(
        "echo side-start >> {order}; trap 'echo side-term >> {order}; exit 0' TERM; sleep 0.3; touch {flag}; \
         if [ ! -e {once} ]; then touch {once}; sleep 2; echo side-exit >> {order}; exit 1; fi; while :; do sleep 0.1; done"
    );
    let init2 = format!("test -e {flag} && echo init2 >> {order}");
    let main = format!("echo main >> {order}; sleep 3.5");
    let mut pod = t.pod(&[("side", &side), ("init2", &init2)], &[("main", &main)], json!({}));
    pod["spec"]["initContainers"][0]["restartPolicy"] = json!("Always");
    pod["spec"]["initContainers"][0]["startupProbe"] = json!({"exec": {"command": ["test", "-e", flag]}, "periodSeconds": 1});
    let out = t.run(&[pod]);
    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), fs::read_to_string(&order).unwrap_or_default());
    let got = fs::read_to_string(&order).unwrap();
    assert_eq!(got, "side-start\ninit2\nmain\nside-exit\nside-start\nside-term\n");
    let st = t.state();
    assert_eq!(st["phase"], "Succeeded", "{st}");
    assert_eq!(st["initContainerStatuses"][0]["restartCount"], 1, "{st}");
    t.rm_and_check();
}
