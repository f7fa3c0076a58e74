//! The runc command line as containerd's runc shim and operators drive it: create, start,
//! state, kill, delete, run --detach, exec, ps, events, pause/resume, update, list,
//! features, the global flags, concurrency, the supervisor that stops the job when init
//! exits, and the console socket. Every test runs the real binary with its own `--root`
//! and ends with `delete --force` and a check that nothing was left behind.

mod common;

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

// ---------------------------------------------------------------------------------------
// create / start / state / kill / delete
// ---------------------------------------------------------------------------------------

/// The containerd sequence: create (init held before exec, pid file written atomically
/// and equal to state's pid, init already in its job) -> state created -> start -> state
/// running -> kill -> stopped (pid 0) -> delete -> gone.
#[test]
fn create_start_kill_delete() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("life");
    let c = Ctr::new(&root, &id);
    let pid_file = c.scratch().join("pids").join("init.pid");
    fs::create_dir_all(pid_file.parent().unwrap()).unwrap();

    // Watch the pid file while create runs: whenever it exists it must hold a whole pid.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, p) = (done.clone(), pid_file.clone());
        thread::spawn(move || {
            let mut bad = Vec::new();
            while !done.load(Ordering::SeqCst) {
                if let Ok(s) = fs::read_to_string(&p) {
                    if s.trim().parse::<i32>().is_err() {
                        bad.push(s);
                    }
                }
                thread::sleep(Duration::from_micros(200));
            }
            bad
        })
    };
    let out = c.create(&b, &["--pid-file", pid_file.to_str().unwrap()]);
    done.store(true, Ordering::SeqCst);
    let partial = watcher.join().unwrap();
    out.assert_code(0);
    assert!(
        partial.is_empty(),
        "the pid file was seen half-written: {partial:?}"
    );

    let st = c.state();
    assert_eq!(st["status"], "created", "{st:#}");
    assert_eq!(st["id"], id.as_str());
    let pid = st["pid"].as_i64().expect("pid") as i32;
    assert!(pid > 1 && pid_alive(pid), "init {pid} not alive: {st:#}");
    let written = fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(
        written.trim().parse::<i32>().ok(),
        Some(pid),
        "pid file {written:?} != state pid {pid}"
    );
    let names: Vec<_> = fs::read_dir(pid_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["init.pid".to_owned()],
        "temporary files left beside the pid file"
    );
    assert!(
        cgroup_text(pid).contains(&id),
        "init is not in its job when create returned:\n{}",
        cgroup_text(pid)
    );
    // runc's state fields.
    assert!(st["ociVersion"].as_str().is_some_and(|v| v.starts_with("1.")), "{st:#}");
    assert_eq!(
        Path::new(st["bundle"].as_str().unwrap()).canonicalize().unwrap(),
        b.path().canonicalize().unwrap()
    );
    assert_eq!(
        Path::new(st["rootfs"].as_str().unwrap()).canonicalize().unwrap(),
        b.rootfs().canonicalize().unwrap()
    );
    assert!(is_rfc3339(st["created"].as_str().unwrap_or("")), "{st:#}");
    assert_eq!(st["owner"], "root", "{st:#}");
    assert_eq!(
        st["annotations"]["microsoft.com/hostprocess-container"], "true",
        "{st:#}"
    );
    // Held before exec: the payload has not run.
    thread::sleep(Duration::from_millis(300));
    assert!(
        !c.payload_out().contains("payload-ran"),
        "the payload ran before start"
    );

    c.start().assert_code(0);
    let st = c.state();
    assert_eq!(st["status"], "running", "{st:#}");
    assert_eq!(st["pid"].as_i64(), Some(pid as i64), "{st:#}");
    c.expect_out("payload-ran", secs(10));
    // start is for created containers only.
    c.start().assert_error();

    c.kill("SIGTERM").assert_code(0);
    assert!(wait_pid_gone(pid, secs(10)), "init survived SIGTERM");
    assert!(
        c.wait_status("stopped", SLACK),
        "never stopped: {:#}",
        c.state()
    );
    assert_eq!(c.pid(), 0, "a stopped container's pid is 0");

    c.delete().assert_code(0);
    let out = c.cmd("state", &[]);
    out.assert_error();
    assert_stderr_contains(&out, "does not exist");
    cleanup_check(&root, &b, &id, &[]);
}

