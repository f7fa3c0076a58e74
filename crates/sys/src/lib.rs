//! The only place in hostproc with `unsafe` code: thin, documented wrappers over the
//! raw system calls that neither `std` nor `rustix` offer in a form we can use between
//! `fork` and `exec` (or at all). Everything here returns `std::io::Result` and keeps
//! the C types out of the callers.

#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Which side of a `fork` we are on.
pub enum Fork {
    Parent(libc::pid_t),
    Child,
}

/// `fork(2)`.
///
/// # Safety
/// The caller must be single-threaded (hostproc never starts threads), and the child
/// must only prepare and `exec`, or `_exit`.
pub unsafe fn fork() -> io::Result<Fork> {
    // SAFETY: the caller guarantees a single-threaded process.
    match cvt(unsafe { libc::fork() })? {
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// `clone3(2)` with `CLONE_INTO_CGROUP`: a fork whose child starts life inside the cgroup
/// v2 directory `cgroup` (an `O_DIRECTORY` descriptor). Unlike writing the pid to
/// `cgroup.procs` afterwards, this takes the cgroup lock only for reading, so it never
/// waits for the RCU grace period that the first `cgroup.procs` write after a quiet
/// spell costs (8-20 ms on a host without `favordynmods`).
///
/// `Ok(None)` when the kernel (before 5.7) or a seccomp filter does not offer it: the
/// caller forks and writes `cgroup.procs` instead.
///
/// # Safety
/// As [`fork`]. In addition the child must not rely on glibc's cached thread id (the raw
/// system call bypasses glibc's fork, so `raise`/`abort` and `pthread_kill` address the
/// parent's id; `tgkill` then fails with ESRCH rather than hitting the parent).
pub unsafe fn fork_into_cgroup(cgroup: std::os::fd::BorrowedFd<'_>) -> io::Result<Option<Fork>> {
    use std::os::fd::AsRawFd;
    // The kernel's `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2, 88 bytes).
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: args is a valid clone_args of the size passed; without CLONE_VM the child
    // gets a copy of the address space, as with fork (the caller is single-threaded).
    let r = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            // No clone3 (ENOSYS, or a seccomp filter's EPERM), or no CLONE_INTO_CGROUP yet.
            Some(libc::ENOSYS | libc::EPERM | libc::EINVAL | libc::E2BIG) => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some(match r {
        0 => Fork::Child,
        pid => Fork::Parent(pid as libc::pid_t),
    }))
}

/// Lets go of what a long-lived, mostly idle process no longer needs resident: the page
/// mappings of the program's code (`madvise(MADV_DONTNEED)` on the executable's text, a
/// clean file mapping, so the pages stay in the page cache and come back on use) and the
/// heap's free memory (`malloc_trim`). The supervisor, forked from `create`, otherwise
/// keeps every page of code `create` ran in its resident set for the container's life.
pub fn trim_resident_memory() {
    extern "C" {
        // Defined by the linker's default script: the start of the first segment and the
        // end of .text (the read-only segments before the writable ones).
        static __executable_start: u8;
        static etext: u8;
    }
    // Only the symbols' addresses are taken.
    let (start, end) = (std::ptr::addr_of!(__executable_start) as usize, std::ptr::addr_of!(etext) as usize);
    // SAFETY: sysconf only reads a constant.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => return,
    };
    let start = start & !(page - 1);
    let end = end & !(page - 1);
    if end > start {
        // SAFETY: the range is the executable's read-only code and headers, never written
        // (no copy-on-write data is dropped); a later access faults the page back in.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
    // SAFETY: plain library call on the process's own heap.
    unsafe { libc::malloc_trim(0) };
}

/// `_exit(2)`: leaves the child without running the parent's atexit handlers or destructors.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// `execve(2)`; returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: both arrays are NUL-terminated and outlive the call.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// The shell's convention: the exit code, or 128+N when killed by signal N.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// `waitpid(pid, WNOHANG)` (pid -1: any child). `Ok(None)` when nothing has exited yet.
pub fn try_wait(pid: libc::pid_t) -> io::Result<Option<(libc::pid_t, ExitStatus)>> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    let r = cvt(unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) })?;
    if r == 0 {
        return Ok(None);
    }
    Ok(Some((r, decode(status))))
}

