//! The runtime spec's hooks: each kind runs at its point of the lifecycle (create, start,
//! delete, and `run`), with the container's state on its stdin, exactly its args and env,
//! in the right mount namespace; failures stop create or start (and leave nothing), or
//! only warn (poststart, poststop); a timeout kills the hook.
//!
//! The recording hook is `/bin/sh -c SCRIPT` with its own argv[0]: it writes what it got
//! (stdin, argv, environment, mount namespace, whether it sees the rootfs at /hpc) into
//! files named after its kind in a temporary directory the test reads.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::lc::*;
use common::*;
use serde_json::{json, Value};

const KINDS: [&str; 6] = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

/// Writes `<dir>/<kind>.{state,argv,env,mnt,hpc,uid}` and appends the kind to `<dir>/order`.
const RECORD: &str = r#"k=$1; d=$2; m=$3
cat > "$d/$k.state"
cat /proc/$$/cmdline > "$d/$k.argv"
cat /proc/$$/environ > "$d/$k.env"
readlink /proc/$$/ns/mnt > "$d/$k.mnt"
if [ -e "/hpc/$m" ]; then echo yes; else echo no; fi > "$d/$k.hpc"
id -u > "$d/$k.uid"
echo "$k" >> "$d/order""#;

/// A hook recording what it got (see `RECORD`) as `kind`.
fn recorder(kind: &str, dir: &Path, marker: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": [format!("hook-argv0-{kind}"), "-c", RECORD, "sh", kind, dir.to_str().unwrap(), marker],
        "env": [format!("HOOK_KIND={kind}"), "SPACED=a b  c"],
    })
}

/// A hook that prints `boom-<kind>` on stderr and exits 3.
fn failing(kind: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["fail", "-c", "echo out-$1; echo boom-$1 >&2; exit 3", "sh", kind]})
}

/// Every kind recording into `dir`.
fn all_recording(b: &mut Bundle, dir: &Path) {
    let m = b.marker().to_owned();
    let hooks: serde_json::Map<String, Value> = KINDS.iter().map(|k| (k.to_string(), json!([recorder(k, dir, &m)]))).collect();
    b.set(&["hooks"], Value::Object(hooks));
}

fn read(dir: &Path, kind: &str, what: &str) -> String {
    fs::read_to_string(dir.join(format!("{kind}.{what}"))).unwrap_or_else(|e| panic!("the {kind} hook left no {what} ({e}): did it run?")).trim().to_owned()
}

fn state_of(dir: &Path, kind: &str) -> Value {
    let s = read(dir, kind, "state");
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("the {kind} hook's stdin is not JSON ({e}): {s:?}"))
}

fn nul_list(s: &str) -> Vec<String> {
    s.trim_end_matches('\0').split('\0').map(str::to_owned).collect()
}

fn ran(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("order")).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// Checks what the `kind` hook got: the state (status, id, pid, bundle), argv and env
/// exactly, and whether it ran in the container's mount namespace (`container_ns`) or the
/// host's.
#[track_caller]
fn check(dir: &Path, kind: &str, status: &str, id: &str, pid: i32, b: &Bundle, container_ns: Option<&str>) {
    let st = state_of(dir, kind);
    assert_eq!(st["status"], status, "{kind}: {st}");
    assert_eq!(st["id"], id, "{kind}: {st}");
    assert_eq!(st["pid"], pid, "{kind}: {st}");
    assert_eq!(st["bundle"], b.path().to_str().unwrap(), "{kind}: {st}");
    assert!(st["ociVersion"].as_str().is_some_and(|v| v.starts_with("1.")), "{kind}: {st}");
    // Exactly the hook's args, args[0] as argv[0]; exactly its env.
    let argv = nul_list(&read(dir, kind, "argv"));
    let marker = b.marker();
    let d = dir.to_str().unwrap();
    assert_eq!(argv, [format!("hook-argv0-{kind}").as_str(), "-c", RECORD, "sh", kind, d, marker], "{kind}: argv");
    assert_eq!(nul_list(&read(dir, kind, "env")), [format!("HOOK_KIND={kind}").as_str(), "SPACED=a b  c"], "{kind}: the environment");
    assert_eq!(read(dir, kind, "uid"), "0", "{kind}: hooks run as hostproc's user, not the payload's");
    match container_ns {
        Some(ns) => {
            assert_eq!(read(dir, kind, "mnt"), ns, "{kind} runs in the container's mount namespace");
            assert_eq!(read(dir, kind, "hpc"), "yes", "{kind} sees the rootfs at /hpc");
        }
        None => {
            assert_eq!(read(dir, kind, "mnt"), own_ns("mnt"), "{kind} runs in the host's mount namespace");
            assert_eq!(read(dir, kind, "hpc"), "no", "{kind} does not see the rootfs at /hpc");
        }
    }
}

