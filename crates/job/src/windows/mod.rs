//! The job on Windows: one named Job Object per container, as hcsshim's job containers.
//! Its processes are put in before they run (created suspended), so everything they start
//! stays in it; closing its last handle kills them all (KILL_ON_JOB_CLOSE), so a crashed
//! holder leaves nothing running. The Win32 calls are in hostproc-winsys.

mod error;
mod launch;
mod limits;
mod process;
pub mod run;
pub mod sandbox;

use std::os::windows::io::{AsHandle, OwnedHandle};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hostproc_winsys as win;
use serde::{Deserialize, Serialize};

pub use error::JobError;
pub use launch::{environment, expand_sandbox, make_command_line, quote_arg, resolve_command_line, resolve_executable, Child, Command};
pub use limits::{count_to_rate, shares_to_weight, Resources};
pub use process::Process;
/// Creation flags for a detached helper process (the supervisor of `create`).
pub use hostproc_winsys::DETACHED_FLAGS;

/// A container's job. Serializable (name and the limits it set), like the Linux job: a
/// job read back from the container's state opens the Job Object by name when first used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub name: String,
    /// What this job set (not read back from Windows).
    pub limits: Resources,
    #[serde(skip)]
    handle: OnceLock<Arc<OwnedHandle>>,
    /// The completion port: only the creator has it (a job reports to one port).
    #[serde(skip)]
    port: Option<Arc<OwnedHandle>>,
}

/// A snapshot of the job's usage (names as in the Linux job's Stats).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub pids: Vec<u32>,
    pub pids_current: Option<u64>,
    pub cpu_usage_ns: Option<u64>,
    pub cpu_user_ns: Option<u64>,
    pub cpu_kernel_ns: Option<u64>,
    pub memory_max_usage: Option<u64>,
    pub memory_limit: Option<u64>,
    pub io_read_bytes: Option<u64>,
    pub io_write_bytes: Option<u64>,
    pub io_read_ops: Option<u64>,
    pub io_write_ops: Option<u64>,
}

/// The Job Object name of container `id`.
pub fn job_name(id: &str) -> String {
    format!("hostproc_{id}")
}

impl Job {
    /// Creates the container's job with kill-on-close, its completion port and `res`.
    /// A failure closes the job again (nothing ran in it yet).
    pub fn create(id: &str, res: &Resources) -> Result<Job, JobError> {
        let name = job_name(id);
        let handle = win::create_job(&name).map_err(|source| {
            if source.raw_os_error() == Some(183) {
                // ERROR_ALREADY_EXISTS
                JobError::Exists { name: name.clone() }
            } else {
                JobError::Create { name: name.clone(), source }
            }
        })?;
        let port = win::associate_completion_port(handle.as_handle())
            .map_err(|source| JobError::Io { what: "associate a completion port", name: name.clone(), source })?;
        let mut job = Job { name, limits: Resources::default(), handle: OnceLock::from(Arc::new(handle)), port: Some(Arc::new(port)) };
        job.apply(res)?;
        Ok(job)
    }

    /// Opens the running job of container `id` (for kill, ps, stats from another command).
    pub fn open(id: &str, limits: Resources) -> Result<Job, JobError> {
        let name = job_name(id);
        let handle = win::open_job(&name).map_err(|source| JobError::Open { name: name.clone(), source })?;
        Ok(Job { name, limits, handle: OnceLock::from(Arc::new(handle)), port: None })
    }

    /// The job's handle, opening the Job Object by name the first time for a job read back
    /// from the state.
    fn handle(&self) -> Result<&OwnedHandle, JobError> {
        if let Some(h) = self.handle.get() {
            return Ok(h);
        }
        let h = win::open_job(&self.name).map_err(|source| JobError::Open { name: self.name.clone(), source })?;
        Ok(self.handle.get_or_init(|| Arc::new(h)))
    }

    /// Sets the limits of `res` (CPU rate, memory, IO) and keeps kill-on-close; records them.
    pub fn apply(&mut self, res: &Resources) -> Result<(), JobError> {
        let h = self.handle()?.as_handle();
        let name = &self.name;
        let rate = res.cpu_rate(win::processor_count())?;
        let io = res.io_rate()?;
        win::set_extended_limits(h, win::ExtendedLimits { kill_on_close: true, job_memory: res.memory_limit }).map_err(|source| {
            JobError::Limit { limit: "windows.resources.memory.limit", value: format!("{:?}", res.memory_limit), name: name.clone(), source }
        })?;
        if rate != win::CpuRate::Unlimited || self.limits.cpu_rate(win::processor_count()).is_ok_and(|r| r != win::CpuRate::Unlimited) {
            win::set_cpu_rate(h, rate)
                .map_err(|source| JobError::Limit { limit: "windows.resources.cpu", value: format!("{rate:?}"), name: name.clone(), source })?;
        }
        if let Some((iops, bps)) = io {
            win::set_io_rate(h, iops, bps).map_err(|source| JobError::Limit {
                limit: "windows.resources.storage",
                value: format!("iops {iops}, bps {bps}"),
                name: name.clone(),
                source,
            })?;
        }
        self.limits = res.clone();
        Ok(())
    }

    /// Starts a process in the job (see [`Command`]).
    pub fn spawn(&self, cmd: &Command<'_>) -> Result<Child, JobError> {
        launch::spawn(self.handle()?.as_handle(), &self.name, cmd, false)
    }

    /// Starts a process in the job and leaves it suspended (runc's `create`): it runs
    /// nothing until [`Job::resume`]; it is in the job already, so a terminate ends it.
    pub fn spawn_suspended(&self, cmd: &Command<'_>) -> Result<Child, JobError> {
        launch::spawn(self.handle()?.as_handle(), &self.name, cmd, true)
    }

