//! Processes: created suspended, put into a job, then resumed, with only the stdio handles
//! inherited; the user's default environment block; path search; console control events.

use std::ffi::OsString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::windows::ffi::OsStringExt;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use windows_sys::Win32::Foundation::{CloseHandle, DuplicateHandle, DUPLICATE_SAME_ACCESS, HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::Security::TOKEN_QUERY;
use windows_sys::Win32::Storage::FileSystem::SearchPathW;
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::Environment::{CreateEnvironmentBlock, DestroyEnvironmentBlock};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::SystemInformation::{GetSystemDirectoryW, GetWindowsDirectoryW};
use windows_sys::Win32::System::Threading::*;

use crate::{check, wide};

pub use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT, CTRL_C_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT};

fn raw(h: BorrowedHandle<'_>) -> HANDLE {
    h.as_raw_handle() as HANDLE
}

/// What [`spawn_in_job`] starts.
pub struct Spawn<'a> {
    /// The resolved executable (no search is done here).
    pub application: &'a Path,
    /// The whole command line, already quoted, argv[0] included.
    pub command_line: &'a str,
    pub cwd: &'a Path,
    /// `NAME=value` entries; sorted and terminated here as Windows wants the block.
    pub env: &'a [String],
    /// stdin, stdout, stderr: the only handles the process inherits.
    pub stdio: [BorrowedHandle<'a>; 3],
    pub job: BorrowedHandle<'a>,
    /// Left suspended once in the job (`create`: `start` resumes its thread later).
    pub suspended: bool,
}

/// A process started by [`spawn_in_job`].
#[derive(Debug)]
pub struct Child {
    pub pid: u32,
    /// Its first thread (the one `start` resumes when it was left suspended).
    pub thread_id: u32,
    pub process: OwnedHandle,
}

/// An inheritable duplicate of `h` (the original stays as it is).
pub fn inheritable_copy(h: BorrowedHandle<'_>) -> io::Result<OwnedHandle> {
    let mut out: HANDLE = null_mut();
    // SAFETY: duplicating a valid handle within this process.
    unsafe {
        let me = GetCurrentProcess();
        check(DuplicateHandle(me, raw(h), me, &mut out, 0, 1, DUPLICATE_SAME_ACCESS))?;
        Ok(OwnedHandle::from_raw_handle(out as _))
    }
}

/// The environment block: `NAME=value\0` entries sorted by name (case-insensitively, as
/// Windows expects), then a final `\0`.
fn env_block(env: &[String]) -> io::Result<Vec<u16>> {
    let mut sorted: Vec<&String> = env.iter().collect();
    sorted.sort_by_key(|e| e.split('=').next().unwrap_or("").to_uppercase());
    let mut block = Vec::new();
    for e in sorted {
        block.extend(wide(e)?);
    }
    if block.is_empty() {
        block.push(0);
    }
    block.push(0);
    Ok(block)
}

