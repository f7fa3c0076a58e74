//! The supervisor.

use super::*;

/// When init exits, with no one calling kill, the supervisor stops the leftover
/// background processes and marks the container stopped.
#[test]
fn supervisor_stops_leftovers_when_init_exits() {
    let root = Root::new();
    let mut b = Bundle::new();
    // A grace far longer than the bound below: only the supervisor's SIGTERM, not the
    // kill at the grace's end, can end the sleep in time.
    b.grace("60s").sh("sleep 1000 & echo bg=$!; exit 0");
    let id = unique_id("leftover");
    let c = Ctr::new(&root, &id);
    c.create(&b, &[]).assert_code(0);
    c.start().assert_code(0);
    let t = Instant::now();
    assert!(wait_until(secs(10), || c.out_value("bg").is_some()), "no bg pid");
    let bg: i32 = c.out_value("bg").unwrap().parse().unwrap();
    // sleep dies on SIGTERM: well before the 60 s grace ends.
    assert!(
        wait_pid_gone(bg, SLACK),
        "the background sleep {bg} outlived init by {:?} (no SIGTERM when init exited?)",
        t.elapsed()
    );
    assert!(c.wait_status("stopped", SLACK), "{:#}", c.state());
    assert_eq!(c.pid(), 0);
    // The shim's clean-up calls.
    c.kill_all("9").assert_code(0);
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// A process that ignores SIGTERM survives the grace period and is then killed.
#[test]
fn sigterm_ignoring_process_killed_after_grace() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("3s").sh(
        "(trap '' TERM; while :; do sleep 0.1; done) & echo bg=$!; echo ready; sleep 0.5; exit 0",
    );
    let id = unique_id("grace");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    c.expect_out("ready", secs(10));
    let init = c.pid();
    let bg: i32 = c.out_value("bg").unwrap().parse().unwrap();
    assert!(wait_pid_gone(init, secs(10)), "init did not exit");
    let t = Instant::now();
    thread::sleep(Duration::from_millis(1500));
    assert!(
        pid_alive(bg),
        "the TERM-ignoring process was killed before the 3 s grace ended"
    );
    assert!(
        wait_pid_gone(bg, secs(3) + SLACK),
        "the TERM-ignoring process {bg} survived the grace"
    );
    let gone_after = t.elapsed();
    assert!(gone_after >= Duration::from_millis(2000), "killed after {gone_after:?}");
    assert!(c.wait_status("stopped", SLACK), "{:#}", c.state());
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}
