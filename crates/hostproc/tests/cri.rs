//! The Kubernetes node path: containerd's CRI plugin drives hostproc as the kubelet has it.
//!
//! A private containerd (Debian's 1.6, everything in a temporary directory) runs with its
//! CRI plugin enabled and a runtime handler `hostproc` (runtime_type io.containerd.runc.v2,
//! `BinaryName` = the hostproc under test, `pod_annotations`/`container_annotations` for
//! `hostproc.io/*` and `microsoft.com/hostprocess-*`, `restrict_oom_score_adj` as this host
//! needs). Its sandbox image is a tiny image whose command is `/pause` (a script sleeping
//! until SIGTERM): the host has no /pause, so hostproc finds it in the sandbox. The test is
//! a CRI client (k8s-cri's runtime.v1 over the unix socket) and makes the kubelet's calls:
//!
//! * Version; RunPodSandbox with host network, pid and ipc (NamespaceMode NODE), a relative
//!   cgroup parent (containerd passes `<parent>/<id>` as cgroupsPath, which hostproc puts
//!   beneath the caller's cgroup: nothing is made outside the test's own cgroups), the
//!   handler `hostproc` and `microsoft.com/hostprocess-container: "true"`;
//! * CreateContainer from an imported image, with a hostPath mount, env (one value using
//!   `$CONTAINER_SANDBOX_MOUNT_POINT`), annotations and run_as_user/run_as_group 65534;
//!   StartContainer; ContainerStatus (running, the init in the job's cgroup and the host's
//!   PID namespace); ExecSync (output, exit code, the job, the user);
//! * ExecSync starting background processes (one ignoring SIGTERM) that die with the job
//!   on StopContainer with a timeout;
//! * ContainerStats (CPU and memory); UpdateContainerResources reaching the job's cgroup
//!   files; the container's log in the CRI format (`<RFC3339Nano> stdout F <line>`);
//!   ReopenContainerLog after a rotation; RemoveContainer, StopPodSandbox,
//!   RemovePodSandbox, then nothing left: no cgroup, mount, hostproc state, shim or process;
//! * a sandbox asking for a pod network namespace gets hostproc's refusal back through
//!   RunPodSandbox (containerd sets up the network first: a do-nothing CNI answers it), and
//!   leaves nothing either.
//!
//! Only processes this test started are killed (containerd by its pid, its shims by the
//! temporary socket path in their command line). When containerd is not installed the
//! test prints why and passes; `.ci/run` installs it.

#[path = "cri/client.rs"]
mod client;
mod common;
#[path = "cri/kubelet.rs"]
mod kubelet;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_cri::v1::{
    ContainerState, ContainerStatsRequest, ContainerStatusRequest, CreateContainerRequest,
    ExecSyncRequest, LinuxContainerResources, ListContainersRequest, ListPodSandboxRequest,
    NamespaceMode, RemoveContainerRequest, RemovePodSandboxRequest, ReopenContainerLogRequest,
    RunPodSandboxRequest, StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
    UpdateContainerResourcesRequest,
};
use serde_json::Value;

use client::{cri_config, CniCache, Cri, HANDLER, PAUSE};
use common::containerd::{
    assert_in_job, cgroup_dirs_named, cmdline, mountinfo_lines_with, read_pid, Containerd, POLL,
};
use common::lc::wait_until_every;
use common::{own_cgroup_dir, own_ns, processes_in_cgroup, Live, ProcId};
use kubelet::{container_config, cri_log, has_line, pod_config, IMAGE, USER};

/// The CRI's containerd namespace.
const NAMESPACE: &str = "k8s.io";

/// One CRI call on a client of `$node.cri`: `call!(node, runtime.version(req))`.
macro_rules! call {
    ($node:expr, $svc:ident . $m:ident ($req:expr)) => {{
        let mut c = $node.cri.$svc.clone();
        $node.cri.block(c.$m($req))
    }};
}

