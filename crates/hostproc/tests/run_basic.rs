//! `hostproc run`: exit codes, the payload's environment, file descriptors, namespaces,
//! leftovers of the payload, and the other commands (`spec`, `state`, `list`, `delete`).

mod common;

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[test]
fn exit_code_zero() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.args(&["/bin/true"]);
    let id = unique_id("exit0");
    run(&root, &b, &id).assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn exit_code_is_the_payloads() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh("echo before-exit; exit 3");
    let id = unique_id("exit3");
    let out = run(&root, &b, &id);
    out.assert_code(3);
    assert!(
        out.stdout.contains("before-exit"),
        "payload's stdout not passed through:\n{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn exit_code_128_plus_signal_when_payload_is_killed() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh("kill -9 $$; sleep 5");
    let id = unique_id("exit137");
    run(&root, &b, &id).assert_code(128 + 9);
    cleanup_check(&root, &b, &id, &[]);

    let mut b = Bundle::new();
    b.sh("kill -TERM $$; sleep 5");
    let id = unique_id("exit143");
    run(&root, &b, &id).assert_code(128 + 15);
    cleanup_check(&root, &b, &id, &[]);
}

/// The payload leaves background processes behind (a plain `&`, one that ignores SIGTERM,
/// and one re-parented away from the init via a double fork + setsid): every one is gone
/// when `run` returns.
#[test]
fn background_processes_are_stopped_when_init_exits() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("1s")
        .sh("sleep 1000 >/dev/null 2>&1 & echo plain=$!; \
         (trap '' TERM; exec sleep 1001) >/dev/null 2>&1 & echo ignoring=$!; \
         /bin/sh -c 'setsid sleep 1002 >/dev/null 2>&1 & echo orphan=$!'; \
         sleep 0.3; exit 0");
    let id = unique_id("bg");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    for key in ["plain", "ignoring", "orphan"] {
        let pid: i32 = out.must_value(key).parse().unwrap();
        assert!(pid > 0);
        // `run` has returned: the process must already be gone (a short bound only absorbs
        // the reaping of a zombie by init).
        assert!(
            wait_pid_gone(pid, Duration::from_secs(2)),
            "background process {key} (pid {pid}) still alive after run returned:\n{}",
            out.dump()
        );
    }
    cleanup_check(&root, &b, &id, &[]);
}