/// A program that does not exist fails create (as runc's does), naming it; nothing is left.
#[test]
fn create_of_missing_program_fails_clearly() {
    for prog in ["/nonexistent-dir/hpt-no-such-program", "hpt-no-such-program"] {
        let root = Root::new();
        let mut b = Bundle::new();
        b.args(&[prog, "arg"]);
        let id = unique_id("noprog");
        let c = Ctr::new(&root, &id);
        let out = c.create(&b, &[]);
        out.assert_error();
        assert_stderr_contains(&out, "hpt-no-such-program");
        cleanup_check(&root, &b, &id, &[]);
    }
}

/// What only the exec itself can find out (a file the kernel cannot execute) fails start
/// with a message naming it; the container is then stopped, and a plain delete removes
/// everything.
#[test]
fn start_of_unexecutable_program_fails_clearly() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.write_file("hpt-not-a-program", "\x01\x02 not an executable format\n", 0o755);
    b.args(&["$CONTAINER_SANDBOX_MOUNT_POINT/hpt-not-a-program", "arg"]);
    let id = unique_id("noexec");
    let c = Ctr::new(&root, &id);
    c.create(&b, &[]).assert_code(0);
    let out = c.start();
    out.assert_error();
    assert_stderr_contains(&out, "hpt-not-a-program");
    assert!(c.wait_status("stopped", SLACK), "not stopped after a failed start: {:#}", c.state());
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// Capabilities that cannot be applied fail create, not start (runc: `unable to apply
/// caps`): an ambient capability that is not inheritable anywhere, and, where the host's
/// bounding set lacks one (CAP_SYS_RESOURCE here), that one. Nothing is left.
#[test]
fn capabilities_that_cannot_be_applied_fail_create() {
    let root = Root::new();
    let mut specs = vec![(
        json!({"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"], "inheritable": [], "ambient": ["CAP_CHOWN"]}),
        "process.capabilities.ambient",
    )];
    if let Some(cap) = capability_missing_from_bounding_set() {
        specs.push((json!({"bounding": [cap], "effective": [cap], "permitted": [cap]}), "process.capabilities"));
    }
    for (caps, field) in specs {
        let mut b = Bundle::new();
        b.args(&["/bin/true"]).process_field("capabilities", caps.clone());
        let id = unique_id("capfail");
        let c = Ctr::new(&root, &id);
        let out = c.create(&b, &[]);
        out.assert_error();
        assert_stderr_contains(&out, field);
        cleanup_check(&root, &b, &id, &[]);
    }
}

/// A capability this process's bounding set lacks (the host's limit), by name.
fn capability_missing_from_bounding_set() -> Option<String> {
    const NAMES: [&str; 41] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let bnd = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?.trim();
    let bnd = u64::from_str_radix(bnd, 16).ok()?;
    NAMES.iter().enumerate().find(|(i, _)| bnd & (1 << i) == 0).map(|(_, n)| n.to_string())
}

/// run --detach returns once the payload runs; the container is then driven as usual.
#[test]
fn run_detach() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("rund");
    let c = Ctr::new(&root, &id);
    let pid_file = c.scratch().join("run.pid");
    let out = c.run_detached(&b, &["--pid-file", pid_file.to_str().unwrap()]);
    out.assert_code(0);
    assert!(out.elapsed < secs(30), "run --detach did not return: {out:?}");
    let st = c.state();
    assert_eq!(st["status"], "running", "{st:#}");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(pid_alive(pid));
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    c.expect_out("payload-ran", secs(10));
    c.kill("9").assert_code(0);
    assert!(c.wait_status("stopped", SLACK), "{:#}", c.state());
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// kill takes SIGNAME, NAME or a number; an unknown signal is an error; kill without
/// --all on a stopped container reports it is not running.
#[test]
fn kill_signal_forms() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("1s").sh(
        "trap 'echo got=USR1' USR1; trap 'echo got=HUP' HUP; trap 'echo got=USR2' USR2; \
         trap 'echo got=TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
    );
    let id = unique_id("sigs");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    c.expect_out("ready", secs(10));

    c.kill("SIGUSR1").assert_code(0);
    c.expect_out("got=USR1", secs(10));
    c.kill("HUP").assert_code(0);
    c.expect_out("got=HUP", secs(10));
    c.kill(&libc::SIGUSR2.to_string()).assert_code(0);
    c.expect_out("got=USR2", secs(10));

    for bad in ["SIGNOPE", "NOPE", "999"] {
        let out = c.kill(bad);
        out.assert_error();
        assert_stderr_contains(&out, bad);
    }
    assert_eq!(c.status(), "running", "an invalid kill changed the container");

    c.kill("TERM").assert_code(0);
    c.expect_out("got=TERM", secs(10));
    assert!(c.wait_status("stopped", SLACK), "{:#}", c.state());
    let out = c.kill("KILL");
    out.assert_error();
    assert_stderr_contains(&out, "not running");
    finish(&c, &b);
}

