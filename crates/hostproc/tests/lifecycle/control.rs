//! Ps, events, pause/resume, update, list.

use super::*;

/// ps --format json is a JSON array of ints with every process of the job; the table names
/// them too.
#[test]
fn ps_lists_the_job() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("1s")
        .sh("sleep 1000 & echo bg=$!; echo ready; wait");
    let id = unique_id("ps");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    c.expect_out("ready", secs(10));
    let init = c.pid() as i64;
    let bg: i64 = c.out_value("bg").unwrap().parse().unwrap();
    let out = c.cmd("ps", &["--format", "json"]);
    out.assert_code(0);
    let v: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("ps json ({e}):\n{}", out.dump()));
    let arr = v.as_array().expect("a JSON array");
    assert!(arr.iter().all(|x| x.is_i64()), "not ints: {v}");
    let pids: Vec<i64> = arr.iter().map(|x| x.as_i64().unwrap()).collect();
    assert!(pids.contains(&init) && pids.contains(&bg), "{pids:?} (init {init}, bg {bg})");
    let out = c.cmd("ps", &[]);
    out.assert_code(0);
    assert!(out.stdout.contains("PID"), "{}", out.dump());
    assert!(out.stdout.contains(&init.to_string()), "{}", out.dump());
    finish(&c, &b);
}

