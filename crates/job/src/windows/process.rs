//! A container's init known by pid from another command (state, the supervisor): its pid
//! and creation time, so a pid Windows has given to another process since is never taken
//! for it.

use std::os::windows::io::{AsHandle, OwnedHandle};
use std::time::Duration;

use hostproc_winsys as win;

use super::JobError;

/// An open process (its handle keeps its pid from being reused while held).
#[derive(Debug)]
pub struct Process {
    pub pid: u32,
    /// Creation time, 100 ns units since 1601 (what the state records).
    pub created: u64,
    handle: OwnedHandle,
}

impl Process {
    /// Process `pid`, if it exists and (with `created`) is the one created then.
    pub fn open(pid: u32, created: Option<u64>) -> Result<Option<Process>, JobError> {
        let err = |source| JobError::Process { what: "open", pid, source };
        let Some(handle) = win::open_process(pid).map_err(err)? else { return Ok(None) };
        let (t, _) = win::process_times(handle.as_handle()).map_err(err)?;
        if created.is_some_and(|c| c != t) {
            return Ok(None);
        }
        Ok(Some(Process { pid, created: t, handle }))
    }

    /// Whether it still runs.
    pub fn alive(&self) -> bool {
        win::process_times(self.handle.as_handle()).is_ok_and(|(_, alive)| alive)
    }

    /// Waits up to `timeout` (None: forever); its exit code once it has exited.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Option<u32>, JobError> {
        win::wait_process(self.handle.as_handle(), timeout).map_err(|source| JobError::Process { what: "wait for", pid: self.pid, source })
    }
}
