//! Concurrency.

use super::*;

/// 20 parallel creates of the same id: exactly one wins, the others fail with "already
/// exists" and do not disturb the winner.
#[test]
fn parallel_create_same_id() {
    let root = Arc::new(Root::new());
    let b = Arc::new(staying_bundle());
    b.write();
    let id = unique_id("race");
    let n = 20;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (root, b, id, barrier) = (root.clone(), b.clone(), id.clone(), barrier.clone());
            thread::spawn(move || {
                let mut s = Scratch::new();
                let (o, e) = s.pair();
                barrier.wait();
                let out = hostproc_files(
                    &[
                        "--root",
                        root.path().to_str().unwrap(),
                        "create",
                        "--bundle",
                        b.path().to_str().unwrap(),
                        &id,
                    ],
                    None,
                    &o,
                    &e,
                );
                (out, s)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let c = Ctr::new(&root, &id);
    let winners = results.iter().filter(|(o, _)| o.code == Some(0)).count();
    let report: String = results
        .iter()
        .map(|(o, _)| format!("{:?}: {}", o.code, o.stderr.trim()))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(winners, 1, "expected exactly one create to succeed:\n{report}");
    for (o, _) in results.iter().filter(|(o, _)| o.code != Some(0)) {
        assert_eq!(o.code, Some(1), "{}", o.dump());
        assert!(o.stderr.contains("already exists"), "{}", o.dump());
    }
    let st = c.state();
    assert_eq!(st["status"], "created", "{st:#}");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(pid_alive(pid), "the winner's init is gone");
    let job: Vec<i32> = processes_in_cgroup(&id).into_iter().filter(|p| pid_alive(*p)).collect();
    assert_eq!(job, vec![pid], "only the winner's init may be in the job");
    c.start().assert_code(0);
    assert_eq!(c.status(), "running");
    let (_, s) = results.iter().find(|(o, _)| o.code == Some(0)).unwrap();
    // The winner's stdout (its payload's too) is its own scratch file.
    let out = s.path().join("1.out");
    assert!(
        wait_until(secs(10), || read_trim(&out).contains("payload-ran")),
        "the winner's payload never ran"
    );
    finish(&c, &b);
}

/// Full lifecycles of different containers in parallel in one root all succeed.
#[test]
fn parallel_different_ids() {
    let root = Arc::new(Root::new());
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (root, barrier) = (root.clone(), barrier.clone());
            thread::spawn(move || {
                let b = staying_bundle();
                let id = unique_id(&format!("par{i}"));
                let c = Ctr::new(&root, &id);
                barrier.wait();
                c.create(&b, &[]).assert_code(0);
                c.start().assert_code(0);
                assert_eq!(c.status(), "running");
                c.exec(&[], &["/bin/true"]).assert_code(0);
                c.cmd("ps", &["--format", "json"]).assert_code(0);
                c.kill("KILL").assert_code(0);
                assert!(c.wait_status("stopped", SLACK + secs(5)), "{id}");
                c.delete().assert_code(0);
                cleanup_check(&root, &b, &id, &[]);
            })
        })
        .collect();
    let mut failures = Vec::new();
    for h in handles {
        if let Err(e) = h.join() {
            failures.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
}
