//! Job Objects: create or open a named job, its limits, completion-port messages, the pid
//! list, accounting, terminate.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::windows::io::{AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::ptr::{null, null_mut};
use std::time::Duration;

use windows_sys::Win32::Foundation::{GetLastError, ERROR_ALREADY_EXISTS, HANDLE, INVALID_HANDLE_VALUE, WAIT_TIMEOUT};
use windows_sys::Win32::System::JobObjects::*;
use windows_sys::Win32::System::SystemServices::{
    JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS, JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO, JOB_OBJECT_MSG_EXIT_PROCESS, JOB_OBJECT_MSG_JOB_MEMORY_LIMIT,
    JOB_OBJECT_MSG_NEW_PROCESS,
};
use windows_sys::Win32::System::IO::{CreateIoCompletionPort, GetQueuedCompletionStatus, OVERLAPPED};
use windows_sys::Win32::System::Threading::{GetActiveProcessorCount, INFINITE};

use crate::{check, wide};

/// Every access right to a job (windows-sys has no constant for it).
const JOB_OBJECT_ALL_ACCESS: u32 = 0x001F_003F;

fn raw(h: BorrowedHandle<'_>) -> HANDLE {
    h.as_raw_handle() as HANDLE
}

/// Creates the job object `name` (in the session's namespace). A job of that name that
/// exists already is an error (`ERROR_ALREADY_EXISTS`): another container holds it.
pub fn create_job(name: &str) -> io::Result<OwnedHandle> {
    let name = wide(name)?;
    // SAFETY: a valid NUL-terminated name, default security.
    let h = unsafe { CreateJobObjectW(null(), name.as_ptr()) };
    if h.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `h` is a handle we own from here on.
    let owned = unsafe { OwnedHandle::from_raw_handle(h as _) };
    if unsafe { GetLastError() } == ERROR_ALREADY_EXISTS {
        return Err(io::Error::from_raw_os_error(ERROR_ALREADY_EXISTS as i32));
    }
    Ok(owned)
}

/// Opens the existing job `name` (it lives while any handle to it is open).
pub fn open_job(name: &str) -> io::Result<OwnedHandle> {
    let name = wide(name)?;
    // SAFETY: a valid NUL-terminated name.
    let h = unsafe { OpenJobObjectW(JOB_OBJECT_ALL_ACCESS, 0, name.as_ptr()) };
    if h.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a handle we own.
    Ok(unsafe { OwnedHandle::from_raw_handle(h as _) })
}

fn query<T>(job: BorrowedHandle<'_>, class: JOBOBJECTINFOCLASS) -> io::Result<T> {
    // SAFETY: T is the plain-data structure Windows fills for `class` (callers pair them).
    unsafe {
        let mut info: T = zeroed();
        check(QueryInformationJobObject(raw(job), class, (&raw mut info).cast(), size_of::<T>() as u32, null_mut()))?;
        Ok(info)
    }
}

fn set<T>(job: BorrowedHandle<'_>, class: JOBOBJECTINFOCLASS, info: &T) -> io::Result<()> {
    // SAFETY: as in `query`.
    unsafe { check(SetInformationJobObject(raw(job), class, (info as *const T).cast(), size_of::<T>() as u32)) }
}

/// The job-wide limits kept in the extended limit information.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtendedLimits {
    /// Kill every process of the job when its last handle closes.
    pub kill_on_close: bool,
    /// JOB_OBJECT_LIMIT_JOB_MEMORY: committed memory of all its processes, in bytes.
    pub job_memory: Option<u64>,
}

/// Sets the extended limits, keeping the job's other limit flags.
pub fn set_extended_limits(job: BorrowedHandle<'_>, limits: ExtendedLimits) -> io::Result<()> {
    let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = query(job, JobObjectExtendedLimitInformation)?;
    let flags = &mut info.BasicLimitInformation.LimitFlags;
    *flags &= !(JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_JOB_MEMORY);
    if limits.kill_on_close {
        *flags |= JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    }
    info.JobMemoryLimit = 0;
    if let Some(bytes) = limits.job_memory {
        *flags |= JOB_OBJECT_LIMIT_JOB_MEMORY;
        info.JobMemoryLimit = usize::try_from(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "memory limit too large"))?;
    }
    set(job, JobObjectExtendedLimitInformation, &info)
}