/// kill --all signals every process of the job; on a stopped container it succeeds (the
/// shim calls `kill --all ID 9` after init exits).
#[test]
fn kill_all_running_and_stopped() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("30s")
        .sh("sleep 1000 & echo bg1=$!; sleep 1000 & echo bg2=$!; echo ready; wait");
    let id = unique_id("killall");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    c.expect_out("ready", secs(10));
    let init = c.pid();
    let bg1: i32 = c.out_value("bg1").unwrap().parse().unwrap();
    let bg2: i32 = c.out_value("bg2").unwrap().parse().unwrap();
    let t = Instant::now();
    c.kill_all("KILL").assert_code(0);
    for p in [init, bg1, bg2] {
        assert!(wait_pid_gone(p, secs(10)), "pid {p} survived kill --all KILL");
    }
    // The grace is 30 s: kill --all itself must have ended them, not the supervisor.
    assert!(c.wait_status("stopped", SLACK), "{:#}", c.state());
    assert!(t.elapsed() < secs(25), "took {:?}", t.elapsed());

    c.kill_all("9").assert_code(0);
    c.kill_all("SIGKILL").assert_code(0);
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// containerd's shim sends `kill --all ID 9` as soon as init exits; the rest of the job
/// still gets its grace period first (SIGTERM, wait, kill), as a HostProcess stop does:
/// `kill --all` waits for the supervisor, and a process that handles SIGTERM slowly
/// finishes its work before the kill.
#[test]
fn kill_all_after_init_exit_keeps_the_grace_period() {
    let root = Root::new();
    let mut b = Bundle::new();
    let done = tempdir();
    let marker = done.path().join("cleaned-up");
    // The background process takes 1 s to clean up on SIGTERM; init exits on its own.
    b.grace("20s").sh(&format!(
        "sh -c 'trap \"sleep 1; echo done > {m}; exit 0\" TERM; echo bg=$$; while :; do sleep 0.1; done' & \
         sleep 0.3; echo ready; exec sleep 1000",
        m = marker.display()
    ));
    let id = unique_id("killgrace");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    c.expect_out("ready", secs(10));
    let bg: i32 = c.out_value("bg").unwrap().parse().unwrap();
    let init = c.pid();
    assert!(init > 0, "{:#}", c.state());
    c.kill("KILL").assert_code(0);
    assert!(wait_pid_gone(init, secs(10)));
    c.kill_all("9").assert_code(0);
    assert!(
        fs::read_to_string(&marker).is_ok_and(|m| m.trim() == "done"),
        "the background process was killed before its SIGTERM handler finished"
    );
    assert!(wait_pid_gone(bg, secs(10)));
    assert!(c.wait_status("stopped", SLACK), "{:#}", c.state());
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// delete without --force refuses a running container with runc's message and leaves it
/// running.
#[test]
fn delete_running_without_force_fails() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("delrun");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    let pid = c.pid();
    let out = c.delete();
    out.assert_error();
    assert_stderr_contains(
        &out,
        &format!("cannot delete container {id} that is not stopped: running"),
    );
    assert_eq!(c.status(), "running");
    assert!(pid_alive(pid));
    finish(&c, &b);
}

