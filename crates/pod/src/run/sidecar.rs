//! The init phase, as kubelet runs it (Kubernetes 1.29+): init containers in order, each
//! to success; a sidecar (an init container with `restartPolicy: Always`) is started and
//! the next init container waits only until it has started (running, its startupProbe
//! passed). Sidecars then run beside the containers, restarted whenever they exit (with
//! back-off), until the pod's containers are done; then they are stopped (`Sup::ending`)
//! and do not count for the pod's phase.

use std::time::Instant;

use super::supervisor::Sup;
use super::PodError;

pub(super) enum InitPhase {
    /// An init container runs, or a sidecar has not started yet.
    Waiting,
    /// An init container failed for good (restartPolicy Never).
    Failed,
    /// Every init container succeeded and every sidecar started.
    Done,
}

impl Sup<'_> {
    pub(super) fn is_sidecar(&self, i: usize) -> bool {
        self.ctrs[i].init && self.spec(i).restart_policy.as_deref() == Some("Always")
    }

    /// Starts what is due in the init phase and says where it stands.
    pub(super) fn init_phase(&mut self) -> Result<InitPhase, PodError> {
        let n_init = self.st.init_container_statuses.len();
        for i in 0..n_init {
            let due = self.ctrs[i].child.is_none() && !self.ctrs[i].done && self.ctrs[i].next_start.is_some_and(|t| t <= Instant::now());
            if self.is_sidecar(i) {
                if self.status(i).started {
                    self.ctrs[i].ever_started = true;
                }
                if due {
                    self.start(i)?;
                }
                // Once started, a sidecar's restarts no longer hold up what follows it.
                if !self.ctrs[i].ever_started {
                    return Ok(InitPhase::Waiting);
                }
                continue;
            }
            if self.ctrs[i].done && self.ctrs[i].exit == 0 {
                continue;
            }
            if self.ctrs[i].done {
                return Ok(InitPhase::Failed);
            }
            if due {
                self.start(i)?;
            }
            return Ok(InitPhase::Waiting);
        }
        Ok(InitPhase::Done)
    }
}
