//! Create / start / state / kill / delete.

use super::*;

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