/// The host's environment is not inherited; the spec's env plus
/// CONTAINER_SANDBOX_MOUNT_POINT, with the sandbox's bin directories appended to PATH.
#[test]
fn environment_is_not_inherited_and_sandbox_is_added() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.env(&["PATH=/usr/bin:/bin", "GREETING=hi there"])
        .args(&["/usr/bin/env"]);
    let id = unique_id("env");
    let mut cmd = run_command(&root, &b, &id);
    cmd.env("HOSTPROC_TEST_LEAK", "leaked-value");
    cmd.env("HOME", "/hostproc-test-leaky-home");
    let out = execute(cmd);
    out.assert_code(0);
    assert!(
        !out.stdout.contains("HOSTPROC_TEST_LEAK"),
        "host variable leaked into the payload:\n{}",
        out.dump()
    );
    assert!(
        !out.stdout.contains("leaked-value"),
        "host variable leaked into the payload:\n{}",
        out.dump()
    );
    assert!(
        !out.stdout.contains("leaky-home"),
        "hostproc's HOME leaked into the payload:\n{}",
        out.dump()
    );
    assert_eq!(out.must_value("GREETING"), "hi there");
    assert_eq!(out.must_value("CONTAINER_SANDBOX_MOUNT_POINT"), "/hpc");
    assert_eq!(
        out.must_value("PATH"),
        "/usr/bin:/bin:/hpc/usr/bin:/hpc/bin"
    );
    // Nothing but what the spec gives and what hostproc adds. HOME is tolerated when it is
    // the payload user's own home (runc sets it from the user database when the spec has
    // none), never hostproc's (checked above).
    let names: BTreeSet<String> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|x| x.0.to_owned()))
        .filter(|n| n != "HOME")
        .collect();
    let expected: BTreeSet<String> = ["PATH", "GREETING", "CONTAINER_SANDBOX_MOUNT_POINT"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names,
        expected,
        "unexpected variables in the payload's environment:\n{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn default_path_when_spec_has_none() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.env(&["A=1"]).args(&["/usr/bin/env"]);
    let id = unique_id("defpath");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(
        out.must_value("PATH"),
        format!("{DEFAULT_PATH}:/hpc/usr/local/sbin:/hpc/usr/local/bin:/hpc/usr/sbin:/hpc/usr/bin:/hpc/sbin:/hpc/bin")
    );

    // And a program found only in the sandbox's bin directory runs by its bare name.
    let mut b = Bundle::new();
    b.no_env().args(&["hello-tool", "arg1"]);
    let id = unique_id("sandboxbin");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert!(out.stdout.contains("hello-tool arg1"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// A bare program name in any directory of the spec's PATH inside the image runs (httpd's
/// `httpd-foreground` in /usr/local/bin), also in a directory no image convention names;
/// the host's directories come first.
#[test]
fn image_path_directories_are_searched_by_bare_name() {
    let root = Root::new();
    let tool = format!("hpt-entry-{}", std::process::id());
    for dir in ["usr/local/bin", "opt/app/bin"] {
        let mut b = Bundle::new();
        b.write_file(&format!("{dir}/{tool}"), "#!/bin/sh\necho \"image-entry $0 $1\"\n", 0o755);
        b.env(&[&format!("PATH=/usr/local/sbin:/usr/local/bin:/usr/bin:/bin:/{}", "opt/app/bin")])
            .args(&[&tool, "arg1"]);
        let id = unique_id("imgpath");
        let out = run(&root, &b, &id);
        out.assert_code(0);
        assert!(
            out.stdout.contains(&format!("image-entry /hpc/{dir}/{tool} arg1")),
            "the image's {dir}/{tool} should run by its bare name:\n{}",
            out.dump()
        );
        cleanup_check(&root, &b, &id, &[]);
    }
    // The host's copy wins over the image's: /bin/sh is the host's, not the rootfs's.
    let mut b = Bundle::new();
    b.write_file("bin/sh", "#!/nonexistent\n", 0o755);
    b.env(&["PATH=/bin"]).args(&["sh", "-c", "echo host-sh"]);
    let id = unique_id("hostfirst");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert!(out.stdout.contains("host-sh"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// `$CONTAINER_SANDBOX_MOUNT_POINT` and `${CONTAINER_SANDBOX_MOUNT_POINT}` are expanded in
/// args, env values and cwd (a missing cwd is created).
#[test]
fn sandbox_variable_is_expanded_in_args_env_and_cwd() {
    let root = Root::new();
    let mut b = Bundle::new();
    // The script reads its arguments as positional parameters, so any expansion seen in
    // them was done by hostproc, not by the shell.
    b.args(&[
        "/bin/sh",
        "-c",
        "printf 'arg1=%s\\n' \"$1\"; printf 'arg2=%s\\n' \"$2\"; printf 'pwd=%s\\n' \"$(pwd)\"; env",
        "sh",
        "$CONTAINER_SANDBOX_MOUNT_POINT/a",
        "x${CONTAINER_SANDBOX_MOUNT_POINT}/b",
    ])
    .env(&[
        "PATH=/usr/bin:/bin",
        "DIR1=$CONTAINER_SANDBOX_MOUNT_POINT/etc",
        "DIR2=${CONTAINER_SANDBOX_MOUNT_POINT}/data:${CONTAINER_SANDBOX_MOUNT_POINT}",
        "OTHER=$HOME",
    ])
    .cwd("$CONTAINER_SANDBOX_MOUNT_POINT/work/sub");
    let id = unique_id("expand");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("arg1"), "/hpc/a");
    assert_eq!(out.must_value("arg2"), "x/hpc/b");
    assert_eq!(out.must_value("DIR1"), "/hpc/etc");
    assert_eq!(out.must_value("DIR2"), "/hpc/data:/hpc");
    assert_eq!(
        out.must_value("OTHER"),
        "$HOME",
        "only the sandbox variable is expanded"
    );
    // Made in the rootfs for the run (pwd shows it), and removed with the container.
    assert_eq!(out.must_value("pwd"), "/hpc/work/sub");
    assert!(
        !b.rootfs().join("work").exists(),
        "the cwd made in the rootfs outlived the container"
    );
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn default_cwd_is_the_sandbox() {
    let root = Root::new();
    for cwd in ["/", ""] {
        let mut b = Bundle::new();
        b.cwd(cwd).sh("echo pwd=$(pwd); ls");
        let id = unique_id("cwd");
        let out = run(&root, &b, &id);
        out.assert_code(0);
        assert_eq!(out.must_value("pwd"), "/hpc", "cwd {cwd:?}");
        assert!(
            out.stdout.contains(b.marker()),
            "cwd {cwd:?}: rootfs files not in the working directory:\n{}",
            out.dump()
        );
        cleanup_check(&root, &b, &id, &[]);
    }
}

/// The payload inherits no file descriptor but 0, 1 and 2, even when hostproc itself was
/// given more (an inherited descriptor, a log file).
#[test]
fn payload_holds_only_fds_0_1_2() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.args(&["/bin/ls", "/proc/self/fd"]);
    let id = unique_id("fds");
    let logdir = tempdir();
    // An extra descriptor without close-on-exec, inherited by hostproc.
    let f = std::fs::File::open("/etc/hostname").unwrap();
    // SAFETY: dup(2) of a descriptor we own; the copy has no FD_CLOEXEC and is closed below.
    let extra = unsafe { libc::dup(f.as_raw_fd()) };
    assert!(extra > 2);
    let mut cmd = common::command(&root);
    cmd.arg("--log").arg(logdir.path().join("hostproc.log"));
    cmd.arg("run").arg("--bundle").arg(b.path()).arg(&id);
    b.write();
    let out = execute(cmd);
    // SAFETY: closing the descriptor dup'ed above.
    unsafe { libc::close(extra) };
    out.assert_code(0);
    let fds: BTreeSet<String> = out.stdout.split_whitespace().map(str::to_owned).collect();
    // 3 is the descriptor `ls` itself opens on /proc/self/fd.
    let expected: BTreeSet<String> = ["0", "1", "2", "3"].iter().map(|s| s.to_string()).collect();
    assert_eq!(fds, expected, "payload's descriptors:\n{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// The payload shares the host's network, pid, ipc, uts and cgroup namespaces, even when
/// the spec asks for new pid/ipc/uts/mount/cgroup namespaces (those requests are ignored).
#[test]
fn host_namespaces_are_shared_and_requests_ignored() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.namespaces(json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}]))
        .sh("for n in net pid ipc uts cgroup user; do echo $n=$(readlink /proc/self/ns/$n); done");
    let id = unique_id("ns");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    for n in ["net", "pid", "ipc", "uts", "cgroup", "user"] {
        assert_eq!(
            out.must_value(n),
            own_ns(n),
            "namespace {n} differs from the host's:\n{}",
            out.dump()
        );
    }
    cleanup_check(&root, &b, &id, &[]);
}

/// The payload runs in its job: `<caller's cgroup>/hostproc/<id>` in every hierarchy
/// (the v2 one through clone3's CLONE_INTO_CGROUP, the v1 ones by init itself).
#[test]
fn payload_runs_in_its_job_cgroup() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh("cat /proc/self/cgroup");
    let id = unique_id("job");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_in_job_everywhere(&out, &id);
    cleanup_check(&root, &b, &id, &[]);
    // The job is gone, its parent `hostproc` (hostproc's own, like a slice) is kept.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let v2 = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/");
    let mount = if std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() { "/sys/fs/cgroup/unified" } else { "/sys/fs/cgroup" };
    let parent = std::path::Path::new(mount).join(v2.trim_start_matches('/')).join("hostproc");
    assert!(parent.is_dir(), "{} was removed", parent.display());
}

/// Where the kernel or a seccomp filter refuses clone3 (containerd's default profile
/// answers ENOSYS), init is forked and put in the v2 cgroup by its parent instead.
#[cfg(target_arch = "x86_64")]
#[test]
fn without_clone3_the_payload_still_runs_in_its_job() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh("cat /proc/self/cgroup");
    let id = unique_id("noclone3");
    let mut cmd = run_command(&root, &b, &id);
    // SAFETY: only async-signal-safe calls (prctl) between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(deny_clone3);
    }
    let out = execute(cmd);
    out.assert_code(0);
    assert_in_job_everywhere(&out, &id);
    cleanup_check(&root, &b, &id, &[]);
}