#[track_caller]
fn assert_stderr_contains(out: &Output, needle: &str) {
    assert!(out.stderr.contains(needle), "expected {needle:?} in stderr:\n{}", out.dump());
}

/// create runs prestart, createRuntime (host) and createContainer (init's mount
/// namespace, where the rootfs is at /hpc) with the state "creating" and init's pid,
/// before the payload runs; start runs startContainer ("created", container namespace),
/// then the payload, then poststart ("running", host); delete runs poststop ("stopped").
/// `--debug` logs each hook.
#[test]
fn every_hook_runs_at_its_point_in_bind_mode() {
    let root = Root::new();
    let rec = tempdir();
    let ran_file = rec.path().join("payload-ran");
    let mut b = Bundle::new();
    b.sh(&format!("echo ran > {}; exec sleep 1000", ran_file.display())).grace("1s");
    all_recording(&mut b, rec.path());
    let c = Ctr::new(&root, &unique_id("hkbind"));
    let out = c.create(&b, &["--debug"]);
    out.assert_code(0);
    for k in ["prestart", "createRuntime", "createContainer"] {
        assert_stderr_contains(&out, &format!("running {k} hook #0 (/bin/sh)"));
    }
    assert_eq!(ran(rec.path()), ["prestart", "createRuntime", "createContainer"]);
    assert!(!ran_file.exists(), "the payload ran before start");
    let pid = c.pid();
    let init_ns = fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap().to_string_lossy().into_owned();
    assert_ne!(init_ns, own_ns("mnt"));
    check(rec.path(), "prestart", "creating", &c.id, pid, &b, None);
    check(rec.path(), "createRuntime", "creating", &c.id, pid, &b, None);
    check(rec.path(), "createContainer", "creating", &c.id, pid, &b, Some(&init_ns));

    let out = c.cmd("start", &["--debug"]);
    out.assert_code(0);
    assert_stderr_contains(&out, "running startContainer hook #0 (/bin/sh)");
    assert_stderr_contains(&out, "running poststart hook #0 (/bin/sh)");
    assert_eq!(ran(rec.path())[3..], ["startContainer", "poststart"]);
    check(rec.path(), "startContainer", "created", &c.id, pid, &b, Some(&init_ns));
    check(rec.path(), "poststart", "running", &c.id, pid, &b, None);
    assert!(wait_until(Duration::from_secs(10), || ran_file.exists()), "the payload never ran");
    assert!(!rec.path().join("poststop.state").exists(), "poststop ran before delete");

    c.kill("KILL").assert_code(0);
    assert!(c.wait_status("stopped", Duration::from_secs(10)));
    let out = c.cmd("delete", &["--debug"]);
    out.assert_code(0);
    assert_stderr_contains(&out, "running poststop hook #0 (/bin/sh)");
    assert_eq!(ran(rec.path()), KINDS);
    check(rec.path(), "poststop", "stopped", &c.id, pid, &b, None);
    cleanup_check(&root, &b, &c.id, &[]);
}

