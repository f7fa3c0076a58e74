//! Starting, timing and reaping the processes the bench runs, and its own signals.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use hostproc_sys::{
    close_fd, exit_immediately, pidfd_open, set_signal_mask, try_wait, unshare_mount_namespace,
    Fork, SigSet,
};

use crate::Res;

static STOP: AtomicBool = AtomicBool::new(false);
extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT, SIGTERM and SIGHUP stop the run at the next step (check_stop), and the
/// clean-up still runs.
pub fn catch_signals() {
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGHUP, &sa, std::ptr::null_mut());
    }
}

pub fn check_stop() -> Res<()> {
    if STOP.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

pub fn cstr(s: impl AsRef<OsStr>) -> CString {
    CString::new(s.as_ref().as_bytes()).expect("no NUL")
}
pub fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

pub enum Pre {
    None,
    /// Write "0" to each of these cgroup.procs files before exec (join the cgroups).
    Join(Vec<CString>),
    /// crun's wrapper on hybrid hosts: a private mount namespace with the v2 mount hidden.
    CrunWrap,
    /// podman's wrapper (scenario 8): private mount and cgroup namespaces, each
    /// hierarchy's own cgroup bound over the hierarchy's mount (src, dst), so that
    /// podman's absolute cgroup paths (`/libpod_parent/...`) land beneath our own cgroup;
    /// then, on hybrid hosts, crun's wrapper (the v2 mount hidden).
    PodmanWrap(Vec<(CString, CString)>, bool),
}

pub struct Io {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
}

pub fn spawn(argv: &[String], io: &Io, pre: &Pre) -> Res<i32> {
    let cargs: Vec<CString> = argv.iter().map(cstr).collect();
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let root = c"/";
    let unified = c"/sys/fs/cgroup/unified";
    let tmpfs = c"tmpfs";
    let none = c"none";
    let no_signals = SigSet::empty();
    // SAFETY: the bench is single-threaded; the child only makes async-signal-safe calls
    // (hostproc_sys's are plain system calls) on data prepared before fork, then execs or
    // _exits.
    if let Fork::Parent(pid) = unsafe { hostproc_sys::fork() }.map_err(|e| format!("fork: {e}"))? {
        return Ok(pid);
    }
    let _ = hostproc_sys::dup2(io.stdin, 0);
    let _ = hostproc_sys::dup2(io.stdout, 1);
    let _ = hostproc_sys::dup2(io.stderr, 2);
    let _ = set_signal_mask(&no_signals);
    match pre {
        Pre::None => {}
        Pre::Join(paths) => {
            for p in paths {
                // SAFETY: a NUL-terminated path and a one-byte buffer.
                let fd = unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
                if fd < 0 || unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
                    exit_immediately(126);
                }
                close_fd(fd);
            }
        }
        Pre::PodmanWrap(binds, hide_v2) => {
            // SAFETY: NUL-terminated strings; null for the unused arguments.
            if unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWCGROUP) } != 0
                || unsafe { libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) } != 0
            {
                exit_immediately(125);
            }
            for (src, dst) in binds {
                // SAFETY: as above.
                if unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) } != 0 {
                    exit_immediately(125);
                }
            }
            // SAFETY: as above.
            if *hide_v2
                && unsafe { libc::mount(none.as_ptr(), unified.as_ptr(), tmpfs.as_ptr(), 0, std::ptr::null()) } != 0
            {
                exit_immediately(125);
            }
        }
        Pre::CrunWrap => {
            // SAFETY: NUL-terminated strings; null for the unused arguments.
            if unshare_mount_namespace().is_err()
                || unsafe {
                    libc::mount(
                        std::ptr::null(),
                        root.as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    )
                } != 0
                || unsafe {
                    libc::mount(
                        none.as_ptr(),
                        unified.as_ptr(),
                        tmpfs.as_ptr(),
                        0,
                        std::ptr::null(),
                    )
                } != 0
            {
                exit_immediately(125);
            }
        }
    }
    // SAFETY: a NUL-terminated argv of C strings that outlive the call; returns only on failure.
    unsafe { libc::execv(ptrs[0], ptrs.as_ptr()) };
    exit_immediately(127)
}

/// Waits for a child; returns (wait status, ru_maxrss in KiB).
pub fn wait_child(pid: i32) -> Res<(i32, i64)> {
    // Give up (and kill what we started) after 120 s: a hung command must not stall the run.
    if let Ok(pfd) = pidfd_open(pid) {
        let done = poll_in(&pfd, 120_000);
        drop(pfd);
        if !done {
            let _ = hostproc_sys::kill(pid, libc::SIGKILL);
            let _ = hostproc_sys::wait(pid);
            return Err(format!("pid {pid} did not finish in 120 s: killed"));
        }
    }
    let mut st = 0;
    // SAFETY: plain syscalls with valid out-pointers.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut st, 0, &mut ru) };
        if r == pid {
            return Ok((st, ru.ru_maxrss));
        }
        let e = errno();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(format!("wait4 {pid}: {e}"));
        }
    }
}

pub fn ok_status(st: i32) -> bool {
    libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0
}

/// Reaps exited children that were re-parented to us (we are a child subreaper). Only
/// called when no child we spawned ourselves is waiting to be waited for.
pub fn reap_orphans() {
    while let Ok(Some(_)) = try_wait(-1) {}
}

pub fn poll_in(fd: impl AsFd, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r > 0 {
            return true;
        }
        if r == 0 {
            return false;
        }
        if errno().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

/// The pid a runtime wrote to its `--pid-file`.
pub fn read_pid(path: &Path) -> Res<i32> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .trim()
        .parse()
        .map_err(|e| format!("pid file: {e}"))
}

/// The trimmed standard output of a shell command ("" if it cannot run).
pub fn sh(cmd: &str) -> String {
    std::process::Command::new("/bin/sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