/// Every hierarchy of ours shows the job, but named ones, devices (hostproc sets no
/// device rules, so it leaves the payload in the caller's devices cgroup) and, beside a v2
/// hierarchy, the v1 freezer (the job freezes through cgroup.freeze).
fn assert_in_job_everywhere(out: &Output, id: &str) {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let has_v2 = own.lines().any(|l| l.starts_with("0::"));
    for line in own.lines() {
        let (num_ctrls, path) = line.rsplit_once(':').unwrap();
        let left = |c: &str| c == "devices" || (has_v2 && c == "freezer");
        let want = if num_ctrls.contains("name=") || num_ctrls.split([',', ':']).any(left) {
            line.to_string()
        } else {
            format!("{num_ctrls}:{}/hostproc/{id}", path.trim_end_matches('/'))
        };
        assert!(out.stdout.lines().any(|l| l == want), "expected the line {want:?} in:\n{}", out.dump());
    }
}

/// A seccomp filter that makes clone3 fail with ENOSYS, as container runtimes' default
/// profiles do; checked in place (without it, clone3 with no arguments is EINVAL).
#[cfg(target_arch = "x86_64")]
fn deny_clone3() -> std::io::Result<()> {
    const NR_CLONE3: u32 = 435;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let stmt = |code: u16, k: u32| libc::sock_filter { code, jt: 0, jf: 0, k };
    let jump = |code: u16, k: u32, jt: u8, jf: u8| libc::sock_filter { code, jt, jf, k };
    let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let filter = [
        stmt(ld, 4), // seccomp_data.arch
        jump(jeq, AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(ld, 0), // seccomp_data.nr
        jump(jeq, NR_CLONE3, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut _ };
    // SAFETY: prog points at a valid filter that outlives the call.
    if unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: clone3 with a null, zero-sized argument never creates a process.
    let r = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
    let e = std::io::Error::last_os_error();
    if r != -1 || e.raw_os_error() != Some(libc::ENOSYS) {
        // No allocation between fork and exec: the spawn fails with this kind.
        return Err(std::io::ErrorKind::Unsupported.into());
    }
    Ok(())
}

/// A relative linux.cgroupsPath goes under the caller's own cgroup.
#[test]
fn relative_cgroups_path_is_under_callers_cgroup() {
    let root = Root::new();
    let mut b = Bundle::new();
    let id = unique_id("cgpath");
    let rel = format!("hostproc-test/{id}-job");
    b.cgroups_path(&rel).sh("cat /proc/self/cgroup");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mem = own.lines().find(|l| {
        l.split(':')
            .nth(1)
            .map(|c| c.split(',').any(|x| x == "memory"))
            .unwrap_or(false)
    });
    if let Some(mem) = mem {
        let want = format!("{}/{rel}", mem.trim_end_matches('/'));
        assert!(
            out.stdout.lines().any(|l| l == want),
            "expected {want:?} in:\n{}",
            out.dump()
        );
    }
    cleanup_check(&root, &b, &id, &[]);
}

/// While `run` is in the foreground, `state` and `list` show the container; afterwards
/// nothing is left (and `state` fails).
#[test]
fn state_and_list_while_running() {
    let root = Root::new();
    let mut b = Bundle::new();
    let go = tempdir();
    let go_file = go.path().join("go");
    b.sh(&format!("echo ready; {}exit 0", sh_wait_for(&go_file, 30)));
    let id = unique_id("state");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));

    let st = hostproc(&root, &["state", &id]);
    let list = hostproc(&root, &["list"]);
    std::fs::write(&go_file, "").unwrap();
    let out = r.finish(TIMEOUT);

    st.assert_code(0);
    let v: Value = serde_json::from_str(&st.stdout)
        .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{}", st.dump()));
    assert_eq!(v["id"], json!(id), "{}", st.dump());
    assert_eq!(v["status"], json!("running"), "{}", st.dump());
    assert!(v["pid"].as_i64().unwrap_or(0) > 0, "{}", st.dump());
    let bundle_field = v["bundle"].as_str().unwrap_or_default();
    assert_eq!(
        std::fs::canonicalize(bundle_field).ok(),
        std::fs::canonicalize(b.path()).ok(),
        "{}",
        st.dump()
    );
    list.assert_code(0);
    assert!(
        list.stdout.contains(&id),
        "list does not show the running container:\n{}",
        list.dump()
    );

    out.assert_code(0);
    let after = hostproc(&root, &["state", &id]);
    assert_eq!(
        after.code,
        Some(1),
        "state of a finished run should fail:\n{}",
        after.dump()
    );
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn delete_of_unknown_container_fails() {
    let root = Root::new();
    let id = unique_id("nodel");
    hostproc(&root, &["delete", &id]).assert_error();
    // --force of something that does not exist is not an error (as runc).
    let out = hostproc(&root, &["delete", "--force", &id]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
}

/// `hostproc spec` writes a starter HostProcess config that `run` accepts.
#[test]
fn spec_writes_a_runnable_starter_config() {
    let root = Root::new();
    let dir = tempdir();
    let out = hostproc(&root, &["spec", "--bundle", dir.path().to_str().unwrap()]);
    out.assert_code(0);
    let text =
        std::fs::read_to_string(dir.path().join("config.json")).expect("spec wrote no config.json");
    let mut v: Value = serde_json::from_str(&text).expect("config.json is not JSON");
    assert_eq!(v["root"]["path"], json!("rootfs"));
    assert!(v["ociVersion"].is_string());
    assert!(v["process"]["args"].is_array());
    assert_eq!(
        v["annotations"]["microsoft.com/hostprocess-container"],
        json!("true"),
        "the starter config must be a HostProcess one"
    );
    let ns = v["linux"]["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !ns.iter()
            .any(|n| n["type"] == json!("network") || n["type"] == json!("user")),
        "the starter config must not ask for namespaces hostproc refuses: {ns:?}"
    );

    // It runs: with a rootfs and a non-interactive command.
    std::fs::create_dir(dir.path().join("rootfs")).unwrap();
    v["process"]["args"] = json!(["/bin/sh", "-c", "echo started-from-spec"]);
    v["process"]["terminal"] = json!(false);
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
    let id = unique_id("spec");
    let mut cmd = common::command(&root);
    cmd.arg("run").arg("-b").arg(dir.path()).arg(&id);
    let out = execute(cmd);
    out.assert_code(0);
    assert!(out.stdout.contains("started-from-spec"), "{}", out.dump());
    assert!(cgroups_named(&id).is_empty());
}

/// The tests' own safety net: a state root dropped with a container still in it (a test
/// that failed half-way) takes the container down, so a red test leaves the host clean.
#[test]
fn a_dropped_test_root_takes_its_containers_down() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.args(&["/bin/sleep", "60"]);
    b.write();
    let id = unique_id("droproot");
    // Init keeps create's stdio: /dev/null, so that nothing waits for it to close.
    let st = std::process::Command::new(HOSTPROC)
        .arg("--root")
        .arg(root.path())
        .args(["create", "--bundle", b.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "create failed: {st}");
    assert!(!cgroups_named(&id).is_empty(), "no job was made");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(root.path().join(&id).join("state.json")).unwrap()).unwrap();
    let init = ProcId::matching(state["pid"].as_i64().unwrap() as i32, state["hostproc"]["init_start"].as_u64().unwrap()).expect("init runs");
    drop(root);
    assert!(cgroups_named(&id).is_empty(), "the job is left: {:?}", cgroups_named(&id));
    let gone = init.wait_gone(Duration::from_secs(5));
    if !gone {
        init.kill();
    }
    assert!(gone, "init of the dropped root's container is left");
}