/// In host mode the container has no mount namespace of its own: createContainer and
/// startContainer run in the host's.
#[test]
fn container_hooks_run_in_the_hosts_namespace_in_host_mode() {
    let root = Root::new();
    let rec = tempdir();
    let mut b = Bundle::new();
    b.host_mode().sh("exec sleep 1000").grace("1s");
    all_recording(&mut b, rec.path());
    let c = Ctr::new(&root, &unique_id("hkhost"));
    c.create(&b, &[]).assert_code(0);
    let pid = c.pid();
    c.start().assert_code(0);
    check(rec.path(), "createContainer", "creating", &c.id, pid, &b, None);
    check(rec.path(), "startContainer", "created", &c.id, pid, &b, None);
    c.delete_force().assert_code(0);
    check(rec.path(), "poststop", "stopped", &c.id, pid, &b, None);
    cleanup_check(&root, &b, &c.id, &[]);
}

/// The container hooks join the mount namespace of an init that runs as another user
/// (and run as root themselves).
#[test]
fn container_hooks_join_the_namespace_of_a_non_root_payload() {
    let root = Root::new();
    let rec = tempdir();
    let mut b = Bundle::new();
    b.user(65534, 65534, &[], None).sh("exec sleep 1000").grace("1s");
    all_recording(&mut b, rec.path());
    let c = Ctr::new(&root, &unique_id("hkuser"));
    c.create(&b, &[]).assert_code(0);
    let pid = c.pid();
    let init_ns = fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap().to_string_lossy().into_owned();
    c.start().assert_code(0);
    check(rec.path(), "createContainer", "creating", &c.id, pid, &b, Some(&init_ns));
    check(rec.path(), "startContainer", "created", &c.id, pid, &b, Some(&init_ns));
    c.delete_force().assert_code(0);
    check(rec.path(), "poststop", "stopped", &c.id, pid, &b, None);
    cleanup_check(&root, &b, &c.id, &[]);
}

/// A failing prestart, createRuntime or createContainer hook fails create with runc's
/// wording, naming the hook and its stderr, and undoes everything (the held init, the
/// job, the mounts, the state); the hooks after it do not run, the poststop hooks do.
#[test]
fn a_failing_create_hook_fails_create_and_leaves_nothing() {
    let root = Root::new();
    for (i, kind) in ["prestart", "createRuntime", "createContainer"].into_iter().enumerate() {
        let rec = tempdir();
        let mut b = Bundle::new();
        let m = b.marker().to_owned();
        // prestart fails as hook #0; the others after a hook that works, as #1.
        let list = if i == 0 { json!([failing(kind)]) } else { json!([recorder(kind, rec.path(), &m), failing(kind)]) };
        b.set(&["hooks", kind], list)
            .set(&["hooks", "startContainer"], json!([recorder("startContainer", rec.path(), &m)]))
            .set(&["hooks", "poststop"], json!([recorder("poststop", rec.path(), &m)]));
        if kind != "createContainer" {
            b.set(&["hooks", "createContainer"], json!([recorder("createContainer", rec.path(), &m)]));
        }
        let c = Ctr::new(&root, &unique_id("hkfail"));
        let out = c.create(&b, &[]);
        out.assert_error();
        let n = if i == 0 { 0 } else { 1 };
        assert_stderr_contains(&out, &format!("error running {kind} hook #{n} (/bin/sh): exit status 3, stderr: boom-{kind}"));
        let expect: Vec<&str> = if i == 0 { vec!["poststop"] } else { vec![kind, "poststop"] };
        assert_eq!(ran(rec.path()), expect, "{kind}: the hooks after the failing one must not run");
        assert_eq!(state_of(rec.path(), "poststop")["status"], "stopped");
        cleanup_check(&root, &b, &c.id, &[]);
        assert!(hp(&root, &["state", &c.id]).code != Some(0), "{kind}: the container still exists");
    }
}

