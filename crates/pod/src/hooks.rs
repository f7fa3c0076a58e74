//! Lifecycle hooks, as kubelet runs them (pkg/kubelet/lifecycle/handlers.go and
//! kuberuntime's killContainer):
//!
//! * postStart runs right after the container starts, with no timeout; when it fails the
//!   container is killed (kubelet's FailedPostStartHook) and its restartPolicy applies.
//! * preStop runs before the stop signal, within the grace period: the signal then gets
//!   what is left of it, at least 2 seconds (kubelet's minimumGracePeriodInSeconds). Its
//!   failure is reported (FailedPreStopHook) and the stop goes on.
//!
//! Handlers: exec (in the container through the engine: a failure is a non-zero exit),
//! httpGet (a failure is no response at all: kubelet does not look at the status), sleep.
//! tcpSocket is refused (kubelet does not run it either).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};

use crate::probe::{self, Exec, ExecResult, HttpGet, ProbeError};

/// kubelet's minimumGracePeriodInSeconds: the stop signal's least time after preStop.
pub const MIN_GRACE_AFTER_PRESTOP: Duration = Duration::from_secs(2);
/// A postStart hook has no timeout in kubelet; this bounds an httpGet one all the same.
const HTTP_NO_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(transparent)]
    Spec(#[from] ProbeError),
    /// The handler ran and failed (the message kubelet's event would carry).
    #[error("{field} of container {container:?} failed: {detail}")]
    Failed { container: String, field: String, detail: String },
}

/// What a handler does, resolved from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    Exec(Vec<String>),
    Http(HttpGet),
    Sleep(Duration),
}

impl Handler {
    /// The handler at `field` (e.g. `spec.containers[0].lifecycle.postStart`) of `c`.
    pub fn of(h: &LifecycleHandler, c: &Container, field: &str) -> Result<Handler, HookError> {
        let spec = |detail: &str| HookError::Spec(ProbeError::Spec { field: field.to_string(), detail: detail.to_string() });
        if h.tcp_socket.is_some() {
            return Err(spec("tcpSocket is not supported as a lifecycle handler (kubelet does not run it); use exec, httpGet or sleep"));
        }
        let n = h.exec.is_some() as u8 + h.http_get.is_some() as u8 + h.sleep.is_some() as u8;
        if n != 1 {
            return Err(spec("give exactly one of exec, httpGet and sleep"));
        }
        if let Some(e) = &h.exec {
            return match probe::exec_action(e.command.as_deref(), &format!("{field}.exec"))? {
                probe::Action::Exec(c) => Ok(Handler::Exec(c)),
                _ => unreachable!("exec_action makes an exec"),
            };
        }
        if let Some(g) = &h.http_get {
            return Ok(Handler::Http(probe::http_action(g, c, &format!("{field}.httpGet"))?));
        }
        let s = h.sleep.as_ref().expect("one of the three").seconds;
        if s < 0 {
            return Err(HookError::Spec(ProbeError::Spec { field: format!("{field}.sleep.seconds"), detail: format!("{s}: give 0 or more") }));
        }
        Ok(Handler::Sleep(Duration::from_secs(s as u64)))
    }

    /// Runs the handler, within `timeout` when given. `Err` is why it failed.
    pub fn run(&self, exec: &dyn Exec, timeout: Option<Duration>) -> Result<(), String> {
        match self {
            Handler::Exec(cmd) => match exec.exec(cmd, timeout) {
                Ok(ExecResult { code: Some(0), .. }) => Ok(()),
                Ok(ExecResult { code: Some(c), output }) => Err(format!("command {cmd:?} exited with {c}: {}", String::from_utf8_lossy(&output).trim_end())),
                Ok(ExecResult { code: None, .. }) => Err(format!("command {cmd:?} was killed at the end of the grace period ({:?})", timeout.unwrap_or_default())),
                Err(e) => Err(e.to_string()),
            },
            Handler::Http(req) => probe::http::get(req, timeout.unwrap_or(HTTP_NO_TIMEOUT))
                .map(|_| ())
                .map_err(|e| format!("Get \"http://{}:{}{}\": {e}", req.host, req.port, req.path)),
            Handler::Sleep(d) => {
                std::thread::sleep(timeout.map_or(*d, |t| t.min(*d)));
                Ok(())
            }
        }
    }
}

/// The container's postStart and preStop handlers, checked when the pod is loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    pub post_start: Option<Handler>,
    pub pre_stop: Option<Handler>,
    container: String,
    field: String,
}

impl Hooks {
    /// `field` is the container's path (`spec.containers[0]`).
    pub fn of(c: &Container, field: &str) -> Result<Hooks, HookError> {
        let lc = c.lifecycle.as_ref();
        let get = |h: Option<&LifecycleHandler>, name: &str| h.map(|h| Handler::of(h, c, &format!("{field}.lifecycle.{name}"))).transpose();
        Ok(Hooks {
            post_start: get(lc.and_then(|l| l.post_start.as_ref()), "postStart")?,
            pre_stop: get(lc.and_then(|l| l.pre_stop.as_ref()), "preStop")?,
            container: c.name.clone(),
            field: field.to_string(),
        })
    }

    /// Runs postStart (nothing when there is none). On `Err` the caller kills the
    /// container (reason FailedPostStartHook) and applies the restart policy.
    pub fn post_start(&self, exec: &dyn Exec) -> Result<(), HookError> {
        let Some(h) = &self.post_start else { return Ok(()) };
        h.run(exec, None).map_err(|detail| HookError::Failed { container: self.container.clone(), field: format!("{}.lifecycle.postStart", self.field), detail })
    }