/// Blocking `waitpid(pid, 0)`, retried on EINTR.
pub fn wait(pid: libc::pid_t) -> io::Result<ExitStatus> {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer.
        match cvt(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => return Ok(decode(status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn decode(status: libc::c_int) -> ExitStatus {
    if libc::WIFSIGNALED(status) {
        ExitStatus::Signaled(libc::WTERMSIG(status))
    } else {
        ExitStatus::Exited(libc::WEXITSTATUS(status))
    }
}

/// `kill(2)`. ESRCH is reported as an error; callers decide whether it matters.
pub fn kill(pid: libc::pid_t, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// A set of signals, for blocking and waiting.
pub struct SigSet(libc::sigset_t);

impl SigSet {
    pub fn empty() -> Self {
        // SAFETY: sigemptyset initialises the set.
        unsafe {
            let mut s = std::mem::zeroed();
            libc::sigemptyset(&mut s);
            SigSet(s)
        }
    }
    pub fn full() -> Self {
        // SAFETY: sigfillset initialises the set.
        unsafe {
            let mut s = std::mem::zeroed();
            libc::sigfillset(&mut s);
            SigSet(s)
        }
    }
    pub fn add(&mut self, sig: i32) {
        // SAFETY: the set is initialised.
        unsafe { libc::sigaddset(&mut self.0, sig) };
    }
    pub fn remove(&mut self, sig: i32) {
        // SAFETY: the set is initialised.
        unsafe { libc::sigdelset(&mut self.0, sig) };
    }
}

/// `sigprocmask(SIG_SETMASK)`; returns the previous mask.
pub fn set_signal_mask(set: &SigSet) -> io::Result<SigSet> {
    let mut old = SigSet::empty();
    // SAFETY: both pointers are valid sigsets.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &set.0, &mut old.0) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(old)
}

/// Resets every catchable signal's disposition to the default (the exec'd payload must
/// not inherit ignored signals from hostproc's caller).
pub fn reset_signal_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition; errors for invalid numbers are ignored.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// Opens /dev/null on any of descriptors 0, 1, 2 that is closed, so that no file opened
/// later lands on them and receives what is printed (std's runtime does this for a Rust
/// `main`; hostproc's entry point is C's `main`, see crates/hostproc/src/main.rs).
pub fn ensure_std_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    // SAFETY: poll on three pollfds we own; one system call where all three are open (the
    // usual case), as std's runtime does it.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } >= 0;
    for p in fds {
        // SAFETY: F_GETFD only queries the descriptor (when poll itself failed).
        let closed = if polled { p.revents & libc::POLLNVAL != 0 } else { (unsafe { libc::fcntl(p.fd, libc::F_GETFD) }) == -1 };
        if closed {
            // SAFETY: a NUL-terminated path; open returns the lowest free descriptor, `fd`.
            let n = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if n != p.fd {
                exit_immediately(127);
            }
        }
    }
}

/// Restores SIGPIPE's default action (a caller may have left it ignored), so a closed
/// stdout ends the command quietly.
pub fn default_sigpipe() {
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// `sigtimedwait(2)` on a blocked set: the signal number, or `None` on timeout.
pub fn wait_signal(set: &SigSet, timeout: Option<Duration>) -> io::Result<Option<i32>> {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
    // SAFETY: set is initialised; info may be null; tsp is null or valid.
    let r = unsafe { libc::sigtimedwait(&set.0, std::ptr::null_mut(), tsp) };
    if r == -1 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(None),
            Some(libc::EINTR) => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some(r))
}

/// `setgroups(2)` for the calling process.
pub fn set_groups(gids: &[u32]) -> io::Result<()> {
    // SAFETY: the slice is valid for its length.
    cvt(unsafe { libc::setgroups(gids.len(), gids.as_ptr()) }).map(drop)
}

/// `setresgid(gid, gid, gid)`.
pub fn set_gid(gid: u32) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::setresgid(gid, gid, gid) }).map(drop)
}

/// `setresuid(uid, uid, uid)`.
pub fn set_uid(uid: u32) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::setresuid(uid, uid, uid) }).map(drop)
}

