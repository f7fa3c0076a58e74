//! Exec.

use super::*;

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