/// As runc does, delete without --force removes a created (never started) container: its
/// held init is killed and nothing is left.
#[test]
fn delete_created_without_force_removes_it() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("delcr");
    let c = Ctr::new(&root, &id);
    c.create(&b, &[]).assert_code(0);
    let init = c.pid();
    c.delete().assert_code(0);
    assert!(wait_pid_gone(init, secs(10)), "the held init {init} survived delete");
    assert!(!c.payload_out().contains("payload-ran"), "delete started the payload");
    c.cmd("state", &[]).assert_error();
    cleanup_check(&root, &b, &id, &[]);
}

/// delete --force works from created, running, paused and stopped, and for an unknown id.
#[test]
fn delete_force_from_every_state() {
    let root = Root::new();
    for state in ["created", "running", "paused", "stopped"] {
        let mut b = Bundle::new();
        b.grace("1s").sh("echo payload-ran; sleep 1000 & exec sleep 1000");
        let id = unique_id(state);
        let c = Ctr::new(&root, &id);
        c.create(&b, &[]).assert_code(0);
        let init = c.pid();
        if state != "created" {
            c.start().assert_code(0);
        }
        if state == "paused" {
            c.cmd("pause", &[]).assert_code(0);
        }
        if state == "stopped" {
            c.kill("KILL").assert_code(0);
            assert!(c.wait_status("stopped", SLACK), "{:#}", c.state());
        }
        assert_eq!(c.status(), state);
        let t = Instant::now();
        let out = c.delete_force();
        out.assert_code(0);
        assert!(
            t.elapsed() < secs(30),
            "delete --force of a {state} container took {:?}",
            t.elapsed()
        );
        assert!(!pid_alive(init), "init {init} survived delete --force ({state})");
        assert!(
            processes_in_cgroup(&id).iter().all(|p| !pid_alive(*p)),
            "processes left in the job after delete --force ({state})"
        );
        let out = c.cmd("state", &[]);
        out.assert_error();
        cleanup_check(&root, &b, &id, &[]);
    }
    let out = hp(&root, &["delete", "--force", &unique_id("never")]);
    out.assert_code(0);
    let out = hp(&root, &["delete", &unique_id("never")]);
    out.assert_error();
    assert_stderr_contains(&out, "does not exist");
}

/// Every command that takes an id fails cleanly for an unknown one, with the wording
/// containerd recognises.
#[test]
fn unknown_id_is_reported() {
    let root = Root::new();
    let id = unique_id("unknown");
    let cmds: Vec<Vec<&str>> = vec![
        vec!["state", &id],
        vec!["start", &id],
        vec!["kill", &id, "KILL"],
        vec!["kill", "--all", &id, "KILL"],
        vec!["delete", &id],
        vec!["exec", &id, "/bin/true"],
        vec!["ps", &id],
        vec!["events", "--stats", &id],
        vec!["pause", &id],
        vec!["resume", &id],
        vec!["update", "--memory", "100000000", &id],
    ];
    for args in cmds {
        let out = hp(&root, &args);
        assert_eq!(out.code, Some(1), "{args:?}:\n{}", out.dump());
        assert!(
            out.stderr.contains(&format!("container {id} does not exist")),
            "{args:?}: expected \"container {id} does not exist\":\n{}",
            out.dump()
        );
    }
}

// ---------------------------------------------------------------------------------------
// exec
// ---------------------------------------------------------------------------------------

/// exec with a command line: output and exit code propagated; --cwd and --env applied.
#[test]
fn exec_args_exit_code_cwd_env() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("execa");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);

    let out = c.exec(&[], &["/bin/sh", "-c", "echo out=hello; exit 7"]);
    out.assert_code(7);
    assert_eq!(out.must_value("out"), "hello");
    let out = c.exec(&[], &["/bin/true"]);
    out.assert_code(0);
    let out = c.exec(
        &["--cwd", "/tmp", "--env", "HPT_FOO=bar baz"],
        &["/bin/sh", "-c", "echo cwd=$(pwd); echo foo=$HPT_FOO"],
    );
    out.assert_code(0);
    assert_eq!(out.must_value("cwd"), "/tmp");
    assert_eq!(out.must_value("foo"), "bar baz");
    // A killed exec process: 128+N, as a shell reports it.
    let out = c.exec(&[], &["/bin/sh", "-c", "kill -9 $$"]);
    out.assert_code(137);
    // A program that does not exist fails the exec, naming it.
    let out = c.exec(&[], &["/nonexistent/hpt-exec-missing"]);
    assert_ne!(out.code, Some(0), "{}", out.dump());
    assert_stderr_contains(&out, "hpt-exec-missing");
    assert_eq!(c.status(), "running", "a failed exec changed the container");
    finish(&c, &b);
}

