//! The probe worker: kubelet's `prober/worker.go` rules over time.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};

use super::{Action, Exec, Outcome, ProbeError};

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Liveness,
    Readiness,
    Startup,
}

impl Kind {
    /// The container's field: `livenessProbe`, ...
    pub fn field(self) -> &'static str {
        match self {
            Kind::Liveness => "livenessProbe",
            Kind::Readiness => "readinessProbe",
            Kind::Startup => "startupProbe",
        }
    }
}

/// A probe's result as kubelet's results manager holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Result {
    Unknown,
    Success,
    Failure,
}

/// The probe's timings, kubelet's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Timings {
    /// initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1, successThreshold 1,
    /// failureThreshold 3 unless set (values below the API's minimum raised to it).
    pub fn of(p: &Probe) -> Timings {
        let secs = |v: Option<i32>, d: i32, min: i32| Duration::from_secs(v.unwrap_or(d).max(min) as u64);
        Timings {
            initial_delay: secs(p.initial_delay_seconds, 0, 0),
            period: secs(p.period_seconds, 10, 1),
            timeout: secs(p.timeout_seconds, 1, 1),
            success_threshold: p.success_threshold.unwrap_or(1).max(1) as u32,
            failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }
}

/// One probe of one container run.
pub struct Prober {
    pub kind: Kind,
    pub action: Action,
    pub timings: Timings,
    exec: Arc<dyn Exec>,
    started_at: Instant,
    next: Instant,
    last: Option<bool>,
    run: u32,
    result: Result,
    on_hold: bool,
    message: Option<String>,
}

impl Prober {
    /// The container's `kind` probe, `None` when it has none. `field` is the container's
    /// path (`spec.containers[0]`) for errors; `started_at` the run's start.
    pub fn of(c: &Container, kind: Kind, field: &str, exec: Arc<dyn Exec>, started_at: Instant) -> std::result::Result<Option<Prober>, ProbeError> {
        let p = match kind {
            Kind::Liveness => c.liveness_probe.as_ref(),
            Kind::Readiness => c.readiness_probe.as_ref(),
            Kind::Startup => c.startup_probe.as_ref(),
        };
        let Some(p) = p else { return Ok(None) };
        let action = Action::from_probe(p, c, &format!("{field}.{}", kind.field()))?;
        Ok(Some(Prober::new(kind, action, Timings::of(p), exec, started_at)))
    }

    pub fn new(kind: Kind, action: Action, timings: Timings, exec: Arc<dyn Exec>, started_at: Instant) -> Prober {
        let mut p = Prober { kind, action, timings, exec, started_at, next: started_at, last: None, run: 0, result: Result::Unknown, on_hold: false, message: None };
        p.reset(started_at);
        p
    }

    /// A new run of the container (after a restart): counts and hold cleared, the result
    /// back to its initial value (readiness Failure, liveness Success, startup Unknown).
    pub fn reset(&mut self, started_at: Instant) {
        self.started_at = started_at;
        self.next = started_at;
        self.last = None;
        self.run = 0;
        self.on_hold = false;
        self.message = None;
        self.result = match self.kind {
            Kind::Readiness => Result::Failure,
            Kind::Liveness => Result::Success,
            Kind::Startup => Result::Unknown,
        };
    }

    /// When the next try is due: ticks every periodSeconds from the run's start.
    pub fn next_due(&self) -> Instant {
        self.next
    }

    /// Makes the next try due now (kubelet triggers readiness when startup succeeds).
    pub fn trigger(&mut self, now: Instant) {
        self.next = self.next.min(now);
    }

    pub fn result(&self) -> Result {
        self.result
    }

    /// The last try's message (the failure's reason, or a success's warning or output).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Stopped after a liveness or startup failure, until [`Prober::reset`].
    pub fn on_hold(&self) -> bool {
        self.on_hold
    }

    /// Runs the probe if due at `now` (`started`: the startup probe has succeeded, or
    /// there is none). Returns the new result when it changes. Liveness and readiness wait
    /// for `started`, startup stops once `started`; tries before initialDelaySeconds are
    /// skipped; the result changes after successThreshold / failureThreshold tries in a row;
    /// a liveness or startup failure holds the prober (the container is to be restarted).
    pub fn run_once(&mut self, now: Instant, started: bool) -> Option<Result> {
        if now < self.next {
            return None;
        }
        // The next tick after now.
        let period = self.timings.period;
        let since = now.saturating_duration_since(self.started_at);
        let ticks = since.as_nanos() / period.as_nanos() + 1;
        self.next = self.started_at + period * ticks as u32;
        if self.on_hold || since.as_secs() < self.timings.initial_delay.as_secs() {
            return None;
        }
        if started == (self.kind == Kind::Startup) {
            return None;
        }
        let outcome = self.action.run(&*self.exec, self.timings.timeout);
        let ok = outcome.is_success();
        self.message = match outcome {
            Outcome::Success(m) => m,
            Outcome::Failure(m) => Some(m),
        };
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        if (!ok && self.run < self.timings.failure_threshold) || (ok && self.run < self.timings.success_threshold) {
            return None;
        }
        let new = if ok { Result::Success } else { Result::Failure };
        if !ok && self.kind != Kind::Readiness {
            self.on_hold = true;
            self.run = 0;
        }
        let changed = new != self.result;
        self.result = new;
        // A liveness/startup failure always reports (the restart is due even if it was
        // reported before this run).
        (changed || self.on_hold).then_some(new)
    }
}

/// A change of a container's probe result, from a [`spawn`]ed worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUpdate {
    pub container: String,
    pub kind: Kind,
    pub result: Result,
    pub message: Option<String>,
}

/// A running worker; [`ProbeHandle::stop`] (or dropping it) ends it.
pub struct ProbeHandle {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ProbeHandle {
    /// Ends the worker and waits for it (at most one try's timeout).
    pub fn stop(mut self) {
        self.end();
    }

    fn end(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ProbeHandle {
    fn drop(&mut self) {
        self.end();
    }
}

/// Runs the probers of one container run on a thread, sending each change of a result to
/// `tx` as `container`'s. Liveness and readiness wait for the startup prober's success
/// (when there is one), which also triggers readiness at once.
pub fn spawn(container: String, mut probers: Vec<Prober>, tx: mpsc::Sender<ProbeUpdate>) -> ProbeHandle {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("probe-{container}"))
        .spawn(move || {
            if probers.is_empty() {
                return;
            }
            loop {
                let due = probers.iter().map(Prober::next_due).min().expect("not empty");
                let wait = due.saturating_duration_since(Instant::now());
                match stop_rx.recv_timeout(wait) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let now = Instant::now();
                let mut started = probers.iter().all(|p| p.kind != Kind::Startup || p.result() == Result::Success);
                for i in 0..probers.len() {
                    let Some(result) = probers[i].run_once(now, started) else { continue };
                    let p = &probers[i];
                    let update = ProbeUpdate { container: container.clone(), kind: p.kind, result, message: p.message().map(str::to_string) };
                    if tx.send(update).is_err() {
                        return;
                    }
                    if p.kind == Kind::Startup && result == Result::Success {
                        started = true;
                        for r in probers.iter_mut().filter(|r| r.kind != Kind::Startup) {
                            r.trigger(now);
                        }
                    }
                }
            }
        })
        .expect("a probe thread");
    ProbeHandle { stop: Some(stop_tx), thread: Some(thread) }
}
