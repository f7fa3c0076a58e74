//! Concurrency: hundreds of create/start/kill/delete/state/list calls at once over a few
//! dozen ids, with collisions. One create of an id wins and the others get "already
//! exists"; no command fails for a reason other than the container's real state (every
//! failure's message is classified; anything else fails the test and is printed); `list`
//! never fails or warns; a final `list -q` matches the state directories that exist; and
//! after `delete --force` of every id nothing is left.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// One call: the command line after `--root ROOT`, and what came of it.
#[derive(Debug, Clone)]
struct Call {
    args: Vec<String>,
    code: Option<i32>,
    signal: Option<i32>,
    stderr: String,
    stdout: String,
    timed_out: bool,
}

impl Call {
    fn verb(&self) -> &str {
        &self.args[0]
    }
    fn id(&self) -> Option<&str> {
        match self.verb() {
            "list" => None,
            "kill" => Some(&self.args[1]),
            "delete" => self.args.last().map(String::as_str),
            "create" => self.args.last().map(String::as_str),
            _ => Some(&self.args[1]),
        }
    }
    fn show(&self) -> String {
        format!(
            "hostproc {} -> code {:?} signal {:?}{}\n  stderr: {}\n  stdout: {}",
            self.args.join(" "),
            self.code,
            self.signal,
            if self.timed_out { " TIMED OUT" } else { "" },
            self.stderr.trim(),
            self.stdout.trim()
        )
    }
}

/// Runs every command line at once (all released by one barrier) and returns the
/// results in order. Stdout and stderr go to files: a created payload inherits them.
fn all_at_once(root: &Root, lines: Vec<Vec<String>>) -> Vec<Call> {
    let scratch = tempdir();
    let barrier = Arc::new(Barrier::new(lines.len()));
    let handles: Vec<_> = lines
        .into_iter()
        .enumerate()
        .map(|(i, args)| {
            let barrier = barrier.clone();
            let root = root.path().to_path_buf();
            let out = scratch.path().join(format!("{i}.out"));
            let err = scratch.path().join(format!("{i}.err"));
            thread::spawn(move || {
                let mut cmd = Command::new(HOSTPROC);
                cmd.arg("--root").arg(&root).args(&args);
                cmd.stdin(Stdio::null());
                cmd.stdout(Stdio::from(fs::File::create(&out).unwrap()));
                cmd.stderr(Stdio::from(fs::File::create(&err).unwrap()));
                cmd.env_remove("HOSTPROC_CRASH_AT");
                barrier.wait();
                let started = Instant::now();
                let mut child = cmd.spawn().expect("spawn hostproc");
                let (status, timed_out) = wait_child(&mut child, started + TIMEOUT);
                Call {
                    args,
                    code: status.and_then(|s| s.code()),
                    signal: status.and_then(|s| s.signal()),
                    stdout: fs::read_to_string(&out).unwrap_or_default(),
                    stderr: fs::read_to_string(&err).unwrap_or_default(),
                    timed_out,
                }
            })
        })
        .collect();
    let calls = handles.into_iter().map(|h| h.join().unwrap()).collect();
    drop(scratch);
    calls
}

/// Why a failed call failed, if it is a reason the container's real state explains.
fn allowed_failure(c: &Call) -> bool {
    let e = c.stderr.to_lowercase();
    let any = |pats: &[&str]| pats.iter().any(|p| e.contains(p));
    if c.code != Some(1) || c.timed_out {
        return false;
    }
    match c.verb() {
        "create" => any(&["already exists"]),
        "start" => any(&["does not exist", "cannot start", "init is gone"]),
        "kill" => any(&["does not exist", "not running"]),
        "delete" if c.args.iter().any(|a| a == "--force") => false,
        "delete" => any(&["does not exist", "not stopped"]),
        "state" => any(&["does not exist"]),
        _ => false,
    }
}

/// A small deterministic shuffle (xorshift), so a failure can be replayed.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