/// What the steps share: the node's containerd, the CRI client and the pod's directories.
struct Node {
    // The client goes before containerd (fields drop in order).
    cri: Cri,
    cd: Containerd,
    t0: Instant,
    /// The pod's cgroup parent: relative, so containerd passes `<parent>/<id>`, which
    /// hostproc puts beneath our own cgroups.
    parent: String,
    logs: PathBuf,
    /// The hostPath volume, and its destination (missing on the host: hostproc makes it
    /// and removes it).
    vol_host: PathBuf,
    vol: String,
}

impl Node {
    fn step(&self, what: &str) {
        eprintln!("[{:>6.2}s] {what}", self.t0.elapsed().as_secs_f64());
    }

    fn diag(&self, id: &str) -> String {
        self.cd.diagnostics(Some(id))
    }

    /// The OCI spec containerd gave hostproc for `id` (the shim's bundle).
    fn oci_spec(&self, id: &str) -> Value {
        let p = self.cd.bundle(id).join("config.json");
        let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).unwrap()
    }

    /// Nothing of `id` is left: no cgroup, hostproc state, shim, or mount naming it.
    #[track_caller]
    fn assert_gone(&self, id: &str) {
        let ok = wait_until_every(Duration::from_secs(15), POLL, || {
            cgroup_dirs_named(id).is_empty() && self.cd.shim_of(id).is_empty()
        });
        let (cgroups, shims) = (cgroup_dirs_named(id), self.cd.shim_of(id));
        assert!(ok, "{id}: cgroups {cgroups:?} or shims {shims:?} left");
        let state = self.cd.state_entries();
        assert!(
            !state.iter().any(|e| e.contains(id)),
            "{id}: hostproc's state left: {state:?}"
        );
        let mounts = mountinfo_lines_with(id);
        assert!(
            mounts.is_empty(),
            "{id}: mounts left:\n{}",
            mounts.join("\n")
        );
    }
}

fn read_trim(p: &Path) -> String {
    fs::read_to_string(p)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| format!("<{e}>"))
}

fn cgroup_of(pid: i32) -> String {
    read_trim(&PathBuf::from(format!("/proc/{pid}/cgroup")))
}

#[test]
fn cri_runs_hostprocess_pods() {
    // hostproc runs without a test state root: hold the tests' live lock all the same
    // (dropped last), so that no other test's end removes /hpc from under this one.
    let _live = Live::new();
    let _cni_cache = CniCache::note();
    let t0 = Instant::now();
    let Some(cd) = Containerd::start(NAMESPACE, Some(&cri_config)) else {
        return;
    };
    cd.import_image(PAUSE, Some("/pause"));
    cd.import_image(IMAGE, None);
    let cri = Cri::connect(&cd.sock);
    let v = cri
        .wait_version(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("CRI Version: {e}\n{}", cd.log_tail(60)));
    assert_eq!(v.runtime_name, "containerd", "{v:?}");
    assert_eq!(v.runtime_api_version, "v1", "{v:?}");
    for image in [PAUSE, IMAGE] {
        assert!(
            cri.wait_image(image, Duration::from_secs(30)),
            "the CRI does not list the imported {image}\n{}",
            cd.log_tail(40)
        );
    }
    let node = Node {
        parent: format!("hptest-cri-{}", std::process::id()),
        logs: cd.dir.join("logs/pod"),
        vol_host: cd.dir.join("vol"),
        vol: cd.dir.join("vol-in-container").display().to_string(),
        t0,
        cri,
        cd,
    };
    fs::create_dir_all(node.logs.join("payload")).unwrap();
    fs::create_dir_all(&node.vol_host).unwrap();
    fs::set_permissions(&node.vol_host, fs::Permissions::from_mode(0o777)).unwrap();
    fs::write(node.vol_host.join("in.txt"), "volume from the host\n").unwrap();
    node.step("containerd up, images imported");

    let (sandbox, pause) = run_pod(&node);
    let ctr = start_container(&node, &sandbox);
    let bg = exec(&node, &ctr);
    stats_and_resources(&node, &ctr);
    logs(&node, &ctr);
    stop_and_remove(&node, &sandbox, pause, &ctr, &bg);
    refuse_pod_network(&node);
    nothing_left(&node);
}