    /// Runs preStop within `grace`; returns what the stop signal gets of the grace (at
    /// least [`MIN_GRACE_AFTER_PRESTOP`] when a hook ran) and the hook's failure if any
    /// (FailedPreStopHook: reported, the stop goes on).
    pub fn pre_stop(&self, exec: &dyn Exec, grace: Duration) -> (Duration, Option<HookError>) {
        let Some(h) = &self.pre_stop else { return (grace, None) };
        let t0 = Instant::now();
        let err = h.run(exec, Some(grace)).err().map(|detail| HookError::Failed { container: self.container.clone(), field: format!("{}.lifecycle.preStop", self.field), detail });
        (grace.saturating_sub(t0.elapsed()).max(MIN_GRACE_AFTER_PRESTOP), err)
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::Mutex;

    use super::*;

    /// Records the commands; exits with `code`, or sleeps past the timeout when `None`.
    struct Fake(Option<i32>, Mutex<Vec<Vec<String>>>);
    impl Exec for Fake {
        fn exec(&self, cmd: &[String], timeout: Option<Duration>) -> Result<ExecResult, ProbeError> {
            self.1.lock().unwrap().push(cmd.to_vec());
            match self.0 {
                Some(c) => Ok(ExecResult { code: Some(c), output: b"said something\n".to_vec() }),
                None => {
                    std::thread::sleep(timeout.expect("a timeout"));
                    Ok(ExecResult { code: None, output: vec![] })
                }
            }
        }
    }

    fn container(lifecycle: serde_json::Value) -> Container {
        serde_json::from_value(serde_json::json!({"name": "app", "lifecycle": lifecycle})).unwrap()
    }

    #[test]
    fn post_start_exec_failure_names_the_hook_and_the_output() {
        let c = container(serde_json::json!({"postStart": {"exec": {"command": ["sh", "-c", "exit 3"]}}}));
        let h = Hooks::of(&c, "spec.containers[0]").unwrap();
        let f = Fake(Some(3), Mutex::new(vec![]));
        let e = h.post_start(&f).unwrap_err().to_string();
        assert_eq!(e, "spec.containers[0].lifecycle.postStart of container \"app\" failed: command [\"sh\", \"-c\", \"exit 3\"] exited with 3: said something");
        assert!(Hooks::of(&c, "x").unwrap().post_start(&Fake(Some(0), Mutex::new(vec![]))).is_ok());
        // No preStop: the whole grace is the signal's.
        assert_eq!(h.pre_stop(&f, Duration::from_secs(30)).0, Duration::from_secs(30));
    }

    #[test]
    fn pre_stop_counts_against_the_grace_at_least_two_seconds_left() {
        let c = container(serde_json::json!({"preStop": {"exec": {"command": ["slow"]}}}));
        let h = Hooks::of(&c, "spec.containers[0]").unwrap();
        let t0 = Instant::now();
        let (left, err) = h.pre_stop(&Fake(None, Mutex::new(vec![])), Duration::from_millis(300));
        assert!(t0.elapsed() >= Duration::from_millis(300) && t0.elapsed() < Duration::from_secs(2));
        assert_eq!(left, MIN_GRACE_AFTER_PRESTOP);
        assert!(err.unwrap().to_string().contains("lifecycle.preStop of container \"app\" failed: command [\"slow\"] was killed"));
        let c = container(serde_json::json!({"preStop": {"sleep": {"seconds": 1}}}));
        let h = Hooks::of(&c, "spec.containers[0]").unwrap();
        let (left, err) = h.pre_stop(&Fake(Some(0), Mutex::new(vec![])), Duration::from_secs(10));
        assert!(err.is_none() && left <= Duration::from_secs(9) && left > Duration::from_secs(8), "{left:?}");
    }

    #[test]
    fn http_hooks_fail_only_without_a_response() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b);
            let _ = s.write_all(b"HTTP/1.1 500 Oops\r\n\r\n");
        });
        let c = container(serde_json::json!({"postStart": {"httpGet": {"port": port, "path": "started"}}}));
        let h = Hooks::of(&c, "spec.containers[0]").unwrap();
        assert_eq!(h.post_start.as_ref().unwrap(), &Handler::Http(HttpGet { host: "127.0.0.1".into(), port, path: "/started".into(), headers: vec![] }));
        h.post_start(&Fake(Some(1), Mutex::new(vec![]))).unwrap();
        let e = h.post_start(&Fake(Some(1), Mutex::new(vec![]))).unwrap_err().to_string();
        assert!(e.contains("postStart") && e.contains("refused"), "{e}");
    }

    #[test]
    fn tcp_socket_and_bad_handlers_are_refused_naming_the_field() {
        let e = Hooks::of(&container(serde_json::json!({"preStop": {"tcpSocket": {"port": 80}}})), "spec.containers[1]").unwrap_err().to_string();
        assert!(e.starts_with("spec.containers[1].lifecycle.preStop: tcpSocket is not supported"), "{e}");
        let e = Hooks::of(&container(serde_json::json!({"postStart": {}})), "spec.containers[0]").unwrap_err().to_string();
        assert!(e.contains("exactly one"), "{e}");
        let e = Hooks::of(&container(serde_json::json!({"postStart": {"sleep": {"seconds": -1}}})), "spec.containers[0]").unwrap_err().to_string();
        assert!(e.starts_with("spec.containers[0].lifecycle.postStart.sleep.seconds: -1"), "{e}");
        assert_eq!(Hooks::of(&container(serde_json::json!(null)), "c").unwrap().post_start, None);
    }
}
