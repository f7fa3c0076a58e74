//! Signals: forwarding to the payload, and stopping the job on SIGTERM/SIGINT (SIGTERM to
//! every process, the grace period, then kill-all).
//!
//! Timing bounds here are sanity bounds only (generous slack), never performance checks.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// A payload loop that runs at most `secs` seconds in short sleeps (so that traps run soon).
fn sh_idle(secs: u32) -> String {
    format!(
        "i=0; while [ $i -lt {} ]; do sleep 0.1; i=$((i+1)); done; ",
        secs * 10
    )
}

/// SIGUSR1 and SIGHUP sent to `hostproc run` reach the payload.
#[test]
fn signals_are_forwarded_to_the_payload() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh(&format!(
        "trap 'echo got-usr1' USR1; trap 'echo got-hup; exit 7' HUP; echo ready; {}echo no-signal; exit 0",
        sh_idle(30)
    ));
    let id = unique_id("fwd");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    r.signal(libc::SIGUSR1);
    r.expect_stdout("got-usr1", Duration::from_secs(20));
    r.signal(libc::SIGHUP);
    let out = r.finish(TIMEOUT);
    out.assert_code(7);
    assert!(out.stdout.contains("got-hup"), "{}", out.dump());
    assert!(!out.stdout.contains("no-signal"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// SIGTERM to `run`: a payload that handles it ends at once, and its own status is run's.
#[test]
fn sigterm_reaches_a_payload_that_handles_it() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh(&format!(
        "trap 'echo got-term; exit 42' TERM; echo ready; {}exit 0",
        sh_idle(30)
    ));
    let id = unique_id("term");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    r.signal(libc::SIGTERM);
    let out = r.finish(TIMEOUT);
    out.assert_code(42);
    assert!(out.stdout.contains("got-term"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// A payload that ignores SIGTERM (and whose children inherit that) is killed after the
/// grace period of the annotation ("1s"): run ends within grace plus slack, with 128+9.
#[test]
fn grace_then_kill_for_a_payload_ignoring_sigterm() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("1s").sh(&format!(
        "trap '' TERM; sleep 1000 >/dev/null 2>&1 & echo child=$!; echo ready; {}exit 0",
        sh_idle(60)
    ));
    let id = unique_id("grace");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    let sent = Instant::now();
    r.signal(libc::SIGTERM);
    let out = r.finish(Duration::from_secs(60));
    let took = sent.elapsed();
    out.assert_code(128 + 9);
    assert!(
        took >= Duration::from_millis(800),
        "killed before the 1s grace period was over ({took:?})"
    );
    assert!(
        took < Duration::from_secs(1 + 10),
        "run took {took:?} to stop after a 1s grace period"
    );
    let child: i32 = out.must_value("child").parse().unwrap();
    assert!(
        wait_pid_gone(child, Duration::from_secs(2)),
        "the payload's child {child} survived"
    );
    cleanup_check(&root, &b, &id, &[]);
}

/// The default grace period is 5 s.
#[test]
fn default_grace_period_is_five_seconds() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh(&format!("trap '' TERM; echo ready; {}exit 0", sh_idle(60)));
    let id = unique_id("grace5");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    let sent = Instant::now();
    r.signal(libc::SIGTERM);
    let out = r.finish(Duration::from_secs(60));
    let took = sent.elapsed();
    out.assert_code(128 + 9);
    assert!(
        took >= Duration::from_secs(4),
        "killed after {took:?}, before the default 5 s grace period"
    );
    assert!(
        took < Duration::from_secs(5 + 15),
        "run took {took:?} to stop after a 5 s grace period"
    );
    cleanup_check(&root, &b, &id, &[]);
}

/// SIGINT stops the job like SIGTERM: every process of the job gets SIGTERM.
///
/// The child records its SIGTERM in a marker; init, on its own SIGTERM, waits (bounded)
/// for that marker before it exits, so the child's SIGTERM is the one SIGINT brought, not
/// the one every leftover gets once init has exited. The grace outlasts init's wait.
#[test]
fn sigint_stops_every_process_of_the_job() {
    let root = Root::new();
    let mut b = Bundle::new();
    let marker_dir = tempdir();
    let marker = marker_dir.path().join("child-got-term");
    b.grace("5s").sh(&format!(
        "(trap 'touch {m}; exit 0' TERM; {idle}) >/dev/null 2>&1 & echo child=$!; \
         trap 'j=0; while [ ! -e {m} ] && [ $j -lt 30 ]; do sleep 0.1; j=$((j+1)); done; \
         if [ -e {m} ]; then echo child-term-before-init-exit=yes; else echo child-term-before-init-exit=no; fi; \
         echo init-got-term; exit 5' TERM; echo ready; {idle}exit 0",
        m = marker.display(),
        idle = sh_idle(60)
    ));
    let id = unique_id("sigint");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    r.signal(libc::SIGINT);
    let out = r.finish(Duration::from_secs(60));
    out.assert_code(5);
    assert!(
        out.stdout.contains("init-got-term"),
        "SIGINT did not turn into SIGTERM for the payload:\n{}",
        out.dump()
    );
    assert!(marker.exists(), "the payload's child was never sent SIGTERM:\n{}", out.dump());
    assert_eq!(
        out.must_value("child-term-before-init-exit"),
        "yes",
        "SIGINT sent SIGTERM to init only, not to every process of the job:\n{}",
        out.dump()
    );
    let child: i32 = out.must_value("child").parse().unwrap();
    assert!(
        wait_pid_gone(child, Duration::from_secs(2)),
        "the payload's child {child} survived"
    );
    cleanup_check(&root, &b, &id, &[]);
}

/// Children of the payload get SIGTERM first when init exits (not only kill-all): a child
/// that traps TERM gets to run its handler.
#[test]
fn children_get_sigterm_when_init_exits() {
    let root = Root::new();
    let mut b = Bundle::new();
    let marker_dir = tempdir();
    let marker = marker_dir.path().join("child-got-term");
    b.grace("3s").sh(&format!(
        "(trap 'touch {m}; exit 0' TERM; {idle}) >/dev/null 2>&1 & echo child=$!; sleep 0.3; exit 0",
        m = marker.display(),
        idle = sh_idle(60)
    ));
    let id = unique_id("childterm");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert!(
        marker.exists(),
        "the child was not sent SIGTERM before being killed:\n{}",
        out.dump()
    );
    let child: i32 = out.must_value("child").parse().unwrap();
    assert!(wait_pid_gone(child, Duration::from_secs(2)));
    cleanup_check(&root, &b, &id, &[]);
}