/// exec --process FILE (the shim's form): args, env, cwd, user and rlimits from the JSON.
#[test]
fn exec_process_json() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("execp");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    let pj = c.scratch().join("process.json");
    fs::write(
        &pj,
        serde_json::to_vec(&json!({
            "terminal": false,
            "user": {"uid": 65534, "gid": 65534},
            "args": ["/bin/sh", "-c", "echo foo=$HPT_FOO; echo cwd=$(pwd); echo uid=$(id -u); echo nofile=$(ulimit -n); exit 3"],
            "env": [format!("PATH={DEFAULT_PATH}"), "HPT_FOO=from-json"],
            "cwd": "/tmp",
            // As containerd passes them for an exec: the process's own rlimits apply.
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 321}]
        }))
        .unwrap(),
    )
    .unwrap();
    let out = c.exec(&["--process", pj.to_str().unwrap()], &[]);
    out.assert_code(3);
    assert_eq!(out.must_value("foo"), "from-json");
    assert_eq!(out.must_value("cwd"), "/tmp");
    assert_eq!(out.must_value("uid"), "65534");
    assert_eq!(out.must_value("nofile"), "321", "exec --process must apply process.rlimits");
    finish(&c, &b);
}

/// exec --detach --pid-file: returns at once, the pid file names the process, which runs in
/// the container's job and is listed by ps.
#[test]
fn exec_detach_pid_file_joins_the_job() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("execd");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    let init = c.pid();
    let pf = c.scratch().join("exec.pid");
    let out = c.exec(
        &["--detach", "--pid-file", pf.to_str().unwrap()],
        &["/bin/sh", "-c", "exec sleep 1000"],
    );
    out.assert_code(0);
    assert!(out.elapsed < secs(30), "exec --detach did not return: {}", out.dump());
    let pid: i32 = fs::read_to_string(&pf)
        .expect("exec pid file")
        .trim()
        .parse()
        .expect("a pid");
    assert!(pid_alive(pid), "the detached exec process {pid} is not running");
    assert_eq!(
        cgroup_text(pid),
        cgroup_text(init),
        "the exec process is not in init's cgroups"
    );
    let out = c.cmd("ps", &["--format", "json"]);
    out.assert_code(0);
    let pids: Vec<i64> = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(pids.contains(&(pid as i64)), "ps misses the exec: {pids:?}");
    // Stopping the container stops the exec too.
    c.kill("KILL").assert_code(0);
    assert!(c.wait_status("stopped", SLACK + secs(1)), "{:#}", c.state());
    assert!(wait_pid_gone(pid, secs(10)), "exec {pid} survived the container's stop");
    c.kill_all("KILL").assert_code(0);
    // exec into a stopped container fails.
    c.exec(&[], &["/bin/true"]).assert_error();
    finish(&c, &b);
}

/// An exec'd process sees itself in exactly init's cgroups (every hierarchy).
#[test]
fn exec_joins_inits_cgroups() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("execcg");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    let init = c.pid();
    let out = c.exec(&[], &["cat", "/proc/self/cgroup"]);
    out.assert_code(0);
    assert_eq!(out.stdout, cgroup_text(init), "exec's cgroups differ from init's");
    assert!(out.stdout.contains(&id), "{}", out.stdout);
    finish(&c, &b);
}

/// exec runs as the container's user by default; --user overrides it.
#[test]
fn exec_user_default_and_override() {
    let root = Root::new();
    let mut b = staying_bundle();
    b.user(65534, 65534, &[], None);
    let id = unique_id("execu");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    let out = c.exec(&[], &["/bin/sh", "-c", "echo uid=$(id -u); echo gid=$(id -g)"]);
    out.assert_code(0);
    assert_eq!(out.must_value("uid"), "65534");
    assert_eq!(out.must_value("gid"), "65534");
    let out = c.exec(&["--user", "0:0"], &["id", "-u"]);
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), "0");
    let out = c.exec(
        &["--user", "1234:4321"],
        &["/bin/sh", "-c", "echo uid=$(id -u); echo gid=$(id -g)"],
    );
    out.assert_code(0);
    assert_eq!(out.must_value("uid"), "1234");
    assert_eq!(out.must_value("gid"), "4321");
    finish(&c, &b);
}