/// RunPodSandbox as the kubelet asks for a HostProcess pod; returns the sandbox id and its
/// pause process.
fn run_pod(n: &Node) -> (String, ProcId) {
    let pod = pod_config("hostprocess", &n.logs, &n.parent, NamespaceMode::Node);
    let sandbox = call!(
        n,
        runtime.run_pod_sandbox(RunPodSandboxRequest {
            config: Some(pod),
            runtime_handler: HANDLER.into(),
        })
    )
    .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", n.cd.log_tail(60)))
    .pod_sandbox_id;
    n.step("RunPodSandbox");
    let spec = n.oci_spec(&sandbox);
    let job = format!("{}/{sandbox}", n.parent);
    assert_eq!(spec["linux"]["cgroupsPath"], job, "sandbox cgroupsPath");
    assert_eq!(spec["process"]["args"], serde_json::json!(["/pause"]));
    assert_eq!(
        spec["annotations"]["microsoft.com/hostprocess-container"],
        "true"
    );
    let pid = read_pid(
        &n.cd.bundle(&sandbox).join("init.pid"),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|| panic!("sandbox init.pid\n{}", n.diag(&sandbox)));
    assert!(
        cmdline(pid).contains("pause"),
        "the sandbox runs /pause from the image: {:?}",
        cmdline(pid)
    );
    assert_in_job(&cgroup_of(pid), &job, "the pause process");
    let pause = ProcId::of(pid).expect("the pause process");
    (sandbox, pause)
}