/// `prctl(PR_SET_KEEPCAPS)`: keep permitted capabilities across a change of uid.
pub fn set_keep_caps(on: bool) -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphans of the job are re-parented to us, so we
/// reap them instead of leaving zombies to a PID 1 that may not.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// `prctl(PR_SET_PDEATHSIG)`.
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// `setsid(2)`.
pub fn setsid() -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// `umask(2)`.
pub fn set_umask(mask: u32) {
    // SAFETY: plain syscall; cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// `unshare(CLONE_NEWNS)`: a private copy of the mount table.
pub fn unshare_mount_namespace() -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWNS) }).map(drop)
}

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`: every descriptor from `first` up is
/// closed at exec, so the payload inherits none of ours (the CVE-2024-21626 class).
pub fn cloexec_from(first: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe {
        libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC)
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `dup2(2)`: make `fd` also `target` (used for a terminal's 0, 1 and 2).
pub fn dup2(fd: RawFd, target: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    cvt(unsafe { libc::dup2(fd, target) }).map(drop)
}

/// `ioctl(TIOCSCTTY)`: make the terminal on `fd` the session's controlling terminal.
pub fn set_controlling_terminal(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain ioctl with an integer argument.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }).map(drop)
}

/// `setns(fd, 0)`: join the namespace `fd` refers to.
pub fn setns(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    cvt(unsafe { libc::setns(fd, 0) }).map(drop)
}

/// The kind of namespace an nsfs file (`/proc/PID/ns/*`, or a bind mount of one) refers
/// to, by its name in the runtime spec ("network", "pid", ...): `ioctl(NS_GET_NSTYPE)`.
/// `ENOTTY`/`EINVAL` when `fd` is not a namespace file.
pub fn namespace_kind(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<&'static str> {
    use std::os::fd::AsRawFd;
    // SAFETY: an ioctl without argument on a descriptor the caller holds open.
    let t = cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::NS_GET_NSTYPE) })?;
    Ok(match t {
        libc::CLONE_NEWNET => "network",
        libc::CLONE_NEWPID => "pid",
        libc::CLONE_NEWNS => "mount",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWUSER => "user",
        libc::CLONE_NEWCGROUP => "cgroup",
        libc::CLONE_NEWTIME => "time",
        _ => "unknown",
    })
}

/// `mkfifo(3)` with the given mode.
pub fn mkfifo(path: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: path is a valid C string.
    cvt(unsafe { libc::mkfifo(path.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// `close(2)` of a raw descriptor a forked child must not keep (for example a copy of
/// a lock's descriptor: the lock lives as long as any copy does).
pub fn close_fd(fd: RawFd) {
    // SAFETY: closing a descriptor number; callers pass only descriptors they own in this
    // (forked) process and never use again.
    unsafe { libc::close(fd) };
}

/// `setrlimit(2)`.
pub fn set_rlimit(resource: i32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: lim is a valid rlimit.
    cvt(unsafe { libc::setrlimit(resource as _, &lim) }).map(drop)
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid two-element array.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh descriptors that we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `pidfd_open(2)`: a handle that names exactly this process, even after its pid is reused.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pidfd_open returned a fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Waits until the process behind `pidfd` exits, or `timeout` passes (None: no limit);
/// true when it exited.
pub fn wait_pidfd(pidfd: std::os::fd::BorrowedFd<'_>, timeout: Option<Duration>) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => d.saturating_duration_since(std::time::Instant::now()).as_millis().min(i32::MAX as u128) as i32,
        };
        let mut p = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one pollfd we own.
        match unsafe { libc::poll(&mut p, 1, ms) } {
            n if n > 0 => return true,
            0 => return false,
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            _ => return false,
        }
    }
}

/// The calling process's parent's pid.
pub fn parent_pid() -> libc::pid_t {
    // SAFETY: cannot fail.
    unsafe { libc::getppid() }
}

/// The calling process's pid.
pub fn getpid() -> libc::pid_t {
    // SAFETY: cannot fail.
    unsafe { libc::getpid() }
}

/// Real uid and gid of the calling process.
pub fn ids() -> (u32, u32) {
    // SAFETY: cannot fail.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// Supplementary groups of the calling process.
pub fn groups() -> io::Result<Vec<u32>> {
    // SAFETY: a zero-size query returns the count.
    let n = cvt(unsafe { libc::getgroups(0, std::ptr::null_mut()) })?;
    let mut v = vec![0u32; n as usize];
    // SAFETY: v has room for n entries.
    let n = cvt(unsafe { libc::getgroups(n, v.as_mut_ptr()) })?;
    v.truncate(n as usize);
    Ok(v)
}

/// Signal number for a name such as `TERM`, `SIGTERM` or `15`.
pub fn signal_from_str(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=libc::SIGRTMAX()).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP, "INT" => libc::SIGINT, "QUIT" => libc::SIGQUIT, "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP, "ABRT" | "IOT" => libc::SIGABRT, "BUS" => libc::SIGBUS, "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL, "USR1" => libc::SIGUSR1, "SEGV" => libc::SIGSEGV, "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE, "ALRM" => libc::SIGALRM, "TERM" => libc::SIGTERM, "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD, "CONT" => libc::SIGCONT, "STOP" => libc::SIGSTOP, "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN, "TTOU" => libc::SIGTTOU, "URG" => libc::SIGURG, "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ, "VTALRM" => libc::SIGVTALRM, "PROF" => libc::SIGPROF, "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO, "PWR" => libc::SIGPWR, "SYS" => libc::SIGSYS,
        _ => {
            // RTMIN, RTMIN+N, RTMAX, RTMAX-N with N a plain unsigned number in range.
            let offset = |rest: &str, sign: char| -> Option<i32> {
                if rest.is_empty() {
                    return Some(0);
                }
                let digits = rest.strip_prefix(sign)?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                digits.parse::<i32>().ok()
            };
            if let Some(rest) = name.strip_prefix("RTMIN") {
                let n = libc::SIGRTMIN().checked_add(offset(rest, '+')?)?;
                return (n <= libc::SIGRTMAX()).then_some(n);
            }
            if let Some(rest) = name.strip_prefix("RTMAX") {
                let n = libc::SIGRTMAX().checked_sub(offset(rest, '-')?)?;
                return (n >= libc::SIGRTMIN()).then_some(n);
            }
            return None;
        }
    };
    Some(n)
}

pub use libc::pid_t;
pub use libc::{
    SIGALRM, SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM, SIGURG, SIGUSR1, SIGUSR2, SIGWINCH,
};

/// Reads a small file the kernel generates (procfs, cgroupfs) whole, into one 512-byte
/// buffer grown as needed. Such files report size 0, so std's `read_to_string` would
/// first `statx` and `lseek` them and then grow its buffer from 32 bytes, a read each.
pub fn read_kernel_file(path: &std::path::Path) -> io::Result<String> {
    use std::io::Read as _;
    let mut buf = Vec::with_capacity(512);
    // Through `take`, std's read_to_end skips its size probe.
    std::fs::File::open(path)?.take(1 << 20).read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