fn s(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

fn state_dirs(root: &Path) -> BTreeSet<String> {
    fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn hundreds_of_calls_over_two_dozen_ids() {
    const IDS: usize = 24;
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh("sleep 60").grace("1s");
    b.write();
    let bundle = b.path().to_str().unwrap().to_owned();
    let ids: Vec<String> = (0..IDS).map(|i| unique_id(&format!("cc{i}"))).collect();
    let mut problems: Vec<String> = Vec::new();

    // Phase 1: four creates of every id at once, with starts, states, kills and lists in
    // between; no deletes, so exactly one create of each id wins.
    let mut lines = Vec::new();
    for id in &ids {
        for _ in 0..4 {
            lines.push(s(&["create", "--bundle", &bundle, id]));
        }
        lines.push(s(&["start", id]));
        lines.push(s(&["state", id]));
    }
    for i in 0..12 {
        lines.push(if i % 2 == 0 { s(&["list"]) } else { s(&["list", "--format", "json"]) });
    }
    for id in ids.iter().step_by(4) {
        lines.push(s(&["kill", id, "KILL"]));
    }
    shuffle(&mut lines, 0x9e37_79b9_7f4a_7c15);
    let n1 = lines.len();
    let phase1 = all_at_once(&root, lines);

    let mut wins: BTreeMap<&str, usize> = ids.iter().map(|i| (i.as_str(), 0)).collect();
    for c in &phase1 {
        if c.verb() == "create" && c.code == Some(0) {
            *wins.get_mut(c.id().unwrap()).unwrap() += 1;
        }
    }
    for (id, n) in &wins {
        if *n != 1 {
            problems.push(format!("phase 1: {n} creates of {id} succeeded (want exactly 1)"));
        }
    }

    // Phase 2: everything at once: creates again (collisions with the live ones), starts,
    // kills, deletes (plain and forced), states, lists.
    let mut lines = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        lines.push(s(&["create", "--bundle", &bundle, id]));
        lines.push(s(&["start", id]));
        lines.push(s(&["start", id]));
        lines.push(s(&["state", id]));
        lines.push(s(&["kill", id, "TERM"]));
        lines.push(s(&["delete", id]));
        if n % 3 == 0 {
            lines.push(s(&["delete", "--force", id]));
        }
        if n % 2 == 0 {
            lines.push(s(&["kill", "--all", id, "KILL"]));
        }
    }
    for i in 0..12 {
        lines.push(if i % 2 == 0 { s(&["list", "-q"]) } else { s(&["list", "--format", "json"]) });
    }
    shuffle(&mut lines, 0x2545_f491_4f6c_dd1d);
    let n2 = lines.len();
    let phase2 = all_at_once(&root, lines);
    assert!(n1 + n2 >= 300, "only {} calls", n1 + n2);

    // Every failure has a reason the container's state explains; list never fails or
    // warns and prints valid JSON.
    for (phase, calls) in [("phase 1", &phase1), ("phase 2", &phase2)] {
        for c in calls.iter() {
            if c.verb() == "list" {
                let ok = c.code == Some(0)
                    && c.stderr.trim().is_empty()
                    && (!c.args.contains(&"json".to_string()) || serde_json::from_str::<serde_json::Value>(&c.stdout).is_ok());
                if !ok {
                    problems.push(format!("{phase}: list failed, warned or printed bad JSON: {}\n  stdout: {}", c.show(), c.stdout.trim()));
                }
                continue;
            }
            if c.code == Some(0) {
                continue;
            }
            if !allowed_failure(c) {
                problems.push(format!("{phase}: unexplained failure: {}", c.show()));
            }
        }
    }

    // Let the supervisors record the deaths, then the final list matches the state dirs.
    thread::sleep(Duration::from_millis(300));
    let listed = hostproc(&root, &["list", "-q"]);
    listed.assert_code(0);
    let listed: BTreeSet<String> = listed.stdout.lines().map(str::to_owned).collect();
    let dirs = state_dirs(root.path());
    if listed != dirs {
        problems.push(format!("final list -q {listed:?} does not match the state directories {dirs:?}"));
    }
    for id in &listed {
        let st = hostproc(&root, &["state", id]);
        if st.code != Some(0) || serde_json::from_str::<serde_json::Value>(&st.stdout).is_err() {
            problems.push(format!("listed {id} but its state fails:\n{}", st.dump()));
        }
    }

    // Clean up everything, then nothing may be left.
    for id in &ids {
        let d = hostproc(&root, &["delete", "--force", id]);
        if d.code != Some(0) {
            problems.push(format!("delete --force {id} failed:\n{}", d.dump()));
        }
    }
    let left = hostproc(&root, &["list", "-q"]);
    left.assert_code(0);
    if !left.stdout.trim().is_empty() {
        problems.push(format!("after delete --force of every id, list -q still shows:\n{}", left.stdout));
    }
    for id in &ids {
        for pid in processes_in_cgroup(id) {
            if !wait_pid_gone(pid, Duration::from_secs(10)) {
                let rd = |f: &str| fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default().replace('\0', " ");
                problems.push(format!("process {pid} of {id} left: cmdline {} | stat {} | cgroup {}", rd("cmdline"), rd("stat"), rd("cgroup").replace('\n', " ")));
                let calls: Vec<String> = phase2.iter().chain(phase1.iter()).filter(|c| c.id() == Some(id.as_str())).map(|c| format!("{} -> {:?} {}", c.show(), c.code, c.stderr.trim())).collect();
                problems.push(format!("calls on {id}:\n{}", calls.join("\n")));
            }
        }
    }
    let summary = |calls: &[Call]| {
        let mut m: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for c in calls {
            let e = m.entry(c.verb().to_owned()).or_default();
            if c.code == Some(0) {
                e.0 += 1
            } else {
                e.1 += 1
            }
        }
        format!("{m:?}")
    };
    eprintln!("phase 1: {n1} calls {}; phase 2: {n2} calls {} as (ok, failed)", summary(&phase1), summary(&phase2));
    assert!(
        problems.is_empty(),
        "{} problems (phase 1: {n1} calls {}, phase 2: {n2} calls {} as (ok, failed)):\n{}",
        problems.len(),
        summary(&phase1),
        summary(&phase2),
        problems.join("\n")
    );
    for id in &ids {
        cleanup_check(&root, &b, id, &[]);
    }
}

/// Many `run`s of the same id at once: exactly one runs the payload, the others fail
/// with "already exists" and do not disturb it; then nothing is left.
#[test]
fn colliding_runs_of_one_id() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh("echo ran; sleep 1");
    b.write();
    let bundle = b.path().to_str().unwrap().to_owned();
    let id = unique_id("runcoll");
    let lines: Vec<Vec<String>> = (0..30).map(|_| s(&["run", "--bundle", &bundle, &id])).collect();
    let calls = all_at_once(&root, lines);
    let ok: Vec<&Call> = calls.iter().filter(|c| c.code == Some(0)).collect();
    let bad: Vec<String> = calls
        .iter()
        .filter(|c| c.code != Some(0) && !(c.code == Some(1) && c.stderr.contains("already exists")))
        .map(Call::show)
        .collect();
    assert!(bad.is_empty(), "runs failing for another reason than \"already exists\":\n{}", bad.join("\n"));
    // A later run may win again after the first ended: at least one, and every winner ran
    // the payload to its end.
    assert!(!ok.is_empty(), "no run of {id} succeeded");
    for c in &ok {
        assert!(c.stdout.contains("ran"), "a successful run printed nothing: {}", c.show());
    }
    cleanup_check(&root, &b, &id, &[]);
}

