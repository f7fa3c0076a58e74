use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};

use super::*;

/// A server on 127.0.0.1 answering each request with `respond(path)` (a whole response
/// head) and recording what it got; it serves `n` connections and ends.
fn server(n: usize, respond: impl Fn(&str) -> String + Send + 'static) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().take(n) {
            let mut c = conn.unwrap();
            let mut head = String::new();
            let mut r = BufReader::new(c.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            s2.lock().unwrap().push(head);
            let _ = c.write_all(respond(&path).as_bytes());
        }
    });
    (port, seen)
}

fn container(json: serde_json::Value) -> Container {
    serde_json::from_value(json).unwrap()
}

fn probe(json: serde_json::Value) -> Probe {
    serde_json::from_value(json).unwrap()
}

struct NoExec;
impl Exec for NoExec {
    fn exec(&self, _: &[String], _: Option<Duration>) -> std::result::Result<ExecResult, ProbeError> {
        panic!("no exec expected")
    }
}

#[test]
fn http_get_status_headers_named_port_and_same_host_redirects() {
    let (port, seen) = server(3, |path| match path {
        "/healthz" => "HTTP/1.1 302 Found\r\nLocation: /ok?x=1\r\nContent-Length: 0\r\n\r\n".into(),
        "/ok?x=1" => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".into(),
        _ => "HTTP/1.1 500 Internal Server Error\r\n\r\n".into(),
    });
    let c = container(serde_json::json!({"name": "c", "ports": [{"name": "http", "containerPort": port}]}));
    let p = probe(serde_json::json!({"httpGet": {"path": "/healthz", "port": "http", "httpHeaders": [{"name": "X-Probe", "value": "yes"}]}}));
    let a = Action::from_probe(&p, &c, "spec.containers[0].livenessProbe").unwrap();
    assert_eq!(a.run(&NoExec, Duration::from_secs(5)), Outcome::Success(None));
    let p = probe(serde_json::json!({"httpGet": {"path": "/bad", "port": port}}));
    let a = Action::from_probe(&p, &c, "x").unwrap();
    assert_eq!(a.run(&NoExec, Duration::from_secs(5)), Outcome::Failure("HTTP probe failed with statuscode: 500".into()));
    let seen = seen.lock().unwrap();
    assert!(seen[0].starts_with("GET /healthz HTTP/1.1\r\n") && seen[0].contains("X-Probe: yes\r\n") && seen[0].contains("User-Agent: kube-probe/"), "{}", seen[0]);
    assert!(seen[0].contains(&format!("Host: 127.0.0.1:{port}\r\n")));
    assert!(seen[1].starts_with("GET /ok?x=1 "));
}

#[test]
fn http_redirect_to_another_host_is_a_success_with_a_warning() {
    let (port, _) = server(1, |_| "HTTP/1.1 301 Moved\r\nLocation: http://example.invalid/\r\n\r\n".into());
    let a = Action::Http(HttpGet { host: "127.0.0.1".into(), port, path: "/".into(), headers: vec![] });
    match a.run(&NoExec, Duration::from_secs(5)) {
        Outcome::Success(Some(w)) => assert!(w.contains("Probe terminated redirects"), "{w}"),
        o => panic!("{o:?}"),
    }
}

#[test]
fn http_timeout_and_refused_connections_fail() {
    // Accepts and never answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let a = Action::Http(HttpGet { host: "127.0.0.1".into(), port, path: "/".into(), headers: vec![] });
    let t0 = Instant::now();
    let o = a.run(&NoExec, Duration::from_millis(300));
    assert!(matches!(&o, Outcome::Failure(m) if m.contains("Client.Timeout")), "{o:?}");
    assert!(t0.elapsed() < Duration::from_secs(3));
    drop(l);
    let tcp = Action::Tcp { host: "127.0.0.1".into(), port };
    assert!(matches!(tcp.run(&NoExec, Duration::from_secs(1)), Outcome::Failure(m) if m.contains("refused")));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = Action::Tcp { host: String::new() + "127.0.0.1", port: l.local_addr().unwrap().port() };
    assert!(tcp.run(&NoExec, Duration::from_secs(1)).is_success());
}

#[test]
fn spec_errors_name_the_field() {
    let c = container(serde_json::json!({"name": "c"}));
    let err = |p: serde_json::Value| Action::from_probe(&probe(p), &c, "spec.containers[0].readinessProbe").unwrap_err().to_string();
    let e = err(serde_json::json!({"httpGet": {"port": "web"}}));
    assert!(e.starts_with("spec.containers[0].readinessProbe.httpGet.port: ") && e.contains("\"web\""), "{e}");
    let e = err(serde_json::json!({"httpGet": {"port": 80, "scheme": "HTTPS"}}));
    assert!(e.contains("httpGet.scheme") && e.contains("HTTPS is not supported"), "{e}");
    assert!(err(serde_json::json!({"grpc": {"port": 80}})).contains(".grpc: gRPC"));
    assert!(err(serde_json::json!({"exec": {"command": []}})).contains("exec.command"));
    assert!(err(serde_json::json!({"tcpSocket": {"port": 0}})).contains("tcpSocket.port: 0 is not a port"));
    assert!(err(serde_json::json!({"periodSeconds": 1})).contains("exactly one"));
    let a = Action::from_probe(&probe(serde_json::json!({"tcpSocket": {"port": "8080", "host": "::1"}})), &c, "x").unwrap();
    assert_eq!(a, Action::Tcp { host: "::1".into(), port: 8080 });
}

