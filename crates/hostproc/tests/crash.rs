//! Crash consistency: hostproc is killed with SIGKILL at every named crash point
//! (`HOSTPROC_CRASH_AT`, see `hostproc_container::crashpoint::POINTS`), in each storage
//! mode where it matters; then `list` must still work and show no torn state, and
//! `hostproc delete --force ID` must leave the host as it was: no process of the job, no
//! cgroup, no mount, no ephemeral user, no uid lock, no created mount point, no state.
//!
//! One test per (point, mode), so a failure names the case; `every_point_has_a_case`
//! keeps the table in step with `POINTS`.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::lc::Scratch;
use common::*;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Default bind mode (rootfs at /hpc in a private mount namespace) with a volume
    /// whose destination does not exist (created and removed by hostproc).
    Bind,
    /// Host mode with a volume bound under the rootfs.
    Host,
    /// Bind mode, plus `hostproc.io/run-as-user-name: adm` (an ephemeral user). The
    /// `after-user` point always has the ephemeral user (in bind and host mode).
    User,
}

/// Which command meets each point.
fn command_for(point: &str) -> &'static str {
    match point {
        "after-state" | "after-cgroup" | "after-mounts" | "after-user" | "after-init"
        | "after-created" => "create",
        "after-running" => "run",
        "start-before-release" | "start-after-release" => "start",
        "exec-after-spawn" => "exec",
        "kill-after-signal" => "kill",
        "delete-after-kill" | "delete-after-job" => "delete",
        other => panic!("crash point {other:?} has no command in this table: add it"),
    }
}

/// `hostproc ARGS...` with stdio to fresh files (the payload may keep them open), and
/// `HOSTPROC_CRASH_AT` set when `crash` is given.
fn hp_crash(scratch: &mut Scratch, root: &Root, args: &[&str], crash: Option<&str>) -> Output {
    let (o, e) = scratch.pair();
    let mut cmd = Command::new(HOSTPROC);
    cmd.arg("--root").arg(root.path()).args(args.iter().map(OsStr::new));
    cmd.stdin(Stdio::null());
    cmd.stdout(Stdio::from(fs::File::create(&o).unwrap()));
    cmd.stderr(Stdio::from(fs::File::create(&e).unwrap()));
    match crash {
        Some(p) => {
            cmd.env("HOSTPROC_CRASH_AT", p);
        }
        None => {
            cmd.env_remove("HOSTPROC_CRASH_AT");
        }
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn hostproc");
    let (status, timed_out) = wait_child(&mut child, started + TIMEOUT);
    use std::os::unix::process::ExitStatusExt;
    Output {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout: fs::read_to_string(&o).unwrap_or_default(),
        stderr: fs::read_to_string(&e).unwrap_or_default(),
        elapsed: started.elapsed(),
        timed_out,
    }
}


/// The raw state file, if there is one.
fn raw_state(root: &Root, id: &str) -> Option<Value> {
    let text = fs::read(root.path().join(id).join("state.json")).ok()?;
    Some(serde_json::from_slice(&text).unwrap_or_else(|e| {
        panic!("state.json of {id} is torn after the crash ({e}): {}", String::from_utf8_lossy(&text))
    }))
}

/// `list` (table, json and -q) works and shows `id` once, with a sane status.
#[track_caller]
fn check_list(root: &Root, id: &str, case: &str) {
    let table = hostproc(root, &["list"]);
    table.assert_code(0);
    assert!(table.stderr.trim().is_empty(), "[{case}] list warned (torn or unreadable state?):\n{}", table.dump());
    let rows: Vec<&str> = table.stdout.lines().skip(1).filter(|l| l.split_whitespace().next() == Some(id)).collect();
    assert_eq!(rows.len(), 1, "[{case}] list's table should show {id} once:\n{}", table.dump());

    let json = hostproc(root, &["list", "--format", "json"]);
    json.assert_code(0);
    assert!(json.stderr.trim().is_empty(), "[{case}] list -f json warned:\n{}", json.dump());
    let v: Value = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("[{case}] list -f json is not JSON ({e}):\n{}", json.dump()));
    let arr = v.as_array().unwrap_or_else(|| panic!("[{case}] list -f json is not an array:\n{}", json.dump()));
    let mine: Vec<&Value> = arr.iter().filter(|e| e["id"] == id).collect();
    assert_eq!(mine.len(), 1, "[{case}] list -f json should show {id} once:\n{}", json.dump());
    let status = mine[0]["status"].as_str().unwrap_or("");
    assert!(
        ["creating", "created", "running", "paused", "stopped"].contains(&status),
        "[{case}] list shows status {status:?}:\n{}",
        json.dump()
    );
    for k in ["ociVersion", "bundle", "created"] {
        assert!(mine[0][k].is_string(), "[{case}] list entry lacks {k}:\n{}", json.dump());
    }
    assert!(mine[0]["pid"].is_i64(), "[{case}] list entry lacks pid:\n{}", json.dump());

    let st = hostproc(root, &["state", id]);
    st.assert_code(0);
    let sv: Value = serde_json::from_str(&st.stdout).unwrap_or_else(|e| panic!("[{case}] state is not JSON ({e}):\n{}", st.dump()));
    assert_eq!(sv["status"], status, "[{case}] state and list disagree:\n{}", st.dump());
}