/// CreateContainer, StartContainer, ContainerStatus; returns the container id.
fn start_container(n: &Node, sandbox: &str) -> String {
    let ctr = call!(
        n,
        runtime.create_container(CreateContainerRequest {
            pod_sandbox_id: sandbox.into(),
            config: Some(container_config(&n.vol_host, &n.vol)),
            sandbox_config: Some(pod_config(
                "hostprocess",
                &n.logs,
                &n.parent,
                NamespaceMode::Node
            )),
        })
    )
    .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", n.cd.log_tail(60)))
    .container_id;
    let start = StartContainerRequest {
        container_id: ctr.clone(),
    };
    call!(n, runtime.start_container(start))
        .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", n.diag(&ctr)));
    n.step("CreateContainer, StartContainer");

    let job = format!("{}/{ctr}", n.parent);
    let spec = n.oci_spec(&ctr);
    assert_eq!(spec["linux"]["cgroupsPath"], job, "container cgroupsPath");
    let ann = &spec["annotations"];
    assert_eq!(
        ann["microsoft.com/hostprocess-container"], "true",
        "pod annotation: {ann}"
    );
    assert_eq!(
        ann["hostproc.io/grace-period"], "2s",
        "pod annotation: {ann}"
    );
    assert_eq!(
        ann["hostproc.io/mount-mode"], "bind",
        "container annotation: {ann}"
    );
    assert!(
        ann.get("hptest.io/not-passed").is_none(),
        "containerd filters: {ann}"
    );

    let init = read_pid(&n.vol_host.join("init"), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the payload never started\n{}", n.diag(&ctr)));
    let req = ContainerStatusRequest {
        container_id: ctr.clone(),
        verbose: true,
    };
    let status = call!(n, runtime.container_status(req)).unwrap();
    let st = status.status.as_ref().unwrap();
    assert_eq!(st.state, ContainerState::ContainerRunning as i32, "{st:?}");
    let info = status.info.get("info").map(String::as_str).unwrap_or("{}");
    let info: Value = serde_json::from_str(info).unwrap();
    assert_eq!(
        info["pid"], init,
        "the CRI's pid is the payload's init: {info}"
    );
    assert_in_job(&cgroup_of(init), &job, "the payload's init");
    let pid_ns = fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    assert_eq!(
        pid_ns.display().to_string(),
        own_ns("pid"),
        "host PID namespace"
    );
    ctr
}

/// ExecSync: output, exit code, user, job; then background processes started by an exec
/// (one plain, one in its own session ignoring SIGTERM), returned.
fn exec(n: &Node, ctr: &str) -> Vec<ProcId> {
    let sh = |script: String| ExecSyncRequest {
        container_id: ctr.into(),
        cmd: vec!["/bin/sh".into(), "-c".into(), script],
        timeout: 30,
    };
    let ex = call!(
        n,
        runtime.exec_sync(sh("echo exec-out; echo uid=$(id -u); \
             echo sandbox=$CONTAINER_SANDBOX_MOUNT_POINT; echo resolv=$(stat -c %i /etc/resolv.conf); \
             echo cgroups-begin; cat /proc/self/cgroup; echo cgroups-end; echo exec-err >&2; exit 3"
            .into()))
    )
    .unwrap_or_else(|e| panic!("ExecSync: {e}\n{}", n.diag(ctr)));
    let out = String::from_utf8_lossy(&ex.stdout).into_owned();
    let err = String::from_utf8_lossy(&ex.stderr).into_owned();
    assert_eq!(ex.exit_code, 3, "ExecSync exit code\n{out}\n{err}");
    assert!(out.starts_with("exec-out\n"), "ExecSync stdout: {out}");
    assert!(
        out.contains(&format!("\nuid={USER}\n")),
        "the container's user: {out}"
    );
    assert!(
        out.contains("\nsandbox=/hpc\n"),
        "ExecSync sees the sandbox: {out}"
    );
    // containerd binds its per-pod copy over /etc/resolv.conf; the payload sees the node's.
    use std::os::unix::fs::MetadataExt;
    let node = fs::metadata("/etc/resolv.conf").map(|m| m.ino()).unwrap_or(0);
    assert!(
        out.contains(&format!("\nresolv={node}\n")),
        "ExecSync sees the node's /etc/resolv.conf (inode {node}): {out}"
    );
    assert_eq!(err, "exec-err\n", "ExecSync stderr");
    let cg = out
        .split("cgroups-begin\n")
        .nth(1)
        .and_then(|s| s.split("cgroups-end").next());
    let job = format!("{}/{ctr}", n.parent);
    assert_in_job(cg.unwrap_or_default(), &job, "the ExecSync process");

    let vol = &n.vol;
    let ex = call!(
        n,
        runtime.exec_sync(sh(format!(
            "sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > {vol}/bg1; \
             setsid sh -c 'trap \"\" TERM; exec sleep 1001' </dev/null >/dev/null 2>&1 & \
             echo $! > {vol}/bg2; echo started"
        )))
    )
    .unwrap_or_else(|e| panic!("ExecSync (background): {e}\n{}", n.diag(ctr)));
    let out = String::from_utf8_lossy(&ex.stdout);
    assert_eq!((ex.exit_code, out.trim()), (0, "started"));
    let bg = ["bg1", "bg2"].map(|f| {
        let pid = read_pid(&n.vol_host.join(f), Duration::from_secs(10)).unwrap();
        assert_in_job(&cgroup_of(pid), &job, f);
        ProcId::of(pid).unwrap_or_else(|| panic!("{f} ({pid}) is not running"))
    });
    n.step("ContainerStatus, ExecSync");
    bg.to_vec()
}

/// ContainerStats; UpdateContainerResources read back from the job's cgroup files.
fn stats_and_resources(n: &Node, ctr: &str) {
    let req = ContainerStatsRequest {
        container_id: ctr.into(),
    };
    let stats = call!(n, runtime.container_stats(req))
        .unwrap_or_else(|e| panic!("ContainerStats: {e}\n{}", n.diag(ctr)))
        .stats
        .unwrap();
    let cpu = stats
        .cpu
        .as_ref()
        .and_then(|c| c.usage_core_nano_seconds.as_ref());
    assert!(
        cpu.is_some_and(|v| v.value > 0),
        "ContainerStats cpu: {stats:?}"
    );
    let mem = stats
        .memory
        .as_ref()
        .and_then(|m| m.working_set_bytes.as_ref());
    assert!(mem.is_some(), "ContainerStats memory: {stats:?}");

    let limit: i64 = 256 << 20;
    call!(
        n,
        runtime.update_container_resources(UpdateContainerResourcesRequest {
            container_id: ctr.into(),
            linux: Some(LinuxContainerResources {
                cpu_period: 100_000,
                cpu_quota: 50_000,
                cpu_shares: 512,
                memory_limit_in_bytes: limit,
                oom_score_adj: 1000,
                ..Default::default()
            }),
            ..Default::default()
        })
    )
    .unwrap_or_else(|e| panic!("UpdateContainerResources: {e}\n{}", n.diag(ctr)));
    let job = format!("{}/{ctr}", n.parent);
    let mem = own_cgroup_dir("memory").join(&job);
    let cpu = own_cgroup_dir("cpu").join(&job);
    let expected = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        // cgroup v2 only (own_cgroup_dir gives the unified hierarchy).
        vec![
            (mem.join("memory.max"), limit.to_string()),
            (cpu.join("cpu.max"), "50000 100000".into()),
        ]
    } else {
        vec![
            (mem.join("memory.limit_in_bytes"), limit.to_string()),
            (cpu.join("cpu.cfs_quota_us"), "50000".into()),
            (cpu.join("cpu.shares"), "512".into()),
        ]
    };
    for (file, value) in expected {
        assert_eq!(
            read_trim(&file),
            value,
            "UpdateContainerResources: {}",
            file.display()
        );
    }
    n.step("ContainerStats, UpdateContainerResources");
}