/// Exits with the codes given, one a call (the last repeated).
struct Codes(Mutex<Vec<i32>>, AtomicUsize);
impl Exec for Codes {
    fn exec(&self, _: &[String], _: Option<Duration>) -> std::result::Result<ExecResult, ProbeError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        let mut v = self.0.lock().unwrap();
        let c = if v.len() > 1 { v.remove(0) } else { v[0] };
        Ok(ExecResult { code: Some(c), output: vec![] })
    }
}

fn timings(initial: u64, period_ms: u64, success: u32, failure: u32) -> Timings {
    Timings { initial_delay: Duration::from_secs(initial), period: Duration::from_millis(period_ms), timeout: Duration::from_secs(1), success_threshold: success, failure_threshold: failure }
}

#[test]
fn kubelet_worker_rules_thresholds_hold_and_initial_delay() {
    let exec = Arc::new(Codes(Mutex::new(vec![1, 1, 0, 0, 1, 1, 1]), AtomicUsize::new(0)));
    let t0 = Instant::now();
    let cmd = Action::Exec(vec!["check".into()]);
    // Readiness: starts Failure, Success after 2 successes, Failure after 3 failures.
    let mut r = Prober::new(Kind::Readiness, cmd.clone(), timings(0, 1000, 2, 3), exec.clone(), t0);
    assert_eq!(r.result(), ProbeResult::Failure);
    let mut changes = Vec::new();
    for k in 0..7u32 {
        let now = t0 + Duration::from_millis(1000) * k;
        assert_eq!(r.next_due(), now);
        changes.push(r.run_once(now, true));
        assert!(r.run_once(now, true).is_none(), "not due twice in a tick");
    }
    assert_eq!(changes, vec![None, None, None, Some(ProbeResult::Success), None, None, Some(ProbeResult::Failure)]);
    // Liveness waits for startup, then holds after its failure until reset.
    let exec = Arc::new(Codes(Mutex::new(vec![1]), AtomicUsize::new(0)));
    let mut l = Prober::new(Kind::Liveness, cmd.clone(), timings(0, 1000, 1, 2), exec.clone(), t0);
    assert_eq!(l.result(), ProbeResult::Success);
    assert_eq!(l.run_once(t0, false), None);
    assert_eq!(exec.1.load(Ordering::SeqCst), 0, "no liveness try before startup");
    assert_eq!(l.run_once(t0 + Duration::from_secs(1), true), None);
    assert_eq!(l.run_once(t0 + Duration::from_secs(2), true), Some(ProbeResult::Failure));
    assert!(l.on_hold());
    assert_eq!(l.run_once(t0 + Duration::from_secs(3), true), None);
    assert_eq!(exec.1.load(Ordering::SeqCst), 2);
    let t1 = t0 + Duration::from_secs(10);
    l.reset(t1);
    assert!(!l.on_hold() && l.result() == ProbeResult::Success && l.next_due() == t1);
    // initialDelaySeconds: ticks before it are skipped.
    let exec = Arc::new(Codes(Mutex::new(vec![0]), AtomicUsize::new(0)));
    let mut s = Prober::new(Kind::Startup, cmd, timings(2, 1000, 1, 3), exec.clone(), t0);
    assert_eq!(s.result(), ProbeResult::Unknown);
    assert_eq!(s.run_once(t0, false), None);
    assert_eq!(s.run_once(t0 + Duration::from_secs(1), false), None);
    assert_eq!(exec.1.load(Ordering::SeqCst), 0);
    assert_eq!(s.run_once(t0 + Duration::from_secs(2), false), Some(ProbeResult::Success));
    // Once started, startup is not run again.
    assert_eq!(s.run_once(t0 + Duration::from_secs(3), true), None);
    assert_eq!(exec.1.load(Ordering::SeqCst), 1);
}

#[test]
fn timings_defaults_are_kubelets() {
    let t = Timings::of(&Probe::default());
    assert_eq!(t, Timings { initial_delay: Duration::ZERO, period: Duration::from_secs(10), timeout: Duration::from_secs(1), success_threshold: 1, failure_threshold: 3 });
}

#[test]
fn a_spawned_worker_reports_startup_then_readiness_and_liveness_failure() {
    let (port, _) = server(1000, |_| "HTTP/1.1 200 OK\r\n\r\n".into());
    let c = container(serde_json::json!({
        "name": "web",
        "startupProbe": {"httpGet": {"port": port}, "periodSeconds": 1},
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
        "livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2}
    }));
    let exec: Arc<dyn Exec> = Arc::new(Codes(Mutex::new(vec![1]), AtomicUsize::new(0)));
    let now = Instant::now();
    let probers: Vec<Prober> = [Kind::Startup, Kind::Readiness, Kind::Liveness]
        .into_iter()
        .map(|k| Prober::of(&c, k, "spec.containers[0]", exec.clone(), now).unwrap().unwrap())
        .collect();
    let (tx, rx) = mpsc::channel();
    let h = spawn("web".into(), probers, tx);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 3 && Instant::now() < deadline {
        if let Ok(u) = rx.recv_timeout(Duration::from_millis(100)) {
            got.push((u.kind, u.result, now.elapsed().as_millis() / 500));
        }
    }
    h.stop();
    // Startup at once, readiness triggered with it, liveness fails twice (t=0 and t=1s).
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].0, Kind::Startup);
    assert_eq!(got[1].0, Kind::Readiness);
    assert_eq!((got[2].0, got[2].1), (Kind::Liveness, ProbeResult::Failure));
    assert_eq!(got[2].2, 2, "liveness fails at the second tick (1 s): {got:?}");
}