    /// Lets the suspended process `pid` run from its first thread `thread_id` (runc's
    /// `start`, from another command): only a process of this job is resumed.
    pub fn resume(&self, pid: u32, thread_id: u32) -> Result<(), JobError> {
        let err = |source| JobError::Process { what: "resume", pid, source };
        if !self.pids()?.contains(&pid) {
            return Err(err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("it is not in the job object {}", self.name))));
        }
        win::resume_thread(pid, thread_id).map_err(err)
    }

    pub fn pids(&self) -> Result<Vec<u32>, JobError> {
        win::job_pids(self.handle()?.as_handle()).map_err(|source| JobError::Io { what: "list the processes", name: self.name.clone(), source })
    }

    fn active(&self) -> Result<u32, JobError> {
        win::job_active_processes(self.handle()?.as_handle())
            .map_err(|source| JobError::Io { what: "count the processes", name: self.name.clone(), source })
    }

    /// Signals every process the Windows way: SIGKILL terminates the job, SIGTERM sends
    /// CTRL_SHUTDOWN_EVENT, SIGINT CTRL_C_EVENT, SIGQUIT CTRL_BREAK_EVENT (each to every
    /// process of the job: a process that has exited meanwhile is skipped).
    pub fn signal_all(&self, sig: i32) -> Result<(), JobError> {
        let event = match sig {
            9 => return self.kill_all(),
            15 => win::CTRL_SHUTDOWN_EVENT,
            2 => win::CTRL_C_EVENT,
            3 => win::CTRL_BREAK_EVENT,
            _ => {
                return Err(JobError::Unsupported {
                    what: format!("signal {sig}"),
                    why: "Windows processes take console control events only: use SIGTERM (CTRL_SHUTDOWN), SIGINT (CTRL_C), SIGQUIT (CTRL_BREAK) or SIGKILL",
                })
            }
        };
        for pid in self.pids()? {
            if let Err(e) = win::send_ctrl_event(pid, event) {
                tracing::debug!(pid, error = %e, "console control event not delivered");
            }
        }
        Ok(())
    }

    /// Terminates every process of the job.
    pub fn kill_all(&self) -> Result<(), JobError> {
        win::terminate_job(self.handle()?.as_handle(), 1)
            .map_err(|source| JobError::Io { what: "terminate the processes", name: self.name.clone(), source })
    }

    /// Waits up to `timeout` for the job to have no process; whether it has none. The
    /// creator waits on the completion port's ACTIVE_PROCESS_ZERO; others poll the count.
    pub fn wait_empty(&self, timeout: Duration) -> Result<bool, JobError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.active()? == 0 {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            match &self.port {
                Some(port) => {
                    // Any message wakes the loop, which counts again: an ACTIVE_PROCESS_ZERO
                    // may be stale (from an earlier emptying that the count saw first).
                    win::next_job_message(port.as_handle(), Some(left))
                        .map_err(|source| JobError::Io { what: "read the completion port", name: self.name.clone(), source })?;
                }
                None => std::thread::sleep(left.min(Duration::from_millis(20))),
            }
        }
    }

    /// The graceful stop: CTRL_SHUTDOWN_EVENT to every process, up to `grace` for the job
    /// to empty, then terminate. Whether the processes ended within the grace period.
    pub fn stop(&self, grace: Duration) -> Result<bool, JobError> {
        self.signal_all(15)?;
        if self.wait_empty(grace)? {
            return Ok(true);
        }
        self.kill_all()?;
        self.wait_empty(Duration::from_secs(10))?;
        Ok(false)
    }

    /// A Job Object cannot be frozen through a documented API.
    pub fn freeze(&self, _on: bool) -> Result<bool, JobError> {
        Err(JobError::Unsupported { what: "pause".into(), why: "a Job Object has no documented freeze; hcsshim does not pause job containers either" })
    }

    /// Terminates what is left and waits for it to be gone. The Job Object itself goes when
    /// its last handle closes (this one when the `Job` is dropped), so there is nothing to
    /// remove; a job that is gone already (KILL_ON_JOB_CLOSE ended its processes with its
    /// last handle) is fine: `delete --force` after a crash.
    pub fn destroy(&self) -> Result<(), JobError> {
        match self.handle() {
            Err(JobError::Open { source, .. }) if source.raw_os_error() == Some(2) => return Ok(()),
            other => other?,
        };
        self.kill_all()?;
        self.wait_empty(Duration::from_secs(10))?;
        Ok(())
    }

    /// Usage from the job's accounting; the memory limit from its own record.
    pub fn stats(&self) -> Result<Stats, JobError> {
        let h = self.handle()?.as_handle();
        let err = |what| move |source| JobError::Io { what, name: self.name.clone(), source };
        let acc = win::job_accounting(h).map_err(err("read the accounting"))?;
        let (peak, _) = win::peak_memory(h).map_err(err("read the memory peak"))?;
        Ok(Stats {
            pids: self.pids()?,
            pids_current: Some(u64::from(acc.active_processes)),
            cpu_usage_ns: Some((acc.user_100ns + acc.kernel_100ns) * 100),
            cpu_user_ns: Some(acc.user_100ns * 100),
            cpu_kernel_ns: Some(acc.kernel_100ns * 100),
            memory_max_usage: Some(peak),
            memory_limit: self.limits.memory_limit,
            io_read_bytes: Some(acc.read_bytes),
            io_write_bytes: Some(acc.write_bytes),
            io_read_ops: Some(acc.read_ops),
            io_write_ops: Some(acc.write_ops),
        })
    }
}