/// In bind mode an exec'd process sees this container's rootfs at /hpc, as init does.
#[test]
fn exec_sees_hpc_in_bind_mode() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("exechpc");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    let out = c.exec(
        &[],
        &[
            "/bin/sh",
            "-c",
            &format!("cat /hpc/{}; echo sandbox=$CONTAINER_SANDBOX_MOUNT_POINT", b.marker()),
        ],
    );
    out.assert_code(0);
    assert!(out.stdout.contains("marker"), "{}", out.dump());
    assert_eq!(out.must_value("sandbox"), "/hpc");
    finish(&c, &b);
}

// ---------------------------------------------------------------------------------------
// ps, events, pause/resume, update, list
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// features, version, logging, global flags
// ---------------------------------------------------------------------------------------

#[test]
fn features_json() {
    let root = Root::new();
    let out = hp(&root, &["features"]);
    out.assert_code(0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let max = v["ociVersionMax"].as_str().expect("ociVersionMax");
    assert!(max.starts_with("1."), "{max}");
    assert!(v["ociVersionMin"].is_string(), "{v:#}");
}

/// `--version` prints runc's three lines: `hostproc version X.Y.Z`, `commit: ...`,
/// `spec: X.Y.Z`.
#[test]
fn version_three_lines() {
    let root = Root::new();
    let out = hp(&root, &["--version"]);
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.dump());
    let v = lines[0]
        .strip_prefix("hostproc version ")
        .unwrap_or_else(|| panic!("first line {:?} is not `hostproc version X.Y.Z`", lines[0]));
    assert_eq!(v.split('.').count(), 3, "{}", lines[0]);
    assert!(v.split('.').all(|p| p.parse::<u32>().is_ok()), "{}", lines[0]);
    assert!(lines[1].starts_with("commit: ") && lines[1].len() > 8, "{}", lines[1]);
    assert!(lines[2].starts_with("spec: 1."), "{}", lines[2]);
}

/// Every JSON log line as a value; panics on a line that is not a JSON object.
fn json_log(p: &Path) -> Vec<Value> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}"));
            assert!(v.is_object(), "{l}");
            v
        })
        .collect()
}

/// With --log-format json --log F, a failure writes an "error" line with msg and an RFC
/// 3339 time, as the shim reads it; the flags work before and after the command.
#[test]
fn json_log_on_error() {
    let root = Root::new();
    let id = unique_id("log");
    let logs = tempdir();
    let log = logs.path().join("log.json");
    let lp = log.to_str().unwrap();
    hp(&root, &["--log", lp, "--log-format", "json", "state", &id]).assert_code(1);
    hp(&root, &["kill", &id, "KILL", "--log", lp, "--log-format", "json"]).assert_code(1);
    let entries = json_log(&log);
    let errors: Vec<&Value> = entries.iter().filter(|e| e["level"] == "error").collect();
    assert_eq!(errors.len(), 2, "{entries:#?}");
    for e in &errors {
        assert!(
            e["msg"].as_str().unwrap_or("").contains("does not exist"),
            "{e}"
        );
        assert!(e["msg"].as_str().unwrap().contains(&id), "{e}");
        assert!(is_rfc3339(e["time"].as_str().unwrap_or("")), "{e}");
    }
    for e in &entries {
        let level = e["level"].as_str().unwrap_or("");
        assert_eq!(level, level.to_lowercase(), "{e}");
        assert!(is_rfc3339(e["time"].as_str().unwrap_or("")), "{e}");
    }

    // A failed start logs the program it could not run.
    let mut b = Bundle::new();
    b.write_file("hpt-logged-unexecutable", "\x01 not an executable format\n", 0o755);
    b.args(&["$CONTAINER_SANDBOX_MOUNT_POINT/hpt-logged-unexecutable"]);
    let id2 = unique_id("logstart");
    let c = Ctr::new(&root, &id2);
    c.create(&b, &[]).assert_code(0);
    let log2 = logs.path().join("start.json");
    hp(
        &root,
        &["--log", log2.to_str().unwrap(), "--log-format", "json", "start", &id2],
    )
    .assert_code(1);
    let last_error = json_log(&log2)
        .into_iter()
        .rev()
        .find(|e| e["level"] == "error")
        .expect("an error entry");
    assert!(
        last_error["msg"].as_str().unwrap_or("").contains("hpt-logged-unexecutable"),
        "{last_error}"
    );
    finish(&c, &b);
}

