//! The runc command line as containerd's runc shim and operators drive it: create, start,
//! state, kill, delete, run --detach, exec, ps, events, pause/resume, update, list,
//! features, the global flags, concurrency, the supervisor that stops the job when init
//! exits, and the console socket. Every test runs the real binary with its own `--root`
//! and ends with `delete --force` and a check that nothing was left behind.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod commands;
mod concurrency;
mod console;
mod control;
mod exec;
mod supervisor;

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::lc::*;
use common::*;
use serde_json::{json, Value};

const MIB: u64 = 1024 * 1024;
/// How long the supervisor may take to notice init's exit and mark the container stopped
/// (beyond any grace period the test sets).
const SLACK: Duration = Duration::from_secs(10);
/// A payload that says it runs and then stays (init is `sleep` itself).
const STAY: &str = "echo payload-ran; exec sleep 1000";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A bundle whose payload prints `payload-ran` and sleeps.
fn staying_bundle() -> Bundle {
    let mut b = Bundle::new();
    b.grace("1s").sh(STAY);
    b
}

/// create + start; asserts both succeed and the container runs.
#[track_caller]
fn create_and_start(c: &Ctr, b: &Bundle) {
    c.create(b, &[]).assert_code(0);
    c.start().assert_code(0);
    assert_eq!(c.status(), "running");
}

/// Kills the container (if it still runs), deletes it with --force, checks nothing is left.
#[track_caller]
fn finish(c: &Ctr, b: &Bundle) {
    let out = c.delete_force();
    assert_eq!(out.code, Some(0), "delete --force failed:\n{}", out.dump());
    cleanup_check(c.root, b, &c.id, &[]);
}

#[track_caller]
fn assert_stderr_contains(out: &Output, needle: &str) {
    assert!(
        out.stderr.contains(needle),
        "expected {needle:?} in stderr:\n{}",
        out.dump()
    );
}

fn cgroup_text(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}