/// The container's log in the CRI format; the kubelet's rotation with ReopenContainerLog.
fn logs(n: &Node, ctr: &str) {
    let log = n.logs.join("payload/0.log");
    let said = |i: u32| {
        fs::write(n.vol_host.join("say"), "").unwrap();
        wait_until_every(Duration::from_secs(15), POLL, || {
            has_line(&cri_log(&log), &format!("said-{i}"))
        })
    };
    assert!(
        said(1),
        "said-1 not logged: {:?}\n{}",
        cri_log(&log),
        n.diag(ctr)
    );
    let lines = cri_log(&log);
    let first = [
        "uid=65534 gid=65534",
        "env=from-cri",
        "file=file from the image",
        "vol=volume from the host",
    ];
    for l in first {
        assert!(has_line(&lines, l), "{l:?} not in the CRI log: {lines:?}");
    }
    // The kubelet renames the file, then asks for a new one: the next line goes there.
    let rotated = n.logs.join("payload/0.log.1");
    fs::rename(&log, &rotated).unwrap();
    let req = ReopenContainerLogRequest {
        container_id: ctr.into(),
    };
    call!(n, runtime.reopen_container_log(req))
        .unwrap_or_else(|e| panic!("ReopenContainerLog: {e}\n{}", n.diag(ctr)));
    assert!(
        said(2),
        "said-2 not in the reopened log: {:?}",
        cri_log(&log)
    );
    assert!(
        !has_line(&cri_log(&rotated), "said-2"),
        "said-2 went to the rotated file"
    );
    n.step("log, ReopenContainerLog");
}

