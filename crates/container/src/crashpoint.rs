//! Named points at which a test can have hostproc killed with SIGKILL, to prove that
//! `delete --force` recovers from a crash anywhere: `HOSTPROC_CRASH_AT=<name>` in the
//! environment. One environment lookup per point; nothing else on the normal path.

/// Every point, in the order a container meets them.
pub const POINTS: &[&str] = &[
    "after-state",          // create/run: state names what is about to be made
    "after-cgroup",         // the job's v2 cgroup exists, with its limits (v1 ones come with init)
    "after-mounts",         // storage made (host-mode mounts, bind-mode mount points)
    "after-user",           // the ephemeral user exists
    "after-init",           // create: init forked, in its job, held before exec
    "after-created",        // create: state says created
    "after-running",        // run: state says running
    "start-before-release", // start: init not yet told to exec
    "start-after-release",  // start: init told to exec, state not yet running
    "exec-after-spawn",     // exec: the process runs in the job
    "kill-after-signal",    // kill: the signal was sent
    "delete-after-kill",    // delete: init killed, job not yet removed
    "delete-after-job",     // delete: job removed, storage and user not yet
];

/// Dies here with SIGKILL if `HOSTPROC_CRASH_AT` names this point.
pub fn hit(name: &str) {
    if std::env::var_os("HOSTPROC_CRASH_AT").is_some_and(|v| v == name) {
        let _ = hostproc_sys::kill(hostproc_sys::getpid(), hostproc_sys::SIGKILL);
    }
}
