//! The pod crate's logs, probes and hooks against real containers made by the binary:
//! exec probes and exec hooks go through `hostproc exec` into the container, the log
//! writer takes a real container's stdout and stderr.
//! (End-to-end through `pod run` / `pod logs` comes with the runner: see docs/pod.md.)

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::lc::{is_rfc3339, wait_until, Ctr};
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

// ---------------------------------------------------------------------------------------
// Through `pod run` and `pod logs` (the runner's supervisor wires logs, probes, hooks).
// ---------------------------------------------------------------------------------------

/// A pod of HostProcess containers (`[name, script]`) in a test root, run detached.
struct Pod {
    root: Root,
    dir: tempfile::TempDir,
    name: String,
}

/// A test that fails half-way leaves no pod running: its supervisor, containers and
/// volumes go with `pod rm --force` (a passing test has removed the pod already).
impl Drop for Pod {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = hostproc(&self.root, &["pod", "rm", "--force", &self.name]);
        }
    }
}

impl Pod {
    fn new(tag: &str) -> Pod {
        let name = unique_id(tag).to_ascii_lowercase();
        let dir = tempdir();
        fs::create_dir(dir.path().join("img")).unwrap();
        Pod { root: Root::new(), dir, name }
    }

    fn run(&self, containers: serde_json::Value, restart_policy: &str) {
        let spec = serde_json::json!({
            "hostNetwork": true,
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 2,
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"}},
            "containers": containers,
        });
        let mut spec = spec;
        for c in spec["containers"].as_array_mut().unwrap() {
            c["image"] = format!("dir:{}", self.dir.path().join("img").display()).into();
        }
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": self.name}, "spec": spec});
        let m = self.dir.path().join("pod.yaml");
        fs::write(&m, serde_json::to_string(&pod).unwrap()).unwrap();
        let out = hostproc(&self.root, &["pod", "run", "--detach", m.to_str().unwrap()]);
        assert!(out.ok(), "{}", out.dump());
    }

    fn logs(&self, args: &[&str]) -> Output {
        let mut a = vec!["pod", "logs", &self.name];
        a.extend_from_slice(args);
        hostproc(&self.root, &a)
    }

    fn status(&self) -> serde_json::Value {
        let out = hostproc(&self.root, &["pod", "ls", "-o", "json"]);
        assert!(out.ok(), "{}", out.dump());
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        v["items"].as_array().unwrap().iter().find(|p| p["metadata"]["name"] == self.name.as_str()).cloned().unwrap_or_default()
    }

    #[track_caller]
    fn wait(&self, what: &str, f: impl Fn(&serde_json::Value) -> bool) {
        if !wait_until(Duration::from_secs(40), || f(&self.status())) {
            panic!("{what} never came: {:#}", self.status());
        }
    }

    fn rm(&self) {
        let out = hostproc(&self.root, &["pod", "rm", "--force", &self.name]);
        assert!(out.ok(), "{}", out.dump());
        assert!(processes_in_cgroup(&self.name).is_empty());
    }
}