/// events --stats prints one runc stats object with the job's usage and limits; events
/// --interval streams them.
#[test]
fn events_stats() {
    let root = Root::new();
    let mut b = staying_bundle();
    b.resources(json!({ "memory": { "limit": 256 * MIB }, "pids": { "limit": 100 } }));
    let id = unique_id("events");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    c.expect_out("payload-ran", secs(10));
    let out = c.cmd("events", &["--stats"]);
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one JSON object:\n{}", out.dump());
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["type"], "stats", "{v:#}");
    assert_eq!(v["id"], id.as_str(), "{v:#}");
    for k in ["cpu", "memory", "pids", "blkio"] {
        assert!(v["data"][k].is_object(), "data.{k} missing: {v:#}");
    }
    assert_eq!(v["data"]["memory"]["usage"]["limit"], 256 * MIB, "{v:#}");
    assert!(v["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0, "{v:#}");
    assert_eq!(v["data"]["pids"]["limit"], 100, "{v:#}");
    assert!(v["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1, "{v:#}");
    assert!(v["data"]["cpu"]["usage"]["total"].is_u64(), "{v:#}");

    // The stream: at least two stats objects at a 100 ms interval.
    let mut cmd = command(&root);
    cmd.args(["events", "--interval", "100ms", &id]);
    let mut ev = spawn(cmd);
    let got = wait_until(secs(20), || {
        ev.stdout_now().lines().filter(|l| l.contains("\"stats\"")).count() >= 2
    });
    let out = ev.kill_and_collect();
    assert!(got, "events --interval streamed no stats:\n{}", out.dump());
    for l in out.stdout.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(v["id"], id.as_str());
    }
    finish(&c, &b);
}

/// The freezer state of the job holding `pid`: "FROZEN" when v1's freezer.state says so or
/// the unified hierarchy's cgroup.events has `frozen 1` (either freezer stops the tasks),
/// else "THAWED".
fn freezer_state(pid: i32) -> String {
    let v1 = cgroup_dir_of(pid, "freezer")
        .map(|d| read_trim(&d.join("freezer.state")))
        .unwrap_or_default();
    let v2 = cgroup_dir_of(pid, "")
        .and_then(|d| fs::read_to_string(d.join("cgroup.events")).ok())
        .unwrap_or_default();
    if v1 == "FROZEN" || v2.lines().any(|l| l == "frozen 1") {
        "FROZEN".into()
    } else {
        format!("THAWED (freezer.state {v1:?}, cgroup.events {v2:?})")
    }
}

/// pause freezes every process of the job (state paused, freezer FROZEN, a counter stops);
/// resume thaws them.
#[test]
fn pause_and_resume() {
    let root = Root::new();
    let mut b = Bundle::new();
    let id = unique_id("pause");
    let counter = tempdir();
    let f = counter.path().join("count");
    b.grace("1s").sh(&format!(
        "i=0; while :; do i=$((i+1)); echo $i > {f}.tmp; mv {f}.tmp {f}; sleep 0.02; done",
        f = f.display()
    ));
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    let read = || read_trim(&f).parse::<u64>().unwrap_or(0);
    assert!(wait_until(secs(10), || read() > 2), "the counter never ran");
    let init = c.pid();

    c.cmd("pause", &[]).assert_code(0);
    let st = c.state();
    assert_eq!(st["status"], "paused", "{st:#}");
    assert_eq!(st["pid"].as_i64(), Some(init as i64), "{st:#}");
    assert!(
        wait_until(secs(5), || freezer_state(init) == "FROZEN"),
        "freezer is {}",
        freezer_state(init)
    );
    let a = read();
    thread::sleep(Duration::from_millis(600));
    assert_eq!(read(), a, "the counter advanced while paused");
    // Pausing twice is an error, as with runc; start of a paused container too.
    let again = c.cmd("pause", &[]);
    again.assert_error();
    assert_stderr_contains(&again, "is not running");
    assert_eq!(c.status(), "paused", "a second pause changed the state");
    c.start().assert_error();

    c.cmd("resume", &[]).assert_code(0);
    assert_eq!(c.status(), "running");
    assert!(
        wait_until(secs(5), || freezer_state(init).starts_with("THAWED")),
        "freezer is {}",
        freezer_state(init)
    );
    assert!(
        wait_until(secs(5), || read() > a + 2),
        "the counter did not advance after resume"
    );
    // resume of a running container fails.
    c.cmd("resume", &[]).assert_error();
    finish(&c, &b);
}

/// The job's memory limit as the kernel has it (v1 memory.limit_in_bytes or v2 memory.max).
fn memory_limit(pid: i32) -> String {
    if let Some(d) = cgroup_dir_of(pid, "memory") {
        if d.join("memory.limit_in_bytes").exists() {
            return read_trim(&d.join("memory.limit_in_bytes"));
        }
        if d.join("memory.max").exists() {
            return read_trim(&d.join("memory.max"));
        }
    }
    "?".into()
}

fn controller_file(pid: i32, controller: &str, v1: &str, v2: &str) -> String {
    if let Some(d) = cgroup_dir_of(pid, controller) {
        if d.join(v1).exists() {
            return read_trim(&d.join(v1));
        }
        if d.join(v2).exists() {
            return read_trim(&d.join(v2));
        }
    }
    "?".into()
}

/// update --memory and runc's other flags change the job's limits; update --resources -
/// takes LinuxResources JSON on stdin (the shim's form).
#[test]
fn update_changes_limits() {
    let root = Root::new();
    let mut b = staying_bundle();
    b.resources(json!({ "memory": { "limit": 256 * MIB }, "pids": { "limit": 100 } }));
    let id = unique_id("update");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    let init = c.pid();
    let dir = cgroup_dir_of(init, "memory").expect("memory cgroup");
    assert!(
        dir.to_string_lossy().contains(&id),
        "init's memory cgroup {} is not the job's",
        dir.display()
    );
    assert_eq!(memory_limit(init), (256 * MIB).to_string());

    let m = (128 * MIB).to_string();
    c.cmd("update", &["--memory", &m]).assert_code(0);
    assert_eq!(memory_limit(init), m, "update --memory");

    c.cmd("update", &["--pids-limit", "40", "--cpu-quota", "30000", "--cpu-period", "100000"])
        .assert_code(0);
    assert_eq!(controller_file(init, "pids", "pids.max", "pids.max"), "40");
    let quota = controller_file(init, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(quota == "30000" || quota.starts_with("30000 "), "cpu quota {quota}");

    let res = json!({
        "memory": { "limit": 96 * MIB },
        "pids": { "limit": 50 },
        "cpu": { "quota": 50000, "period": 100000 }
    });
    let out = hp_stdin(
        &root,
        &["update", "--resources", "-", &id],
        Some(serde_json::to_string(&res).unwrap().as_bytes()),
    );
    out.assert_code(0);
    assert_eq!(memory_limit(init), (96 * MIB).to_string(), "update --resources -");
    assert_eq!(controller_file(init, "pids", "pids.max", "pids.max"), "50");
    let quota = controller_file(init, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(quota == "50000" || quota.starts_with("50000 "), "cpu quota {quota}");
    // events --stats reports the new limit.
    let out = c.cmd("events", &["--stats"]);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["data"]["memory"]["usage"]["limit"], 96 * MIB, "{v:#}");
    // Bad JSON is an error and changes nothing.
    let out = hp_stdin(&root, &["update", "--resources", "-", &id], Some(b"{not json"));
    out.assert_error();
    assert_eq!(memory_limit(init), (96 * MIB).to_string());
    finish(&c, &b);
}

/// list shows the containers of the root as a table, JSON and bare ids.
#[test]
fn list_formats() {
    let root = Root::new();
    let (b1, b2) = (staying_bundle(), staying_bundle());
    let (id1, id2) = (unique_id("lista"), unique_id("listb"));
    let (c1, c2) = (Ctr::new(&root, &id1), Ctr::new(&root, &id2));
    c1.create(&b1, &[]).assert_code(0);
    create_and_start(&c2, &b2);

    let out = hp(&root, &["list"]);
    out.assert_code(0);
    assert!(out.stdout.lines().next().unwrap_or("").contains("ID"), "{}", out.dump());
    for (id, status) in [(&id1, "created"), (&id2, "running")] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{id} not listed:\n{}", out.dump()));
        assert!(line.contains(status), "{line}");
    }

    let out = hp(&root, &["list", "--format", "json"]);
    out.assert_code(0);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 2, "{v:#}");
    for (id, status, c) in [(&id1, "created", &c1), (&id2, "running", &c2)] {
        let e = arr
            .iter()
            .find(|e| e["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} missing: {v:#}"));
        assert_eq!(e["status"], status);
        assert_eq!(e["pid"].as_i64(), Some(c.pid() as i64));
    }

    let out = hp(&root, &["list", "-q"]);
    out.assert_code(0);
    let mut ids: Vec<&str> = out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    ids.sort();
    let mut want = vec![id1.as_str(), id2.as_str()];
    want.sort();
    assert_eq!(ids, want);

    finish(&c1, &b1);
    finish(&c2, &b2);
    let out = hp(&root, &["list", "-q"]);
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), "");
}
