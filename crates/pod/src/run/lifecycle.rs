//! The supervisor's probes and hooks (the `probe` and `hooks` modules run them): probe
//! workers per container run, postStart after the engine runs it, preStop at a stop.

use std::path::Path;
use std::time::{Duration, Instant};

use hostproc_sys as sig;

use super::state::start_time;
use super::supervisor::Sup;
use super::PodError;

impl Sup<'_> {
    /// The container's probes (liveness, readiness, startup) on a thread, and its
    /// postStart hook on another (a failure kills the container, as kubelet does).
    pub(super) fn start_probes_and_hooks(&mut self, i: usize, id: &str, runner: i32) {
        let exec: std::sync::Arc<dyn crate::probe::Exec> = std::sync::Arc::new(crate::probe::EngineExec::new("/proc/self/exe", self.root, id));
        let c = self.spec(i).clone();
        let field = self.ctrs[i].field.clone();
        let now = Instant::now();
        let mut probers = Vec::new();
        for kind in [crate::probe::Kind::Startup, crate::probe::Kind::Liveness, crate::probe::Kind::Readiness] {
            match crate::probe::Prober::of(&c, kind, &field, exec.clone(), now) {
                Ok(Some(p)) => probers.push(p),
                Ok(None) => {}
                Err(e) => tracing::warn!("{e}"),
            }
        }
        if !probers.is_empty() {
            self.ctrs[i].probes = Some(crate::probe::spawn(c.name.clone(), probers, self.probe_tx.clone()));
        }
        if self.ctrs[i].hooks.post_start.is_some() {
            let hooks = self.ctrs[i].hooks.clone();
            let (root, id, start) = (self.root.to_path_buf(), id.to_string(), start_time(runner).unwrap_or(0));
            std::thread::spawn(move || {
                wait_engine_running(&root, &id);
                if let Err(e) = hooks.post_start(&*exec) {
                    tracing::warn!("FailedPostStartHook: {e}");
                    if super::state::alive(runner, start) {
                        let _ = sig::kill(runner, sig::SIGTERM);
                    }
                }
            });
        }
    }

    /// A probe result changed: readiness sets `ready`; a liveness or startup failure
    /// stops the container (restartPolicy then applies).
    pub(super) fn probe_update(&mut self, u: crate::probe::ProbeUpdate) -> Result<(), PodError> {
        use crate::probe::{Kind, ProbeResult};
        let Some(i) = (0..self.ctrs.len()).find(|&i| self.spec(i).name == u.container && self.ctrs[i].child.is_some()) else { return Ok(()) };
        match (u.kind, u.result) {
            (Kind::Readiness, r) => self.status(i).ready = r == ProbeResult::Success,
            (_, ProbeResult::Failure) => {
                tracing::info!("container {}: {} failed ({}): restarting it", u.container, u.kind.field(), u.message.unwrap_or_default());
                if let Some(ch) = &self.ctrs[i].child {
                    let _ = sig::kill(ch.id() as i32, sig::SIGTERM);
                }
            }
            (Kind::Startup, ProbeResult::Success) => self.status(i).started = true,
            _ => {}
        }
        self.st.save(self.dir)
    }

    /// The stop: each running container's preStop hook (on a thread of its own, within
    /// the grace), then SIGTERM to its runner (the engine stops the job: SIGTERM, grace,
    /// kill). `again`: a second request, SIGTERM at once (the engine then kills).
    pub(super) fn stop_all(&mut self, again: bool) {
        self.stop_at.get_or_insert_with(Instant::now);
        let grace = Duration::from_secs(self.input.spec.termination_grace_period_seconds.unwrap_or(30).clamp(0, 86_400) as u64);
        for c in &mut self.ctrs {
            drop(c.probes.take());
            let Some(ch) = &c.child else { continue };
            let runner = ch.id() as i32;
            let id = self.st.all().find(|s| s.hostproc.runner.is_some_and(|r| r.0 == runner)).and_then(|s| s.hostproc.engine_ids.last().cloned());
            match (c.hooks.pre_stop.is_some() && !again, id) {
                (true, Some(id)) => {
                    let hooks = c.hooks.clone();
                    let exec = crate::probe::EngineExec::new("/proc/self/exe", self.root, id);
                    let start = start_time(runner).unwrap_or(0);
                    std::thread::spawn(move || {
                        let (rest, err) = hooks.pre_stop(&exec, grace);
                        if let Some(e) = err {
                            tracing::warn!("FailedPreStopHook: {e}");
                        }
                        if super::state::alive(runner, start) {
                            let _ = sig::kill(runner, sig::SIGTERM);
                        }
                        // The grace counts the hook's time, as kubelet's: what is left of
                        // it (at least 2 s), then a second SIGTERM (the engine kills).
                        let end = Instant::now() + rest;
                        while Instant::now() < end && super::state::alive(runner, start) {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        if super::state::alive(runner, start) {
                            let _ = sig::kill(runner, sig::SIGTERM);
                        }
                    });
                }
                _ => {
                    let _ = sig::kill(runner, sig::SIGTERM);
                }
            }
        }
    }
}

/// Waits (up to 10 s) until the engine has the container running, so that an exec can
/// join it.
pub(super) fn wait_engine_running(root: &Path, id: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if hostproc_container::load_state(root, id).is_ok_and(|s| s.live_status() == hostproc_container::Status::Running) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

