//! The pod crate's logs, probes and hooks against real containers made by the binary:
//! exec probes and exec hooks go through `hostproc exec` into the container, the log
//! writer takes a real container's stdout and stderr.
//! (End-to-end through `pod run` / `pod logs` comes with the runner: see docs/pod.md.)

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::lc::{wait_until, Ctr};
use common::*;
use hostproc_pod::hooks::Hooks;
use hostproc_pod::logs::{self, ReadOptions, Rotation};
use hostproc_pod::probe::{spawn, Action, EngineExec, Exec, Kind, Outcome, ProbeResult, Prober, Timings};
use k8s_openapi::api::core::v1::Container;

/// A running container whose payload prints `up` and sleeps.
fn sleeper<'a>(root: &'a Root, tag: &str) -> (Bundle, Ctr<'a>) {
    let mut b = Bundle::new();
    b.sh("echo up; exec sleep 120");
    let c = Ctr::new(root, &unique_id(tag));
    let out = c.run_detached(&b, &[]);
    assert!(out.ok(), "{}", out.dump());
    c.expect_out("up", Duration::from_secs(20));
    (b, c)
}

fn finish(c: &Ctr) {
    c.kill("KILL");
    assert!(c.wait_status("stopped", Duration::from_secs(20)));
    assert!(c.delete().ok());
}