/// A hook that outlives its timeout is killed (with what it started) and fails create,
/// which leaves nothing.
#[test]
fn a_hook_past_its_timeout_is_killed_and_fails_create() {
    let root = Root::new();
    let rec = tempdir();
    let pids = rec.path().join("pids");
    let mut b = Bundle::new();
    let script = format!("sleep 60 & echo $$ $! > {}; wait", pids.display());
    b.set(&["hooks", "createRuntime"], json!([{"path": "/bin/sh", "args": ["slow", "-c", script], "timeout": 1}]));
    let c = Ctr::new(&root, &unique_id("hktime"));
    let t = Instant::now();
    let out = c.create(&b, &[]);
    out.assert_error();
    assert!(t.elapsed() < Duration::from_secs(15), "create waited {:?} for a hook with a 1 s timeout", t.elapsed());
    assert_stderr_contains(&out, "error running createRuntime hook #0 (/bin/sh): timed out after 1 s");
    let pids: Vec<i32> = fs::read_to_string(&pids).unwrap().split_whitespace().map(|p| p.parse().unwrap()).collect();
    for p in pids {
        assert!(wait_pid_gone(p, Duration::from_secs(5)), "the hook's process {p} was not killed");
    }
    cleanup_check(&root, &b, &c.id, &[]);
}

/// A failing startContainer hook fails start; the payload never runs and the container
/// is stopped (init killed); delete then works and runs poststop.
#[test]
fn a_failing_start_container_hook_fails_start_and_stops_the_container() {
    let root = Root::new();
    let rec = tempdir();
    let mut b = Bundle::new();
    let m = b.marker().to_owned();
    b.sh("echo payload-ran; exec sleep 1000").grace("1s");
    b.set(&["hooks", "startContainer"], json!([failing("startContainer")]))
        .set(&["hooks", "poststart"], json!([recorder("poststart", rec.path(), &m)]))
        .set(&["hooks", "poststop"], json!([recorder("poststop", rec.path(), &m)]));
    let c = Ctr::new(&root, &unique_id("hkstart"));
    c.create(&b, &[]).assert_code(0);
    let pid = c.pid();
    let out = c.start();
    out.assert_error();
    assert_stderr_contains(&out, "error running startContainer hook #0 (/bin/sh): exit status 3, stderr: boom-startContainer");
    assert_eq!(c.status(), "stopped");
    assert!(wait_pid_gone(pid, Duration::from_secs(10)), "init {pid} still runs");
    assert!(!c.payload_out().contains("payload-ran"), "the payload ran:\n{}", c.payload_out());
    assert!(ran(rec.path()).is_empty(), "poststart ran: {:?}", ran(rec.path()));
    c.delete().assert_code(0);
    assert_eq!(ran(rec.path()), ["poststop"]);
    cleanup_check(&root, &b, &c.id, &[]);
}

/// poststart and poststop failures are warnings: start and delete succeed, and the next
/// hook of the same kind still runs.
#[test]
fn failing_poststart_and_poststop_hooks_only_warn() {
    let root = Root::new();
    let rec = tempdir();
    let mut b = Bundle::new();
    let m = b.marker().to_owned();
    b.sh("exec sleep 1000").grace("1s");
    b.set(&["hooks", "poststart"], json!([failing("poststart"), recorder("poststart", rec.path(), &m)]))
        .set(&["hooks", "poststop"], json!([failing("poststop"), recorder("poststop", rec.path(), &m)]));
    let c = Ctr::new(&root, &unique_id("hkwarn"));
    c.create(&b, &[]).assert_code(0);
    let out = c.start();
    out.assert_code(0);
    assert_stderr_contains(&out, "WARN error running poststart hook #0 (/bin/sh): exit status 3, stderr: boom-poststart");
    assert_eq!(c.status(), "running");
    assert_eq!(ran(rec.path()), ["poststart"]);
    let out = c.delete_force();
    out.assert_code(0);
    assert_stderr_contains(&out, "WARN error running poststop hook #0 (/bin/sh): exit status 3, stderr: boom-poststop");
    assert_eq!(ran(rec.path()), ["poststart", "poststop"]);
    cleanup_check(&root, &b, &c.id, &[]);
}