/// Creates the process suspended, assigns it to the job and only then lets it run, so it
/// and every child it makes are in the job from their first instruction. On any failure
/// the half-made process is terminated.
pub fn spawn_in_job(s: &Spawn<'_>) -> io::Result<Child> {
    let stdio = [inheritable_copy(s.stdio[0])?, inheritable_copy(s.stdio[1])?, inheritable_copy(s.stdio[2])?];
    let mut handles: Vec<HANDLE> = stdio.iter().map(|h| h.as_raw_handle() as HANDLE).collect();
    handles.dedup();
    let app = wide(&s.application.to_string_lossy())?;
    let mut cmd = wide(s.command_line)?;
    let cwd = wide(&s.cwd.to_string_lossy())?;
    let env = env_block(s.env)?;
    // SAFETY: every pointer below points into a live local buffer; the attribute list is
    // initialized before use and deleted on every path.
    unsafe {
        let mut size = 0usize;
        InitializeProcThreadAttributeList(null_mut(), 1, 0, &mut size);
        let mut attrs = vec![0u8; size];
        let list = attrs.as_mut_ptr() as LPPROC_THREAD_ATTRIBUTE_LIST;
        check(InitializeProcThreadAttributeList(list, 1, 0, &mut size))?;
        let result = (|| {
            check(UpdateProcThreadAttribute(
                list,
                0,
                PROC_THREAD_ATTRIBUTE_HANDLE_LIST as usize,
                handles.as_ptr().cast(),
                handles.len() * size_of::<HANDLE>(),
                null_mut(),
                null(),
            ))?;
            let mut si: STARTUPINFOEXW = zeroed();
            si.StartupInfo.cb = size_of::<STARTUPINFOEXW>() as u32;
            si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
            si.StartupInfo.hStdInput = stdio[0].as_raw_handle() as HANDLE;
            si.StartupInfo.hStdOutput = stdio[1].as_raw_handle() as HANDLE;
            si.StartupInfo.hStdError = stdio[2].as_raw_handle() as HANDLE;
            si.lpAttributeList = list;
            let mut pi: PROCESS_INFORMATION = zeroed();
            let flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT;
            check(CreateProcessW(
                app.as_ptr(),
                cmd.as_mut_ptr(),
                null(),
                null(),
                1,
                flags,
                env.as_ptr().cast(),
                cwd.as_ptr(),
                &si.StartupInfo,
                &mut pi,
            ))?;
            let process = OwnedHandle::from_raw_handle(pi.hProcess as _);
            let thread = OwnedHandle::from_raw_handle(pi.hThread as _);
            let started = crate::assign_process(s.job, process.as_handle()).and_then(|()| {
                if s.suspended {
                    Ok(())
                } else if ResumeThread(thread.as_raw_handle() as HANDLE) == u32::MAX {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            if let Err(e) = started {
                TerminateProcess(process.as_raw_handle() as HANDLE, 1);
                return Err(e);
            }
            Ok(Child { pid: pi.dwProcessId, thread_id: pi.dwThreadId, process })
        })();
        DeleteProcThreadAttributeList(list);
        result
    }
}

/// Waits up to `timeout` for the process to end; its exit code if it did.
pub fn wait_process(process: BorrowedHandle<'_>, timeout: Option<Duration>) -> io::Result<Option<u32>> {
    let ms = timeout.map_or(INFINITE, |t| u32::try_from(t.as_millis()).unwrap_or(INFINITE - 1));
    // SAFETY: a valid process handle.
    match unsafe { WaitForSingleObject(raw(process), ms) } {
        WAIT_OBJECT_0 => {
            let mut code = 0u32;
            // SAFETY: as above.
            unsafe { check(GetExitCodeProcess(raw(process), &mut code))? };
            Ok(Some(code))
        }
        WAIT_TIMEOUT => Ok(None),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The default environment of this process's user, without this process's own variables
/// (CreateEnvironmentBlock with bInherit = FALSE), as `NAME=value` entries.
pub fn default_environment() -> io::Result<Vec<String>> {
    // SAFETY: the token and the block are released on every path; the block is a sequence
    // of NUL-terminated UTF-16 strings ending with an empty one.
    unsafe {
        let mut token: HANDLE = null_mut();
        check(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY | 0x0002 /* TOKEN_DUPLICATE */, &mut token))?;
        let mut block: *mut core::ffi::c_void = null_mut();
        let made = CreateEnvironmentBlock(&mut block, token, 0);
        CloseHandle(token);
        check(made)?;
        let mut out = Vec::new();
        let mut p = block as *const u16;
        loop {
            let mut n = 0;
            while *p.add(n) != 0 {
                n += 1;
            }
            if n == 0 {
                break;
            }
            out.push(OsString::from_wide(std::slice::from_raw_parts(p, n)).to_string_lossy().into_owned());
            p = p.add(n + 1);
        }
        DestroyEnvironmentBlock(block);
        Ok(out)
    }
}

/// SearchPathW over `dirs` (`;`-separated) for `name`, adding `.exe` where it has no
/// extension.
pub fn search_path(dirs: &str, name: &str) -> io::Result<Option<PathBuf>> {
    let (dirs, name, ext) = (wide(dirs)?, wide(name)?, wide(".exe")?);
    let mut buf = vec![0u16; 32768];
    // SAFETY: valid strings and a buffer of the given length.
    let n = unsafe { SearchPathW(dirs.as_ptr(), name.as_ptr(), ext.as_ptr(), buf.len() as u32, buf.as_mut_ptr(), null_mut()) };
    if n == 0 {
        let e = io::Error::last_os_error();
        // 2 = ERROR_FILE_NOT_FOUND, 3 = ERROR_PATH_NOT_FOUND: not there.
        return if matches!(e.raw_os_error(), Some(2 | 3)) { Ok(None) } else { Err(e) };
    }
    Ok(Some(PathBuf::from(OsString::from_wide(&buf[..n as usize]))))
}

/// The system directory (`C:\Windows\System32`) and the Windows directory (`C:\Windows`).
pub fn system_directories() -> io::Result<(PathBuf, PathBuf)> {
    let mut a = vec![0u16; 1024];
    let mut b = vec![0u16; 1024];
    // SAFETY: buffers of the given lengths.
    let (n, m) = unsafe { (GetSystemDirectoryW(a.as_mut_ptr(), 1024), GetWindowsDirectoryW(b.as_mut_ptr(), 1024)) };
    if n == 0 || m == 0 {
        return Err(io::Error::last_os_error());
    }
    a.truncate(n as usize);
    b.truncate(m as usize);
    Ok((PathBuf::from(OsString::from_wide(&a)), PathBuf::from(OsString::from_wide(&b))))
}

/// Delivers a console control event (CTRL_SHUTDOWN_EVENT, ...) to process `pid` by running
/// kernel32's CtrlRoutine in it, as hcsshim does: GenerateConsoleCtrlEvent only sends
/// CTRL_C and CTRL_BREAK, and only to a console process group. kernel32 sits at the same
/// address in every process of a boot, so our CtrlRoutine address is valid there.
pub fn send_ctrl_event(pid: u32, event: u32) -> io::Result<()> {
    let k32 = wide("kernel32.dll")?;
    // SAFETY: the routine is `DWORD WINAPI CtrlRoutine(LPVOID)`, called with the event as
    // its argument; the handles are closed on every path.
    unsafe {
        let module = GetModuleHandleW(k32.as_ptr());
        let routine = GetProcAddress(module, c"CtrlRoutine".as_ptr().cast())
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "kernel32 has no CtrlRoutine"))?;
        let access = PROCESS_CREATE_THREAD | PROCESS_QUERY_INFORMATION | PROCESS_VM_OPERATION | PROCESS_VM_WRITE | PROCESS_VM_READ;
        let process = OpenProcess(access, 0, pid);
        if process.is_null() {
            return Err(io::Error::last_os_error());
        }
        let process = OwnedHandle::from_raw_handle(process as _);
        let start: LPTHREAD_START_ROUTINE = Some(std::mem::transmute::<unsafe extern "system" fn() -> isize, unsafe extern "system" fn(*mut core::ffi::c_void) -> u32>(routine));
        let thread = CreateRemoteThread(process.as_raw_handle() as HANDLE, null(), 0, start, event as usize as *const _, 0, null_mut());
        if thread.is_null() {
            return Err(io::Error::last_os_error());
        }
        CloseHandle(thread);
        Ok(())
    }
}

static EXIT_BASE: AtomicU32 = AtomicU32::new(0);

extern "system" fn exit_on_event(event: u32) -> windows_sys::core::BOOL {
    std::process::exit((EXIT_BASE.load(Ordering::SeqCst) + event) as i32)
}

/// Makes this process exit with `base + event` on any console control event: lets a test
/// child report which event reached it.
pub fn exit_on_ctrl_event(base: u32) -> io::Result<()> {
    EXIT_BASE.store(base, Ordering::SeqCst);
    // SAFETY: a valid handler for the process's lifetime.
    unsafe { check(SetConsoleCtrlHandler(Some(exit_on_event), 1)) }
}

extern "system" fn ignore_event(_event: u32) -> windows_sys::core::BOOL {
    1
}

/// Makes this process ignore every console control event: lets a test child stand for a
/// payload that does not stop when asked.
pub fn ignore_ctrl_events() -> io::Result<()> {
    // SAFETY: a valid handler for the process's lifetime.
    unsafe { check(SetConsoleCtrlHandler(Some(ignore_event), 1)) }
}

/// Whether `value` names an open handle in this process: lets a test child tell which
/// handles it inherited.
pub fn handle_is_open(value: usize) -> bool {
    let mut flags = 0u32;
    // SAFETY: GetHandleInformation only reads the handle table; an invalid value fails.
    unsafe { windows_sys::Win32::Foundation::GetHandleInformation(value as HANDLE, &mut flags) != 0 }
}