/// Global flags and command flags after the container id (`create ID --bundle B`).
#[test]
fn flags_after_the_id() {
    let root = Root::new();
    let b = staying_bundle();
    b.write();
    let id = unique_id("flagsafter");
    let c = Ctr::new(&root, &id);
    let logs = tempdir();
    let log = logs.path().join("log.json");
    let pf = logs.path().join("init.pid");
    let r = root.path().to_str().unwrap();
    let (o, e) = (logs.path().join("out"), logs.path().join("err"));
    let out = hostproc_files(
        &[
            "create",
            &id,
            "--bundle",
            b.path().to_str().unwrap(),
            "--root",
            r,
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "--pid-file",
            pf.to_str().unwrap(),
        ],
        None,
        &o,
        &e,
    );
    out.assert_code(0);
    assert_eq!(c.status(), "created");
    assert_eq!(fs::read_to_string(&pf).unwrap().trim(), c.pid().to_string());
    let (o, e) = (logs.path().join("out2"), logs.path().join("err2"));
    hostproc_files(&["start", &id, "--root", r], None, &o, &e).assert_code(0);
    assert_eq!(c.status(), "running");
    let (o, e) = (logs.path().join("out3"), logs.path().join("err3"));
    let out = hostproc_files(&["state", &id, "--root", r], None, &o, &e);
    out.assert_code(0);
    let st: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(st["status"], "running");
    let (o, e) = (logs.path().join("out4"), logs.path().join("err4"));
    hostproc_files(&["delete", &id, "--force", "--root", r], None, &o, &e).assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// --rootless true is refused clearly; false/auto and the other runc global flags are
/// accepted.
#[test]
fn global_flags_accepted_and_rootless_refused() {
    let root = Root::new();
    for args in [
        vec!["--rootless", "true", "list"],
        vec!["--rootless=true", "list"],
    ] {
        let out = hp(&root, &args);
        out.assert_error();
        assert!(out.stderr.to_lowercase().contains("rootless"), "{args:?}:\n{}", out.dump());
    }
    // rootless refused also for create, and nothing is made.
    let b = staying_bundle();
    let id = unique_id("rootless");
    let c = Ctr::new(&root, &id);
    let out = c.create(&b, &["--rootless", "true"]);
    out.assert_error();
    assert!(hp(&root, &["state", &id]).code == Some(1));
    cleanup_check(&root, &b, &id, &[]);
    for args in [
        vec!["--rootless", "false", "list"],
        vec!["--rootless=auto", "list"],
        vec!["--debug", "list"],
        vec!["--systemd-cgroup", "list"],
        vec!["--criu", "/usr/sbin/criu", "list"],
        vec!["--log-format", "text", "list"],
    ] {
        hp(&root, &args).assert_code(0);
    }
    // create with runc's other create flags.
    let b2 = staying_bundle();
    let id2 = unique_id("flags");
    let c2 = Ctr::new(&root, &id2);
    c2.create(&b2, &["--no-pivot", "--no-new-keyring"]).assert_code(0);
    c2.start().assert_code(0);
    c2.expect_out("payload-ran", secs(10));
    finish(&c2, &b2);
}

/// create --preserve-fds 1 hands descriptor 3 to the payload.
#[test]
fn create_preserve_fds() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("1s").sh("echo preserved >&3; echo done");
    b.write();
    let id = unique_id("fds");
    let c = Ctr::new(&root, &id);
    let target = c.scratch().join("fd3");
    let f = fs::File::create(&target).unwrap();
    let fd = f.as_raw_fd();
    let mut cmd = Command::new(HOSTPROC);
    cmd.arg("--root")
        .arg(root.path())
        .args(["create", "--preserve-fds", "1", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&c.out).unwrap())
        .stderr(fs::File::create(&c.err).unwrap());
    // SAFETY: dup2/fcntl in the forked child before exec; async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it explicitly.
            if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    drop(f);
    assert!(status.success(), "create --preserve-fds failed: {}", c.payload_err());
    c.start().assert_code(0);
    assert!(c.wait_status("stopped", SLACK + secs(1)), "{:#}", c.state());
    assert_eq!(read_trim(&target), "preserved", "payload stderr: {}", c.payload_err());
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

// ---------------------------------------------------------------------------------------
// concurrency
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// the supervisor
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// console socket
// ---------------------------------------------------------------------------------------

/// Receives one file descriptor (SCM_RIGHTS) from a connected unix socket.
fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space * 4];
    // SAFETY: msghdr is plain data; every pointer below points into live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.len() as _;
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: walking the control messages the kernel filled in.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const RawFd);
                return Ok(OwnedFd::from_raw_fd(fd));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Err(std::io::Error::other("no descriptor in the message"))
}