/// `hostproc run` runs every hook at the same points: the create-time and startContainer
/// hooks before the payload (createContainer and startContainer in its mount namespace),
/// poststart while it runs, poststop after everything is gone.
#[test]
fn run_runs_every_hook() {
    let root = Root::new();
    let rec = tempdir();
    let mut b = Bundle::new();
    let order = rec.path().join("order");
    b.sh(&format!("echo payload >> {}; echo ns=$(readlink /proc/self/ns/mnt); echo pid=$$; exit 7", order.display()));
    all_recording(&mut b, rec.path());
    let id = unique_id("hkrun");
    let out = run(&root, &b, &id);
    out.assert_code(7);
    let ns = out.must_value("ns");
    let pid: i32 = out.must_value("pid").parse().unwrap();
    let mut expect: Vec<&str> = KINDS.to_vec();
    // poststart runs once the payload has exec'd: before or after its first line.
    let got = ran(rec.path());
    expect.insert(4, "payload");
    let mut sorted = got.clone();
    if sorted.get(4).map(String::as_str) == Some("poststart") {
        sorted.swap(4, 5);
    }
    assert_eq!(sorted, expect, "order: {got:?}");
    check(rec.path(), "prestart", "creating", &id, pid, &b, None);
    check(rec.path(), "createRuntime", "creating", &id, pid, &b, None);
    check(rec.path(), "createContainer", "creating", &id, pid, &b, Some(&ns));
    check(rec.path(), "startContainer", "created", &id, pid, &b, Some(&ns));
    check(rec.path(), "poststart", "running", &id, pid, &b, None);
    check(rec.path(), "poststop", "stopped", &id, pid, &b, None);
    cleanup_check(&root, &b, &id, &[]);
}

/// `run` with a failing startContainer hook fails before the payload runs and leaves
/// nothing; its poststop hooks run.
#[test]
fn run_with_a_failing_start_container_hook_fails_and_leaves_nothing() {
    let root = Root::new();
    let rec = tempdir();
    let mut b = Bundle::new();
    let m = b.marker().to_owned();
    b.sh("echo payload-ran");
    b.set(&["hooks", "startContainer"], json!([failing("startContainer")]))
        .set(&["hooks", "poststop"], json!([recorder("poststop", rec.path(), &m)]));
    let id = unique_id("hkrunf");
    let out = run(&root, &b, &id);
    out.assert_error();
    assert_stderr_contains(&out, "error running startContainer hook #0 (/bin/sh): exit status 3, stderr: boom-startContainer");
    assert!(!out.stdout.contains("payload-ran"), "{}", out.dump());
    assert_eq!(ran(rec.path()), ["poststop"]);
    cleanup_check(&root, &b, &id, &[]);
}

/// A hook's path must be absolute and its timeout above zero: create refuses the spec
/// naming the field, before anything is made.
#[test]
fn bad_hooks_are_refused_naming_the_field() {
    let root = Root::new();
    for (hook, field) in [
        (json!({"path": "true"}), "hooks.poststop[0].path"),
        (json!({"path": "/bin/true", "timeout": 0}), "hooks.poststop[0].timeout"),
    ] {
        let mut b = Bundle::new();
        b.set(&["hooks", "poststop"], json!([hook]));
        let c = Ctr::new(&root, &unique_id("hkbad"));
        let out = c.create(&b, &[]);
        out.assert_error();
        assert_stderr_contains(&out, field);
        cleanup_check(&root, &b, &c.id, &[]);
    }
}

/// A hook that cannot be executed fails create, saying so.
#[test]
fn a_missing_hook_program_fails_create() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.set(&["hooks", "createRuntime"], json!([{"path": "/nonexistent/hook"}]));
    let c = Ctr::new(&root, &unique_id("hkmiss"));
    let out = c.create(&b, &[]);
    out.assert_error();
    assert_stderr_contains(&out, "error running createRuntime hook #0 (/nonexistent/hook): cannot execute it: No such file or directory");
    cleanup_check(&root, &b, &c.id, &[]);
}

/// `features` lists the six hooks.
#[test]
fn features_lists_the_hooks() {
    let root = Root::new();
    let out = hp(&root, &["features"]);
    out.assert_code(0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["hooks"], json!(KINDS), "{v:#}");
}
