//! What the create/start/state/kill/delete commands need beyond the job: a process known by
//! pid (and its creation time, so a reused pid is never taken for it), resuming the first
//! thread of a payload that `create` left suspended, and the flags of the detached
//! supervisor.

use std::io;
use std::mem::zeroed;
use std::os::windows::io::{AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{ERROR_INVALID_PARAMETER, FILETIME, HANDLE, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::*;

use crate::check;

/// Creation flags of the supervisor `create` leaves behind: no console of its own (so no
/// console control event meant for the caller's console reaches it) and its own group.
pub const DETACHED_FLAGS: u32 = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;

/// Opens process `pid` to wait for it and read its times; `Ok(None)` when there is none.
pub fn open_process(pid: u32) -> io::Result<Option<OwnedHandle>> {
    // SAFETY: OpenProcess returns a new handle or null.
    let h = unsafe { OpenProcess(PROCESS_SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        let e = io::Error::last_os_error();
        // No such process (the pid is free): ERROR_INVALID_PARAMETER.
        return if e.raw_os_error() == Some(ERROR_INVALID_PARAMETER as i32) { Ok(None) } else { Err(e) };
    }
    // SAFETY: a handle just opened, owned from here.
    Ok(Some(unsafe { OwnedHandle::from_raw_handle(h as _) }))
}

/// The creation time (100 ns since 1601) of a process, and whether it still runs.
pub fn process_times(process: BorrowedHandle<'_>) -> io::Result<(u64, bool)> {
    let h = process.as_raw_handle() as HANDLE;
    // SAFETY: a valid process handle; the FILETIMEs are locals.
    unsafe {
        let (mut c, mut e, mut k, mut u): (FILETIME, FILETIME, FILETIME, FILETIME) = (zeroed(), zeroed(), zeroed(), zeroed());
        check(GetProcessTimes(h, &mut c, &mut e, &mut k, &mut u))?;
        // Not the exit code: a process may exit with STILL_ACTIVE's value.
        let alive = WaitForSingleObject(h, 0) == WAIT_TIMEOUT;
        Ok(((u64::from(c.dwHighDateTime) << 32) | u64::from(c.dwLowDateTime), alive))
    }
}

/// Resumes thread `tid` of process `pid` (checked: a thread id can be reused too).
pub fn resume_thread(pid: u32, tid: u32) -> io::Result<()> {
    // SAFETY: OpenThread returns a new handle or null; it is owned and closed below.
    unsafe {
        let t = OpenThread(THREAD_SUSPEND_RESUME | THREAD_QUERY_LIMITED_INFORMATION, 0, tid);
        if t.is_null() {
            return Err(io::Error::last_os_error());
        }
        let t = OwnedHandle::from_raw_handle(t as _);
        let raw = t.as_raw_handle() as HANDLE;
        if GetProcessIdOfThread(raw) != pid {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("thread {tid} is not a thread of process {pid}")));
        }
        if ResumeThread(raw) == u32::MAX {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