#[test]
fn exec_probes_run_in_the_container_and_are_killed_at_their_timeout() {
    let root = Root::new();
    let (_b, c) = sleeper(&root, "probeexec");
    let exec = EngineExec::new(HOSTPROC, root.path(), &c.id);
    let sh = |s: &str| Action::Exec(vec!["/bin/sh".into(), "-c".into(), s.into()]);
    // In the container's job: its cgroup names the container.
    match sh("cat /proc/self/cgroup").run(&exec, Duration::from_secs(20)) {
        Outcome::Success(Some(out)) => assert!(out.contains(&c.id), "{out}"),
        o => panic!("{o:?}"),
    }
    match sh("echo broken >&2; exit 3").run(&exec, Duration::from_secs(20)) {
        Outcome::Failure(m) => assert!(m.contains("exited with 3: broken"), "{m}"),
        o => panic!("{o:?}"),
    }
    // timeoutSeconds: the command is killed, the container goes on with only its init.
    let t0 = Instant::now();
    match sh("exec sleep 60").run(&exec, Duration::from_millis(500)) {
        Outcome::Failure(m) => assert!(m.contains("timed out"), "{m}"),
        o => panic!("{o:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let pid = c.pid();
    assert!(wait_until(Duration::from_secs(10), || processes_in_cgroup(&c.id) == vec![pid]), "{:?}", processes_in_cgroup(&c.id));
    assert_eq!(c.status(), "running");
    finish(&c);
    // A container that is gone: the probe fails (no panic, no hang).
    match sh("true").run(&exec, Duration::from_secs(5)) {
        Outcome::Failure(m) => assert!(!m.is_empty()),
        o => panic!("{o:?}"),
    }
}

#[test]
fn a_liveness_worker_reports_failure_when_the_container_breaks() {
    let root = Root::new();
    let (b, c) = sleeper(&root, "probelive");
    let flag = b.rootfs().join("healthy");
    fs::write(&flag, "").unwrap();
    let exec: Arc<dyn Exec> = Arc::new(EngineExec::new(HOSTPROC, root.path(), &c.id));
    let check = Action::Exec(vec!["/bin/sh".into(), "-c".into(), format!("test -e {}", flag.display())]);
    let t = Timings { initial_delay: Duration::ZERO, period: Duration::from_millis(300), timeout: Duration::from_secs(10), success_threshold: 1, failure_threshold: 2 };
    let now = Instant::now();
    let probers = vec![Prober::new(Kind::Liveness, check.clone(), t, exec.clone(), now), Prober::new(Kind::Readiness, check, t, exec, now)];
    let (tx, rx) = std::sync::mpsc::channel();
    let h = spawn(c.id.clone(), probers, tx);
    let u = rx.recv_timeout(Duration::from_secs(20)).expect("readiness becomes Success");
    assert_eq!((u.kind, u.result), (Kind::Readiness, ProbeResult::Success));
    fs::remove_file(&flag).unwrap();
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while got.len() < 2 && Instant::now() < end {
        if let Ok(u) = rx.recv_timeout(Duration::from_millis(200)) {
            got.push((u.kind, u.result));
        }
    }
    h.stop();
    got.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(got, vec![(Kind::Liveness, ProbeResult::Failure), (Kind::Readiness, ProbeResult::Failure)]);
    finish(&c);
}

#[test]
fn exec_hooks_run_in_the_container() {
    let root = Root::new();
    let (_b, c) = sleeper(&root, "hookexec");
    let dir = tempdir();
    let mark = dir.path().join("started");
    let spec: Container = serde_json::from_value(serde_json::json!({
        "name": "app",
        "lifecycle": {
            "postStart": {"exec": {"command": ["/bin/sh", "-c", format!("cat /proc/self/cgroup > {}", mark.display())]}},
            "preStop": {"exec": {"command": ["/bin/sh", "-c", "echo no >&2; exit 2"]}}
        }
    }))
    .unwrap();
    let hooks = Hooks::of(&spec, "spec.containers[0]").unwrap();
    let exec = EngineExec::new(HOSTPROC, root.path(), &c.id);
    hooks.post_start(&exec).unwrap();
    assert!(fs::read_to_string(&mark).unwrap().contains(&c.id));
    let (left, err) = hooks.pre_stop(&exec, Duration::from_secs(30));
    let err = err.expect("preStop fails").to_string();
    assert!(err.contains("spec.containers[0].lifecycle.preStop") && err.contains("exited with 2: no"), "{err}");
    assert!(left > Duration::from_secs(20) && left < Duration::from_secs(30), "{left:?}");
    finish(&c);
}

#[test]
fn a_containers_stdout_and_stderr_in_the_cri_log() {
    let root = Root::new();
    let mut b = Bundle::new();
    // A line longer than 16 KiB, both streams, and a last line without a newline.
    b.sh("echo first; echo oops >&2; head -c 20000 /dev/zero | tr '\\0' x; echo; printf 'last words'");
    b.write();
    let id = unique_id("logs");
    let mut child = Command::new(HOSTPROC)
        .arg("--root")
        .arg(root.path())
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs_dir = tempdir();
    let path = logs::log_path(logs_dir.path(), "app", 0);
    let copiers = logs::attach(child.stdout.take(), child.stderr.take(), &path, Rotation::default()).unwrap();
    assert!(child.wait().unwrap().success());
    for h in copiers {
        h.join().unwrap().unwrap();
    }
    let raw = fs::read_to_string(&path).unwrap();
    let tags: Vec<(String, String)> = raw.lines().map(|l| {
        let p = logs::parse_line(l.as_bytes()).unwrap();
        (p.stream.to_string(), if p.partial { "P" } else { "F" }.to_string())
    }).collect();
    assert_eq!(tags.iter().filter(|t| t.0 == "stdout").map(|t| t.1.as_str()).collect::<Vec<_>>(), ["F", "P", "F", "P"], "{raw}");
    assert!(tags.contains(&("stderr".into(), "F".into())));
    let mut out = Vec::new();
    logs::read(&path, &ReadOptions::default(), &mut out, &|| false).unwrap();
    let out = String::from_utf8(out).unwrap();
    let x = "x".repeat(20000);
    assert!(out.contains("first\n") && out.contains("oops\n") && out.contains(&format!("{x}\n")) && out.ends_with("last words"), "{out}");
    assert!(processes_in_cgroup(&id).is_empty());
}
