//! containerd drives hostproc as its runc.
//!
//! This test starts a containerd of its own (Debian's package, 1.6) whose root, state,
//! sockets and plugin directories all live in a temporary directory, imports a small image
//! it builds itself (an OCI layout archive made by `containerd/make-image.sh`), and runs it
//! with `ctr run --runc-binary <hostproc>` to show the HostProcess behaviour through
//! containerd's runc shim (`io.containerd.runc.v2`):
//!
//! * the payload shares the host's PID and network namespaces;
//! * `$CONTAINER_SANDBOX_MOUNT_POINT` is set and the image's files are readable there;
//! * `ctr run --rm` exits with the payload's exit code;
//! * `ctr task exec` joins the container's job (its cgroup);
//! * `ctr task kill` (SIGTERM to init) and `ctr task kill -a -s SIGKILL` stop every
//!   process of the container, background and re-parented ones included;
//! * after `ctr task delete` / `ctr container delete` nothing is left: no cgroup, no
//!   mount, nothing in hostproc's state root, no process.
//!
//! Rules it keeps on this machine: the job's cgroup is given as a RELATIVE `cgroupsPath`
//! (`ctr run --cgroup hptest-<pid>/<id>`), which hostproc places beneath the caller's own
//! cgroup in each hierarchy (the shim, started by our containerd, is in the test's own
//! cgroups), so nothing is created outside it and the machine-managed memory cgroup is
//! never written. Only processes this test started (containerd, found by its pid, and the
//! shims it spawned, found by the temporary socket path in their command line) are killed.
//!
//! When `containerd` or `ctr` is not installed the test prints why and passes; `.ci/run`
//! installs them, so CI always runs it.

mod common;

use std::fs;
use std::time::Duration;

use common::containerd::{
    assert_in_job, cgroup_dirs_named, cmdline, hpc_mounts, mountinfo_lines_with, read_pid,
    Containerd, POLL,
};
use common::lc::wait_until_every;
use common::{own_ns, Live, ProcId, HOSTPROC};

const NAMESPACE: &str = "hptest";
const IMAGE: &str = "hptest.local/hostproc/hello:v1";

// ---------------------------------------------------------------------------------------
// ctr
// ---------------------------------------------------------------------------------------

/// `ctr run` arguments common to every container of this test.
fn run_args(cd: &Containerd, cgroup: &str) -> Vec<String> {
    vec![
        "--fifo-dir".into(),
        cd.dir.join("fifo").display().to_string(),
        "--runc-binary".into(),
        HOSTPROC.into(),
        "--runc-root".into(),
        cd.dir.join("runc").display().to_string(),
        "--net-host".into(),
        "--cgroup".into(),
        cgroup.into(),
    ]
}

/// The status column of `ctr task ls` for `id`, if the task exists.
fn task_status(cd: &Containerd, id: &str) -> Option<String> {
    let o = cd.ctr(&["task", "ls"]);
    o.stdout.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_string())
    })
}

// ---------------------------------------------------------------------------------------
// checks
// ---------------------------------------------------------------------------------------

/// Nothing of container `id` is left: no cgroup, no mount, no hostproc state, no shim.
#[track_caller]
fn assert_nothing_left(cd: &Containerd, id: &str, cgroup_parent: &str) {
    let ok = wait_until_every(Duration::from_secs(15), POLL, || {
        cgroup_dirs_named(id).is_empty() && cd.shim_of(id).is_empty()
    });
    let dirs = cgroup_dirs_named(id);
    assert!(ok || dirs.is_empty(), "cgroups of {id} left: {dirs:?}");
    let parents = cgroup_dirs_named(cgroup_parent);
    let parents_nonempty: Vec<_> = parents
        .iter()
        .filter(|p| {
            fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .any(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                })
                .unwrap_or(false)
        })
        .collect();
    assert!(
        parents_nonempty.is_empty(),
        "the cgroup parent {cgroup_parent} still holds cgroups: {parents_nonempty:?}"
    );
    let shims = cd.shim_of(id);
    assert!(
        shims.is_empty(),
        "the shim of {id} is still running: {:?}",
        shims.iter().map(|&p| (p, cmdline(p))).collect::<Vec<_>>()
    );
    let mine = mountinfo_lines_with(&cd.dir.display().to_string());
    assert!(
        mine.is_empty(),
        "mounts under the test's directory left:\n{}",
        mine.join("\n")
    );
    let hpc = hpc_mounts();
    assert!(
        hpc.is_empty(),
        "mounts at /hpc left on the host:\n{}",
        hpc.join("\n")
    );
    let entries = cd.state_entries();
    assert!(
        !entries.iter().any(|e| e.contains(id)),
        "hostproc's state root {} still holds {id}: {entries:?}",
        cd.runc_root().display()
    );
}