/// Listens on `path` and, in a thread, accepts one connection and receives one fd.
fn console_listener(path: &Path) -> thread::JoinHandle<std::io::Result<OwnedFd>> {
    let l = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        let (s, _) = l.accept()?;
        recv_fd(s.as_raw_fd())
    })
}

/// Reads from `fd` until `needle` shows up or `timeout` passes; returns all read.
fn read_until(fd: &OwnedFd, acc: &mut String, needle: &str, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while !acc.contains(needle) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, left.as_millis().min(200) as i32) };
        if r <= 0 {
            continue;
        }
        // SAFETY: reading into a live buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            // EIO once the slave side is closed.
            return acc.contains(needle);
        }
        acc.push_str(&String::from_utf8_lossy(&buf[..n as usize]));
    }
    true
}

fn write_fd(fd: &OwnedFd, data: &[u8]) {
    // SAFETY: writing from a live buffer.
    let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    assert_eq!(n, data.len() as isize, "write to the pty master");
}

/// create with process.terminal and --console-socket sends the pty master over the
/// socket; the payload's terminal I/O goes through it, and its exit is observed.
#[test]
fn console_socket_receives_the_pty_master() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("1s")
        .process_field("terminal", json!(true))
        .sh("tty; echo hi; read line; echo got=$line; exit 0");
    let id = unique_id("console");
    let c = Ctr::new(&root, &id);
    let sock = c.scratch().join("console.sock");
    let rx = console_listener(&sock);
    c.create(&b, &["--console-socket", sock.to_str().unwrap()])
        .assert_code(0);
    let master = rx.join().unwrap().expect("a pty master fd over the console socket");
    // It is a pty master (ptmx).
    let link = fs::read_link(format!("/proc/self/fd/{}", master.as_raw_fd())).unwrap();
    assert!(link.to_string_lossy().contains("ptmx"), "received {}", link.display());
    c.start().assert_code(0);
    let mut acc = String::new();
    assert!(read_until(&master, &mut acc, "hi", secs(10)), "read through the pty: {acc:?}");
    assert!(acc.contains("/dev/pts/"), "tty did not name a pty: {acc:?}");
    write_fd(&master, b"ping\n");
    assert!(read_until(&master, &mut acc, "got=ping", secs(10)), "{acc:?}");
    assert!(c.wait_status("stopped", SLACK + secs(1)), "{:#}", c.state());
    drop(master);
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// exec --tty --console-socket: the exec'd process gets a terminal whose master comes over
/// the socket.
#[test]
fn exec_tty_console_socket() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("exectty");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    let sock = c.scratch().join("exec.sock");
    let rx = console_listener(&sock);
    let pf = c.scratch().join("exec.pid");
    let out = c.exec(
        &[
            "--tty",
            "--console-socket",
            sock.to_str().unwrap(),
            "--detach",
            "--pid-file",
            pf.to_str().unwrap(),
        ],
        &["/bin/sh", "-c", "tty; read x; echo got=$x"],
    );
    out.assert_code(0);
    let master = rx.join().unwrap().expect("a pty master fd");
    let mut acc = String::new();
    assert!(read_until(&master, &mut acc, "/dev/pts/", secs(10)), "{acc:?}");
    write_fd(&master, b"pong\n");
    assert!(read_until(&master, &mut acc, "got=pong", secs(10)), "{acc:?}");
    drop(master);
    finish(&c, &b);
}