/// Runs `delete --force` when dropped, so a failing case leaves nothing running.
struct ForceDelete<'a>(&'a Root, String);

impl Drop for ForceDelete<'_> {
    fn drop(&mut self) {
        let _ = common::lc::hp(self.0, &["delete", "--force", &self.1]);
    }
}

fn crash_case(point: &str, mode: Mode) {
    let case = format!("{point} / {mode:?}");
    let root = Root::new();
    let mut scratch = Scratch::new();
    let vol_src = tempdir();
    fs::write(vol_src.path().join("vol-file"), "volume\n").unwrap();
    let dest_parent = tempdir();
    let mut b = Bundle::new();
    b.sh("echo started; sleep 60 & wait");
    // The created mount point whose removal we check.
    let created_point: PathBuf = match mode {
        Mode::Host => {
            b.host_mode();
            b.bind(vol_src.path(), "/crash-vol", &[]);
            b.rootfs().join("crash-vol")
        }
        Mode::Bind | Mode::User => {
            // Its parent is missing too: hostproc makes and removes both.
            let d = dest_parent.path().join("made-parent/vol-dest");
            b.bind(vol_src.path(), d.to_str().unwrap(), &[]);
            d
        }
    };
    // The user point is only met when there is an ephemeral user to make.
    if mode == Mode::User || point == "after-user" {
        b.annotation("hostproc.io/run-as-user-name", "adm");
    }
    b.grace("1s");
    b.write();
    // Short ids keep the whole id in the ephemeral user's name.
    let id = unique_id(&format!("c{}", point.chars().filter(|c| *c != '-').take(6).collect::<String>()));
    let bundle = b.path().to_str().unwrap().to_owned();
    let cmd = command_for(point);
    let _guard = ForceDelete(&root, id.clone());

    // Get the container to where the command under test meets the point.
    let mut exec_pids = Vec::new();
    let crashed = match cmd {
        "create" => hp_crash(&mut scratch, &root, &["create", "--bundle", &bundle, &id], Some(point)),
        "run" => hp_crash(&mut scratch, &root, &["run", "--bundle", &bundle, &id], Some(point)),
        _ => {
            hp_crash(&mut scratch, &root, &["create", "--bundle", &bundle, &id], None).assert_code(0);
            if cmd == "start" {
                hp_crash(&mut scratch, &root, &["start", &id], Some(point))
            } else {
                let started = hp_crash(&mut scratch, &root, &["start", &id], None);
                if started.code != Some(0) {
                    let _ = hp_crash(&mut scratch, &root, &["delete", "--force", &id], None);
                    panic!("[{case}] `create` succeeded but `start` right after it failed (the held init died after create returned?):\n{}", started.dump());
                }
                match cmd {
                    "exec" => hp_crash(&mut scratch, &root, &["exec", &id, "/bin/sh", "-c", "sleep 60"], Some(point)),
                    "kill" => hp_crash(&mut scratch, &root, &["kill", &id, "TERM"], Some(point)),
                    "delete" => hp_crash(&mut scratch, &root, &["delete", "--force", &id], Some(point)),
                    _ => unreachable!(),
                }
            }
        }
    };
    assert_eq!(
        crashed.signal,
        Some(9),
        "[{case}] `{cmd}` with HOSTPROC_CRASH_AT={point} should die by SIGKILL:\n{}",
        crashed.dump()
    );

    // What exists now, to check it is all gone after delete --force.
    // Each process as (pid, start time), so that a pid recycled meanwhile is neither
    // waited for nor killed.
    let st = raw_state(&root, &id);
    let mut pids: Vec<ProcId> = processes_in_cgroup(&id).into_iter().filter_map(ProcId::of).collect();
    if cmd == "exec" {
        exec_pids = pids.iter().map(|p| p.pid).collect();
    }
    let mut uid_lock = None;
    if let Some(st) = &st {
        // Only a pid whose start time matches the record is ours.
        let recorded = |pid: &Value, start: &Value| -> Option<ProcId> {
            let pid = pid.as_i64().filter(|p| *p > 0)? as i32;
            ProcId::matching(pid, start.as_u64()?)
        };
        pids.extend(recorded(&st["pid"], &st["hostproc"]["init_start"]));
        pids.extend(recorded(&st["hostproc"]["supervisor"][0], &st["hostproc"]["supervisor"][1]));
        if let Some(uid) = st["hostproc"]["ephemeral"]["uid"].as_u64() {
            uid_lock = Some(PathBuf::from(format!("/run/systemd/dynamic-uid/{uid}")));
        }
    }
    pids.sort();
    pids.dedup();

    // The crash really happened where the point says: what should exist there does.
    let order = hostproc_container::crashpoint::POINTS;
    let at = |p: &str| order.iter().position(|x| *x == p).unwrap();
    let here = at(point);
    let with_user = mode == Mode::User || point == "after-user";
    let mut missing = Vec::new();
    if here >= at("after-cgroup") && point != "delete-after-job" && cgroups_named(&id).is_empty() {
        missing.push("the job's cgroup".to_owned());
    }
    if mode == Mode::Host && (at("after-mounts")..at("kill-after-signal")).contains(&here) && !created_point.join("vol-file").exists() {
        missing.push(format!("the host-mode volume at {}", created_point.display()));
    }
    if with_user && here >= at("after-user") && ephemeral_users_for(&id).is_empty() {
        missing.push("the ephemeral user".to_owned());
    }
    // (A crash inside create may take the held init with it, through its parent-death
    // signal: either way is fine, delete --force must clean up. Once create returned,
    // init must live on.)
    if (at("start-before-release")..at("kill-after-signal")).contains(&here) && processes_in_cgroup(&id).iter().all(|p| !pid_alive(*p)) {
        missing.push("a live process in the job".to_owned());
    }
    if cmd == "exec" && exec_pids.len() < 2 {
        missing.push(format!("the exec'd process next to init (job has {exec_pids:?})"));
    }
    if st.is_none() {
        missing.push("the state file".to_owned());
    }
    assert!(missing.is_empty(), "[{case}] right after the crash, missing: {}", missing.join(", "));

    // list never shows a torn or unreadable state.
    check_list(&root, &id, &case);

    // Recovery.
    let del = hp_crash(&mut scratch, &root, &["delete", "--force", &id], None);
    assert!(del.code == Some(0), "[{case}] delete --force after the crash failed:\n{}", del.dump());

    let mut problems = Vec::new();
    for p in &pids {
        if !p.wait_gone(Duration::from_secs(10)) {
            let cmdline = fs::read_to_string(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default().replace('\0', " ");
            problems.push(format!("process {} still alive after delete --force: {cmdline}", p.pid));
        }
    }
    for p in processes_in_cgroup(&id) {
        if pid_alive(p) {
            problems.push(format!("process {p} still in the job's cgroup"));
        }
    }
    for u in ephemeral_users_for(&id) {
        problems.push(format!("ephemeral user left in /etc/passwd: {u}"));
    }
    if let Some(l) = &uid_lock {
        if l.exists() {
            problems.push(format!("uid lock left: {}", l.display()));
        }
    }
    if created_point.exists() {
        problems.push(format!("created mount point left: {}", created_point.display()));
    }
    if mode != Mode::Host {
        let parent = created_point.parent().unwrap();
        if parent.exists() {
            problems.push(format!("created parent of the mount point left: {}", parent.display()));
        }
        for p in [&created_point, parent] {
            if mountpoint_lock(p).exists() {
                problems.push(format!("mount point lock file left: {}", mountpoint_lock(p).display()));
            }
        }
    }
    if root.path().join(&id).exists() {
        problems.push(format!("state dir left: {}", root.path().join(&id).display()));
    }
    // Clean up whatever a failure left (best effort) before reporting.
    if !problems.is_empty() {
        for p in &pids {
            // Processes this test made (the job's, hostproc's own), while their pids
            // still name them.
            p.kill();
        }
        let _ = hp_crash(&mut scratch, &root, &["delete", "--force", &id], None);
    }
    assert!(problems.is_empty(), "[{case}] after delete --force:\n{}", problems.join("\n"));
    cleanup_check(&root, &b, &id, &[vol_src.path(), dest_parent.path()]);
    let after = hostproc(&root, &["list", "-q"]);
    after.assert_code(0);
    assert!(!after.stdout.lines().any(|l| l == id), "[{case}] list still shows {id}:\n{}", after.dump());
}

macro_rules! crash_cases {
    ($($name:ident: $point:literal,)*) => {
        /// Every point of `POINTS` has its tests here.
        #[test]
        fn every_point_has_a_case() {
            let covered = [$($point),*];
            for p in hostproc_container::crashpoint::POINTS {
                assert!(covered.contains(p), "crash point {p:?} has no test in crash.rs: add it to crash_cases!");
                command_for(p);
            }
        }
        $(
            mod $name {
                use super::*;
                #[test]
                fn bind() {
                    crash_case($point, Mode::Bind);
                }
                #[test]
                fn host() {
                    crash_case($point, Mode::Host);
                }
                #[test]
                fn user() {
                    crash_case($point, Mode::User);
                }
            }
        )*
    };
}

crash_cases! {
    after_state: "after-state",
    after_cgroup: "after-cgroup",
    after_mounts: "after-mounts",
    after_user: "after-user",
    after_init: "after-init",
    after_created: "after-created",
    after_running: "after-running",
    start_before_release: "start-before-release",
    start_after_release: "start-after-release",
    exec_after_spawn: "exec-after-spawn",
    kill_after_signal: "kill-after-signal",
    delete_after_kill: "delete-after-kill",
    delete_after_job: "delete-after-job",
}