/// The pids `ctr task ps` lists for `id` (the shim gets them from `hostproc ps`).
fn task_pids(cd: &Containerd, id: &str) -> Vec<i32> {
    let o = cd.ctr_ok(&["task", "ps", id]);
    o.stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Starts a detached container whose init leaves background processes behind:
/// a plain `sleep`, one in a new session (setsid) whose parent exits (re-parented), and
/// one that ignores SIGTERM. Returns the init and the background processes.
fn start_detached(cd: &Containerd, id: &str, cgroup: &str) -> (ProcId, Vec<ProcId>) {
    let out = cd.dir.join("out").join(id);
    fs::create_dir_all(&out).unwrap();
    let o = out.display();
    let script = format!(
        "sleep 1000 & echo $! > {o}/bg1.tmp && mv {o}/bg1.tmp {o}/bg1; \
         setsid sh -c 'sleep 1001 & echo $! > {o}/bg2.tmp && mv {o}/bg2.tmp {o}/bg2' & \
         sh -c 'trap \"\" TERM; echo $$ > {o}/bg3.tmp && mv {o}/bg3.tmp {o}/bg3; while :; do sleep 1; done' & \
         echo $$ > {o}/init.tmp && mv {o}/init.tmp {o}/init; \
         wait"
    );
    let mut args: Vec<String> = vec!["run".into(), "--detach".into(), "--null-io".into()];
    args.extend(run_args(cd, cgroup));
    args.extend([
        IMAGE.into(),
        id.into(),
        "/bin/sh".into(),
        "-c".into(),
        script,
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = cd.ctr(&args);
    assert!(
        r.ok(),
        "ctr run --detach {id} failed:\n{}\n{}",
        r.dump(),
        cd.diagnostics(Some(id))
    );
    let t = Duration::from_secs(30);
    let init = read_pid(&out.join("init"), t).unwrap_or_else(|| {
        panic!(
            "{id}: the payload never started\n{}",
            cd.diagnostics(Some(id))
        )
    });
    let mut bg = Vec::new();
    for f in ["bg1", "bg2", "bg3"] {
        let pid = read_pid(&out.join(f), t)
            .unwrap_or_else(|| panic!("{id}: no {f} pid\n{}", cd.diagnostics(Some(id))));
        bg.push(ProcId::of(pid).unwrap_or_else(|| panic!("{id}: {f} ({pid}) is not running")));
    }
    let init = ProcId::of(init).unwrap_or_else(|| panic!("{id}: init ({init}) is not running"));
    assert_eq!(
        task_status(cd, id).as_deref(),
        Some("RUNNING"),
        "{id}: task not RUNNING\n{}",
        cd.diagnostics(Some(id))
    );
    (init, bg)
}

/// Waits for the task to be STOPPED and every given process to be gone.
#[track_caller]
fn assert_all_stopped(cd: &Containerd, id: &str, procs: &[ProcId], how: &str) {
    let stopped = wait_until_every(Duration::from_secs(30), POLL, || {
        task_status(cd, id).as_deref() == Some("STOPPED")
    });
    assert!(
        stopped,
        "{id}: task not STOPPED after {how}: {:?}\n{}",
        task_status(cd, id),
        cd.diagnostics(Some(id))
    );
    let gone = wait_until_every(Duration::from_secs(15), POLL, || {
        procs.iter().all(|p| !p.alive())
    });
    let alive: Vec<(i32, String)> = procs
        .iter()
        .filter(|p| p.alive())
        .map(|p| (p.pid, cmdline(p.pid)))
        .collect();
    // Leave nothing running even when the assertion fails: these are the container's
    // processes, identified by pid and start time.
    for p in procs {
        p.kill();
    }
    assert!(
        gone,
        "{id}: processes still running after {how}: {alive:?}\n{}",
        cd.diagnostics(Some(id))
    );
}

/// Deletes the task and the container, returning the exit code `ctr task delete` reports
/// (ctr 1.6 warns `task ID exit with non-zero exit code N` and exits 0).
fn delete_task(cd: &Containerd, id: &str) -> i32 {
    let o = cd.ctr(&["task", "delete", id]);
    assert!(
        o.ok(),
        "ctr task delete {id}:\n{}\n{}",
        o.dump(),
        cd.diagnostics(Some(id))
    );
    cd.ctr_ok(&["container", "delete", id]);
    let marker = "exit with non-zero exit code ";
    o.stderr
        .find(marker)
        .and_then(|i| {
            o.stderr[i + marker.len()..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// the test
// ---------------------------------------------------------------------------------------

#[test]
fn containerd_runs_hostprocess_containers() {
    // hostproc runs here without a test state root: hold the tests' live lock all the same
    // (dropped last), so that no other test's end removes /hpc from under this one.
    let _live = Live::new();
    let Some(cd) = Containerd::start(NAMESPACE, None) else {
        return;
    };
    cd.import_image(IMAGE, None);

    let tag = format!("{}", std::process::id());
    // A relative cgroupsPath: hostproc puts it beneath the caller's own cgroups.
    let parent = format!("hptest-{tag}");
    let host_pid_ns = own_ns("pid");
    let host_net_ns = own_ns("net");

    // 1. ctr run --rm: namespaces, sandbox, image files, PATH, job, exit code.
    {
        let id = format!("hp-rm-{tag}");
        let cgroup = format!("{parent}/{id}");
        let script = "echo pidns=$(readlink /proc/self/ns/pid); \
                      echo netns=$(readlink /proc/self/ns/net); \
                      echo sandbox=$CONTAINER_SANDBOX_MOUNT_POINT; \
                      echo file=$(cat \"$CONTAINER_SANDBOX_MOUNT_POINT/hello.txt\"); \
                      \"$CONTAINER_SANDBOX_MOUNT_POINT/hello.sh\"; \
                      echo tool=$(hpc-tool a b); \
                      echo from_image=$FROM_IMAGE; \
                      echo cgroups-begin; cat /proc/self/cgroup; echo cgroups-end; \
                      exit 7";
        let mut args: Vec<String> = vec!["run".into(), "--rm".into()];
        args.extend(run_args(&cd, &cgroup));
        args.extend([
            IMAGE.into(),
            id.clone(),
            "/bin/sh".into(),
            "-c".into(),
            script.into(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = cd.ctr(&args);
        let diag = || format!("{}\n{}", o.dump(), cd.diagnostics(Some(&id)));
        assert!(!o.timed_out, "ctr run --rm hung:\n{}", diag());
        assert_eq!(
            o.code,
            Some(7),
            "ctr run --rm must exit with the payload's status 7:\n{}",
            diag()
        );
        assert_eq!(
            o.value("pidns").as_deref(),
            Some(host_pid_ns.as_str()),
            "host PID namespace:\n{}",
            diag()
        );
        assert_eq!(
            o.value("netns").as_deref(),
            Some(host_net_ns.as_str()),
            "host network namespace:\n{}",
            diag()
        );
        let sandbox = o.value("sandbox").unwrap_or_default();
        assert_eq!(
            sandbox,
            "/hpc",
            "CONTAINER_SANDBOX_MOUNT_POINT (bind mode default):\n{}",
            diag()
        );
        assert_eq!(
            o.value("file").as_deref(),
            Some("file from the image"),
            "{}",
            diag()
        );
        assert!(
            o.stdout.contains("hello from the image, sandbox=/hpc"),
            "the image's script did not run:\n{}",
            diag()
        );
        assert_eq!(
            o.value("tool").as_deref(),
            Some("hpc-tool a b"),
            "sandbox bin dir on PATH:\n{}",
            diag()
        );
        assert_eq!(
            o.value("from_image").as_deref(),
            Some("yes"),
            "the image's Env:\n{}",
            diag()
        );
        let cg = o
            .stdout
            .split("cgroups-begin\n")
            .nth(1)
            .and_then(|s| s.split("cgroups-end").next())
            .unwrap_or_default();
        assert_in_job(cg, &cgroup, "ctr run --rm payload");
        assert_nothing_left(&cd, &id, &parent);
        assert!(
            task_status(&cd, &id).is_none(),
            "--rm left the task behind: {:?}",
            task_status(&cd, &id)
        );
    }

    // 2. detached: exec joins the job, ps lists everything, kill (SIGTERM) stops all.
    {
        let id = format!("hp-term-{tag}");
        let cgroup = format!("{parent}/{id}");
        let (init, bg) = start_detached(&cd, &id, &cgroup);

        let o = cd.ctr(&[
            "task",
            "exec",
            "--fifo-dir",
            &cd.dir.join("fifo").display().to_string(),
            "--exec-id",
            "probe",
            &id,
            "/bin/sh",
            "-c",
            "echo pidns=$(readlink /proc/self/ns/pid); \
             echo sandbox=$CONTAINER_SANDBOX_MOUNT_POINT; \
             echo file=$(cat \"$CONTAINER_SANDBOX_MOUNT_POINT/hello.txt\"); \
             echo cgroups-begin; cat /proc/self/cgroup; echo cgroups-end; exit 3",
        ]);
        let diag = || format!("{}\n{}", o.dump(), cd.diagnostics(Some(&id)));
        assert_eq!(
            o.code,
            Some(3),
            "ctr task exec must exit with the process's status:\n{}",
            diag()
        );
        assert_eq!(
            o.value("pidns").as_deref(),
            Some(host_pid_ns.as_str()),
            "{}",
            diag()
        );
        assert_eq!(o.value("sandbox").as_deref(), Some("/hpc"), "{}", diag());
        assert_eq!(
            o.value("file").as_deref(),
            Some("file from the image"),
            "{}",
            diag()
        );
        let cg = o
            .stdout
            .split("cgroups-begin\n")
            .nth(1)
            .and_then(|s| s.split("cgroups-end").next())
            .unwrap_or_default();
        assert_in_job(cg, &cgroup, "ctr task exec process");

        let pids = task_pids(&cd, &id);
        for p in std::iter::once(&init).chain(bg.iter()) {
            assert!(
                pids.contains(&p.pid),
                "ctr task ps {id} does not list {} ({}): {pids:?}",
                p.pid,
                cmdline(p.pid)
            );
        }

        cd.ctr_ok(&["task", "kill", &id]);
        let mut all = vec![init];
        all.extend(bg.iter().copied());
        assert_all_stopped(&cd, &id, &all, "ctr task kill (SIGTERM)");
        let code = delete_task(&cd, &id);
        assert_eq!(
            code, 143,
            "exit status of an init ended by SIGTERM (128+15)"
        );
        assert_nothing_left(&cd, &id, &parent);
    }

    // 3. detached: kill --all SIGKILL stops every process at once.
    {
        let id = format!("hp-kill-{tag}");
        let cgroup = format!("{parent}/{id}");
        let (init, bg) = start_detached(&cd, &id, &cgroup);
        cd.ctr_ok(&["task", "kill", "--all", "--signal", "SIGKILL", &id]);
        let mut all = vec![init];
        all.extend(bg.iter().copied());
        assert_all_stopped(&cd, &id, &all, "ctr task kill -a -s SIGKILL");
        let code = delete_task(&cd, &id);
        assert_eq!(code, 137, "exit status of an init ended by SIGKILL (128+9)");
        assert_nothing_left(&cd, &id, &parent);
    }

    // Nothing of ours is left in containerd either.
    let tasks = cd.ctr_ok(&["task", "ls", "-q"]);
    assert!(
        tasks.stdout.trim().is_empty(),
        "tasks left: {}",
        tasks.stdout
    );
    let cs = cd.ctr_ok(&["container", "ls", "-q"]);
    assert!(
        cs.stdout.trim().is_empty(),
        "containers left: {}",
        cs.stdout
    );
    assert!(
        cgroup_dirs_named(&parent).is_empty(),
        "the cgroup parent {parent} is left: {:?}",
        cgroup_dirs_named(&parent)
    );
}
