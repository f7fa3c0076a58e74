//! Named points at which a test can have hostproc killed with SIGKILL, to prove that
//! `delete --force` recovers from a crash anywhere: `HOSTPROC_CRASH_AT=<name>` in the
//! environment. One environment lookup per point; nothing else on the normal path.

/// Dies here with SIGKILL if `HOSTPROC_CRASH_AT` names this point.
pub fn hit(name: &str) {
    if std::env::var_os("HOSTPROC_CRASH_AT").is_some_and(|v| v == name) {
        let _ = hostproc_sys::kill(hostproc_sys::getpid(), hostproc_sys::SIGKILL);
    }
}