/// Peak committed memory of the job and of its largest process, in bytes.
pub fn peak_memory(job: BorrowedHandle<'_>) -> io::Result<(u64, u64)> {
    let info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = query(job, JobObjectExtendedLimitInformation)?;
    Ok((info.PeakJobMemoryUsed as u64, info.PeakProcessMemoryUsed as u64))
}

/// CPU rate control: a hard cap in 1/100 of a percent of the host's CPUs (1..=10000), or
/// a relative weight (1..=9). Windows allows one of them per job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuRate {
    Unlimited,
    HardCap(u32),
    Weight(u32),
}

pub fn set_cpu_rate(job: BorrowedHandle<'_>, rate: CpuRate) -> io::Result<()> {
    // SAFETY: plain data.
    let mut info: JOBOBJECT_CPU_RATE_CONTROL_INFORMATION = unsafe { zeroed() };
    match rate {
        CpuRate::Unlimited => info.ControlFlags = 0,
        CpuRate::HardCap(v) => {
            info.ControlFlags = JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP;
            info.Anonymous.CpuRate = v;
        }
        CpuRate::Weight(v) => {
            info.ControlFlags = JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED;
            info.Anonymous.Weight = v;
        }
    }
    set(job, JobObjectCpuRateControlInformation, &info)
}

/// IO rate control on every volume (0 = no limit for that field).
pub fn set_io_rate(job: BorrowedHandle<'_>, max_iops: i64, max_bandwidth: i64) -> io::Result<()> {
    // SAFETY: plain data; a null VolumeName means every volume.
    let mut info: JOBOBJECT_IO_RATE_CONTROL_INFORMATION = unsafe { zeroed() };
    info.ControlFlags = JOB_OBJECT_IO_RATE_CONTROL_ENABLE as u32;
    info.MaxIops = max_iops;
    info.MaxBandwidth = max_bandwidth;
    // SAFETY: a valid structure; zero means failure (GetLastError says why).
    let code = unsafe { SetIoRateControlInformationJobObject(raw(job), &info) };
    if code == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Creates a completion port and makes the job report its messages there. A job has at
/// most one port, so only the process that created the job gets them.
pub fn associate_completion_port(job: BorrowedHandle<'_>) -> io::Result<OwnedHandle> {
    // SAFETY: a new port, not tied to a file.
    let port = unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, null_mut(), 0, 1) };
    if port.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a handle we own.
    let port = unsafe { OwnedHandle::from_raw_handle(port as _) };
    let info = JOBOBJECT_ASSOCIATE_COMPLETION_PORT { CompletionKey: raw(job), CompletionPort: port.as_raw_handle() as HANDLE };
    set(job, JobObjectAssociateCompletionPortInformation, &info)?;
    Ok(port)
}

/// A message of the job's completion port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobMessage {
    /// Every process of the job has exited.
    ActiveProcessZero,
    NewProcess(u32),
    ExitProcess(u32),
    AbnormalExitProcess(u32),
    JobMemoryLimit(u32),
    Other(u32),
}

/// Waits up to `timeout` (None: forever) for the next message of the port.
pub fn next_job_message(port: BorrowedHandle<'_>, timeout: Option<Duration>) -> io::Result<Option<JobMessage>> {
    let ms = timeout.map_or(INFINITE, |t| u32::try_from(t.as_millis()).unwrap_or(INFINITE - 1));
    let (mut code, mut key, mut ov) = (0u32, 0usize, null_mut::<OVERLAPPED>());
    // SAFETY: out-parameters are valid; for job messages the OVERLAPPED pointer carries the pid.
    let ok = unsafe { GetQueuedCompletionStatus(raw(port), &mut code, &mut key, &mut ov, ms) };
    if ok == 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(WAIT_TIMEOUT as i32) { Ok(None) } else { Err(e) };
    }
    let pid = ov as usize as u32;
    Ok(Some(match code {
        JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO => JobMessage::ActiveProcessZero,
        JOB_OBJECT_MSG_NEW_PROCESS => JobMessage::NewProcess(pid),
        JOB_OBJECT_MSG_EXIT_PROCESS => JobMessage::ExitProcess(pid),
        JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS => JobMessage::AbnormalExitProcess(pid),
        JOB_OBJECT_MSG_JOB_MEMORY_LIMIT => JobMessage::JobMemoryLimit(pid),
        other => JobMessage::Other(other),
    }))
}