/// A command that waited for a container's lock while its holder removed the container
/// and a new one of the same id was put in place acts on the new one only under the new
/// one's lock: a `delete --force` waiting on the old directory must not take apart a
/// container whose create still holds its own lock.
#[test]
fn a_lock_won_on_a_removed_directory_does_not_count() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh("sleep 60").grace("1s");
    b.write();
    let bundle = b.path().to_str().unwrap().to_owned();
    let id = unique_id("stalelock");
    let lock = |dir: &Path| {
        let f = fs::File::open(dir).unwrap();
        // SAFETY: flock on a descriptor we own.
        assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) }, 0);
        f
    };
    // Init keeps create's stdio: /dev/null, so that nothing waits for it to close.
    let create = |bundle: &str| {
        let st = command(&root).args(["create", "--bundle", bundle, &id]).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
        assert!(st.success(), "create {id} failed: {st}");
    };
    create(&bundle);
    let dir = root.path().join(&id);
    // Where the first container goes aside: a valid id of its own (state patched to it), so
    // that the root's clean-up takes it down even if an assertion below fails.
    let first = unique_id("stalelockold");
    // Hold the first container's lock, and let a delete --force wait for it.
    let old_lock = lock(&dir);
    let mut del = command(&root);
    del.args(["delete", "--force", &id]);
    let del = spawn(del);
    thread::sleep(Duration::from_millis(300));
    // Meanwhile the directory goes (moved aside) and a second
    // container of the same id is made; a holder keeps its lock, as its create would.
    fs::rename(&dir, root.path().join(&first)).unwrap();
    let first_state = root.path().join(&first).join("state.json");
    let mut st: serde_json::Value = serde_json::from_slice(&fs::read(&first_state).unwrap()).unwrap();
    st["id"] = serde_json::json!(first);
    fs::write(&first_state, serde_json::to_vec(&st).unwrap()).unwrap();
    // (Its own cgroup: the first one's job still runs at the default placement.)
    let mut b2 = Bundle::new();
    b2.sh("sleep 60").grace("1s").set(&["linux", "cgroupsPath"], serde_json::json!(format!("{id}-second")));
    b2.write();
    create(b2.path().to_str().unwrap());
    let new_state: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("state.json")).unwrap()).unwrap();
    let new_init = ProcId::matching(new_state["pid"].as_i64().unwrap() as i32, new_state["hostproc"]["init_start"].as_u64().unwrap()).expect("the second init runs");
    let new_lock = lock(&dir);
    drop(old_lock);
    // The delete now holds a lock on a directory that is gone: it must wait for the one
    // at the path, not delete the second container from under its holder.
    thread::sleep(Duration::from_millis(500));
    let untouched = dir.join("state.json").exists() && new_init.alive();
    drop(new_lock);
    let out = del.finish(TIMEOUT);
    hostproc(&root, &["delete", "--force", &first]).assert_code(0);
    assert!(untouched, "delete --force took apart a container whose lock another holder had:\n{}", out.dump());
    out.assert_code(0);
    assert!(!dir.exists(), "the second container was not deleted once its lock was free");
    assert!(new_init.wait_gone(Duration::from_secs(10)), "the second container's init is left");
}