#[test]
fn pod_logs_shows_a_run_its_previous_run_tail_timestamps_and_follows_to_the_end() {
    let p = Pod::new("podlogs");
    let count = p.dir.path().join("count");
    // Run 0 fails at once; run 1 (OnFailure restarts it) ticks for ~2 s and ends well.
    let app = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); echo $((n+1)) > {c}; echo \"run $n\"; echo \"err $n\" >&2; \
         [ $n = 0 ] && exit 1; i=0; while [ $i -lt 7 ]; do echo \"tick $i\"; i=$((i+1)); sleep 0.3; done; printf bye",
        c = count.display()
    );
    p.run(serde_json::json!([
        {"name": "side", "command": ["/bin/sh", "-c", "echo side-out; exec sleep 60"]},
        {"name": "app", "command": ["/bin/sh", "-c", app]},
    ]), "OnFailure");
    let log1 = p.root.path().join("pods").join(format!("default_{}", p.name)).join("logs/app/1.log");
    assert!(wait_until(Duration::from_secs(30), || fs::read_to_string(&log1).is_ok_and(|s| s.contains("tick 0"))), "run 1 never logged");
    // -f from the middle of the run: everything of it, and the command ends with the run.
    let t0 = Instant::now();
    let f = p.logs(&["-c", "app", "-f"]);
    assert!(f.ok(), "{}", f.dump());
    // stdout and stderr are two pipes: their lines' order between them is the copiers'.
    let sorted = |s: &str| {
        let mut v: Vec<String> = s.split_inclusive('\n').map(str::to_string).collect();
        v.sort();
        v
    };
    let ticks: String = (0..7).map(|i| format!("tick {i}\n")).collect();
    // stdout's own lines keep their order (stderr's may come anywhere between them).
    let out_only: String = f.stdout.split_inclusive('\n').filter(|l| !l.starts_with("err ")).collect();
    assert_eq!(out_only, format!("run 1\n{ticks}bye"), "{}", f.dump());
    assert_eq!(sorted(&f.stdout), sorted(&format!("run 1\nerr 1\n{ticks}bye")));
    assert!(t0.elapsed() < Duration::from_secs(20));
    let prev = p.logs(&["-c", "app", "--previous"]);
    assert_eq!(sorted(&prev.stdout), ["err 0\n", "run 0\n"], "{}", prev.dump());
    let tail = p.logs(&["-c", "app", "--tail", "2"]);
    assert_eq!(tail.stdout, "tick 6\nbye");
    let ts = p.logs(&["-c", "app", "--timestamps", "--tail", "1"]);
    let (stamp, rest) = ts.stdout.split_once(' ').unwrap();
    assert!(is_rfc3339(stamp) && rest == "bye", "{}", ts.dump());
    // No -c: the first container, said on stderr.
    let side = p.logs(&[]);
    assert_eq!(side.stdout, "side-out\n");
    assert!(side.stderr.contains("Defaulted container \"side\" out of: side, app"), "{}", side.dump());
    let bad = p.logs(&["-c", "nope"]);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("container nope is not valid for pod") && bad.stderr.contains("choose one of: [side app]"), "{}", bad.dump());
    assert!(p.logs(&["-c", "side", "--previous"]).stderr.contains("previous terminated run"));
    p.rm();
}

#[test]
fn http_liveness_failure_restarts_tcp_readiness_flips_ready_post_start_failure_kills() {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicBool, Ordering};
    let p = Pod::new("podprobes");
    // /healthz answers 200 while `healthy`, then 500; the server ends with the test.
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = http.local_addr().unwrap().port();
    http.set_nonblocking(true).unwrap();
    let healthy = Arc::new(AtomicBool::new(true));
    let done = Arc::new(AtomicBool::new(false));
    let (h, d) = (healthy.clone(), done.clone());
    let server = std::thread::spawn(move || {
        while !d.load(Ordering::SeqCst) {
            match http.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut b = [0u8; 2048];
                    let _ = s.read(&mut b);
                    let code = if h.load(Ordering::SeqCst) { "200 OK" } else { "500 Internal Server Error" };
                    let _ = s.write_all(format!("HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let ready = TcpListener::bind("127.0.0.1:0").unwrap();
    let ready_port = ready.local_addr().unwrap().port();
    p.run(serde_json::json!([
        {"name": "web", "command": ["/bin/sh", "-c", "exec sleep 60"],
         "ports": [{"name": "health", "containerPort": http_port}],
         "livenessProbe": {"httpGet": {"path": "/healthz", "port": "health"}, "periodSeconds": 1, "failureThreshold": 2},
         "readinessProbe": {"tcpSocket": {"port": ready_port}, "periodSeconds": 1, "failureThreshold": 1}},
        {"name": "hooked", "command": ["/bin/sh", "-c", "exec sleep 60"],
         "lifecycle": {"postStart": {"exec": {"command": ["/bin/sh", "-c", "exit 7"]}}}},
    ]), "Always");
    let web = |s: &serde_json::Value| s["status"]["containerStatuses"][0].clone();
    p.wait("web ready", |s| web(s)["ready"] == true);
    drop(ready);
    p.wait("web not ready once its port closes", |s| web(s)["ready"] == false && web(s)["restartCount"] == 0);
    healthy.store(false, Ordering::SeqCst);
    p.wait("a liveness restart", |s| web(s)["restartCount"].as_u64().unwrap_or(0) >= 1);
    // postStart fails every time: the container is killed and restarted.
    p.wait("the failed postStart's restart", |s| s["status"]["containerStatuses"][1]["restartCount"].as_u64().unwrap_or(0) >= 1);
    done.store(true, Ordering::SeqCst);
    server.join().unwrap();
    p.rm();
}