/// Puts a process into the job (before it runs: its children then inherit the job).
pub fn assign_process(job: BorrowedHandle<'_>, process: BorrowedHandle<'_>) -> io::Result<()> {
    // SAFETY: two valid handles.
    unsafe { check(AssignProcessToJobObject(raw(job), raw(process))) }
}

/// The ids of the job's processes.
pub fn job_pids(job: BorrowedHandle<'_>) -> io::Result<Vec<u32>> {
    // JOBOBJECT_BASIC_PROCESS_ID_LIST: two u32 counts, then a ULONG_PTR per process.
    let header = (2 * size_of::<u32>()).div_ceil(size_of::<usize>());
    let mut room = 64usize;
    loop {
        let mut buf = vec![0usize; header + room];
        let bytes = (buf.len() * size_of::<usize>()) as u32;
        // SAFETY: the buffer is `bytes` long and aligned for the structure.
        let ok = unsafe { QueryInformationJobObject(raw(job), JobObjectBasicProcessIdList, buf.as_mut_ptr().cast(), bytes, null_mut()) };
        // SAFETY: the header is within the buffer (zeroed if Windows wrote nothing).
        let list = unsafe { &*(buf.as_ptr() as *const JOBOBJECT_BASIC_PROCESS_ID_LIST) };
        let (assigned, listed) = (list.NumberOfAssignedProcesses as usize, (list.NumberOfProcessIdsInList as usize).min(room));
        if ok != 0 {
            return Ok(buf[header..header + listed].iter().map(|&p| p as u32).collect());
        }
        let e = io::Error::last_os_error();
        // 234 = ERROR_MORE_DATA: more processes than room; grow and ask again.
        if e.raw_os_error() != Some(234) || room > 1 << 20 {
            return Err(e);
        }
        room = (assigned + 16).max(room * 2);
    }
}

/// Ends every process of the job with `exit_code`.
pub fn terminate_job(job: BorrowedHandle<'_>, exit_code: u32) -> io::Result<()> {
    // SAFETY: a valid job handle.
    unsafe { check(TerminateJobObject(raw(job), exit_code)) }
}

/// The job's accounting (times in 100 ns units, IO in operations and bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accounting {
    pub user_100ns: u64,
    pub kernel_100ns: u64,
    pub total_processes: u32,
    pub active_processes: u32,
    pub read_ops: u64,
    pub write_ops: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
}

pub fn job_accounting(job: BorrowedHandle<'_>) -> io::Result<Accounting> {
    let info: JOBOBJECT_BASIC_AND_IO_ACCOUNTING_INFORMATION = query(job, JobObjectBasicAndIoAccountingInformation)?;
    let (b, io) = (info.BasicInfo, info.IoInfo);
    Ok(Accounting {
        user_100ns: b.TotalUserTime as u64,
        kernel_100ns: b.TotalKernelTime as u64,
        total_processes: b.TotalProcesses,
        active_processes: b.ActiveProcesses,
        read_ops: io.ReadOperationCount,
        write_ops: io.WriteOperationCount,
        read_bytes: io.ReadTransferCount,
        write_bytes: io.WriteTransferCount,
    })
}

/// Logical processors of the host, over every processor group.
pub fn processor_count() -> u32 {
    // SAFETY: no arguments besides the constant.
    unsafe { GetActiveProcessorCount(0xffff) }
}

/// How many processes of the job are alive (basic accounting).
pub fn job_active_processes(job: BorrowedHandle<'_>) -> io::Result<u32> {
    let info: JOBOBJECT_BASIC_ACCOUNTING_INFORMATION = query(job, JobObjectBasicAccountingInformation)?;
    Ok(info.ActiveProcesses)
}