/// StopContainer (the init goes on SIGTERM, the exec'd processes with the job),
/// RemoveContainer, StopPodSandbox, RemovePodSandbox, each leaving nothing.
fn stop_and_remove(n: &Node, sandbox: &str, pause: ProcId, ctr: &str, bg: &[ProcId]) {
    let stop = Instant::now();
    let req = StopContainerRequest {
        container_id: ctr.into(),
        timeout: 10,
    };
    call!(n, runtime.stop_container(req))
        .unwrap_or_else(|e| panic!("StopContainer: {e}\n{}", n.diag(ctr)));
    let stop_took = stop.elapsed();
    let gone = wait_until_every(Duration::from_secs(15), POLL, || {
        bg.iter().all(|p| !p.alive())
    });
    let bg_gone = stop.elapsed();
    let left: Vec<_> = bg
        .iter()
        .filter(|p| p.alive())
        .map(|p| (p.pid, cmdline(p.pid)))
        .collect();
    for p in bg {
        p.kill();
    }
    assert!(
        gone,
        "exec'd processes outlived StopContainer: {left:?}\n{}",
        n.diag(ctr)
    );
    eprintln!(
        "StopContainer returned after {stop_took:?}; exec'd processes gone after {bg_gone:?}"
    );
    // bg2 ignores SIGTERM: the shim's `kill --all 9` after init's exit waits for the job's
    // grace period (2 s here) before it kills, so StopContainer cannot return sooner.
    assert!(
        stop_took >= Duration::from_millis(1500),
        "StopContainer returned after {stop_took:?}: the grace period (2 s) was cut short"
    );
    let req = ContainerStatusRequest {
        container_id: ctr.into(),
        verbose: false,
    };
    let st = call!(n, runtime.container_status(req))
        .unwrap()
        .status
        .unwrap();
    assert_eq!(
        (st.state, st.exit_code),
        (ContainerState::ContainerExited as i32, 0),
        "the payload exits 0 on SIGTERM: {st:?}"
    );
    let log = cri_log(&n.logs.join("payload/0.log"));
    assert!(
        has_line(&log, "stopping"),
        "the payload's trap ran: {log:?}"
    );
    n.step("StopContainer");

    call!(
        n,
        runtime.remove_container(RemoveContainerRequest {
            container_id: ctr.into()
        })
    )
    .unwrap_or_else(|e| panic!("RemoveContainer: {e}\n{}", n.cd.log_tail(40)));
    n.assert_gone(ctr);
    assert!(
        !Path::new(&n.vol).exists(),
        "the mount point hostproc made is left: {}",
        n.vol
    );
    call!(
        n,
        runtime.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: sandbox.into()
        })
    )
    .unwrap_or_else(|e| panic!("StopPodSandbox: {e}\n{}", n.diag(sandbox)));
    assert!(
        pause.wait_gone(Duration::from_secs(10)),
        "pause outlived StopPodSandbox"
    );
    let req = RemovePodSandboxRequest {
        pod_sandbox_id: sandbox.into(),
    };
    call!(n, runtime.remove_pod_sandbox(req))
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}\n{}", n.cd.log_tail(40)));
    n.assert_gone(sandbox);
    n.step("RemoveContainer, StopPodSandbox, RemovePodSandbox");
}

/// A pod network namespace: containerd makes it (and calls the CNI) before it creates the
/// sandbox; hostproc's refusal comes back through RunPodSandbox.
fn refuse_pod_network(n: &Node) {
    let refused = call!(
        n,
        runtime.run_pod_sandbox(RunPodSandboxRequest {
            config: Some(pod_config(
                "podnetwork",
                &n.logs,
                &n.parent,
                NamespaceMode::Pod
            )),
            runtime_handler: HANDLER.into(),
        })
    );
    let msg = match refused {
        Ok(r) => panic!("a pod network namespace was accepted: {}", r.pod_sandbox_id),
        Err(e) => e.message().to_owned(),
    };
    assert!(
        msg.contains("linux.namespaces (network)")
            && msg.contains("is not the host's network namespace")
            && msg.contains("hostNetwork: true"),
        "RunPodSandbox did not return hostproc's refusal: {msg}\n{}",
        n.cd.log_tail(40)
    );
    n.step("RunPodSandbox with a pod network refused");
}

/// No sandbox, container, cgroup, process, hostproc state, shim or mount is left.
fn nothing_left(n: &Node) {
    let pods = call!(
        n,
        runtime.list_pod_sandbox(ListPodSandboxRequest { filter: None })
    );
    let pods = pods.unwrap().items;
    assert!(pods.is_empty(), "sandboxes left: {pods:?}");
    let cs = call!(
        n,
        runtime.list_containers(ListContainersRequest { filter: None })
    );
    let cs = cs.unwrap().containers;
    assert!(cs.is_empty(), "containers left: {cs:?}");
    let cgroups = cgroup_dirs_named(&n.parent);
    assert!(cgroups.is_empty(), "the cgroup parent is left: {cgroups:?}");
    let procs: Vec<_> = processes_in_cgroup(&n.parent)
        .into_iter()
        .map(|p| (p, cmdline(p)))
        .collect();
    assert!(
        procs.is_empty(),
        "processes left in the pod's cgroups: {procs:?}"
    );
    let state = n.cd.state_entries();
    assert!(state.is_empty(), "hostproc's state left: {state:?}");
    let shims = n.cd.our_shims();
    assert!(shims.is_empty(), "shims left: {shims:?}");
    let mounts = mountinfo_lines_with(&n.cd.dir.display().to_string());
    assert!(mounts.is_empty(), "mounts left:\n{}", mounts.join("\n"));
    n.step("nothing left");
}
