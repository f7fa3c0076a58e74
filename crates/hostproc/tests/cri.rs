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

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatsRequest,
    ContainerStatusRequest, CreateContainerRequest, ExecSyncRequest, ImageSpec, Int64Value,
    KeyValue, LinuxContainerConfig, LinuxContainerResources, LinuxContainerSecurityContext,
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, ListContainersRequest,
    ListPodSandboxRequest, Mount, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, RemoveContainerRequest, RemovePodSandboxRequest,
    ReopenContainerLogRequest, RunPodSandboxRequest, StartContainerRequest,
    StopContainerRequest, StopPodSandboxRequest, UpdateContainerResourcesRequest,
};
use serde_json::Value;

use client::{cri_config, map, CniCache, Cri, HANDLER, PAUSE};
use common::containerd::{
    assert_in_job, cgroup_dirs_named, cmdline, mountinfo_lines_with, read_pid, Containerd, POLL,
};
use common::lc::{is_rfc3339, wait_until_every};
use common::{own_cgroup_dir, own_ns, processes_in_cgroup, Live, ProcId};

/// The CRI's containerd namespace.
const NAMESPACE: &str = "k8s.io";
const IMAGE: &str = "hptest.local/hostproc/hello:v1";
const USER: i64 = 65534;

/// One CRI call on a client of `$cri`: `call!(cri, runtime.run_pod_sandbox(req))`.
macro_rules! call {
    ($cri:expr, $svc:ident . $m:ident ($req:expr)) => {{
        let mut c = $cri.$svc.clone();
        $cri.block(c.$m($req))
    }};
}

fn namespaces(network: NamespaceMode) -> Option<NamespaceOption> {
    Some(NamespaceOption {
        network: network as i32,
        pid: NamespaceMode::Node as i32,
        ipc: NamespaceMode::Node as i32,
        ..Default::default()
    })
}

/// A HostProcess pod as the kubelet describes it (hostNetwork unless `network` says POD).
fn pod_config(name: &str, logs: &Path, parent: &str, network: NamespaceMode) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "hptest".into(),
            attempt: 0,
        }),
        log_directory: logs.display().to_string(),
        labels: map(&[("app", name)]),
        annotations: map(&[
            ("microsoft.com/hostprocess-container", "true"),
            ("hostproc.io/grace-period", "2s"),
            // Not in the handler's pod_annotations: containerd must not pass it on.
            ("hptest.io/not-passed", "x"),
        ]),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: parent.into(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: namespaces(network),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The payload: prints what it sees, then says `said-N` each time `<vol>/say` appears,
/// until SIGTERM.
fn payload_script(vol: &str) -> String {
    format!(
        "echo \"uid=$(id -u) gid=$(id -g)\"; echo \"env=$HPTEST_ENV\"; \
         echo \"file=$(cat \"$HPTEST_FILE\")\"; echo \"vol=$(cat {vol}/in.txt)\"; \
         echo $$ > {vol}/init.tmp && mv {vol}/init.tmp {vol}/init; \
         trap 'echo stopping; exit 0' TERM; n=0; \
         while :; do \
           if [ -e {vol}/say ]; then n=$((n+1)); echo \"said-$n\"; rm -f {vol}/say; fi; \
           sleep 0.1 & wait $!; \
         done"
    )
}

fn container_config(vol_host: &Path, vol: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata { name: "payload".into(), attempt: 0 }),
        image: Some(ImageSpec { image: IMAGE.into(), ..Default::default() }),
        command: vec!["/bin/sh".into(), "-c".into()],
        args: vec![payload_script(vol)],
        envs: vec![
            KeyValue { key: "HPTEST_ENV".into(), value: "from-cri".into() },
            KeyValue {
                key: "HPTEST_FILE".into(),
                value: "$CONTAINER_SANDBOX_MOUNT_POINT/hello.txt".into(),
            },
        ],
        mounts: vec![Mount {
            container_path: vol.into(),
            host_path: vol_host.display().to_string(),
            ..Default::default()
        }],
        annotations: map(&[("hostproc.io/mount-mode", "bind")]),
        log_path: "payload/0.log".into(),
        linux: Some(LinuxContainerConfig {
            // What the kubelet gives a BestEffort container.
            resources: Some(LinuxContainerResources {
                cpu_period: 100_000,
                cpu_shares: 2,
                oom_score_adj: 1000,
                ..Default::default()
            }),
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: namespaces(NamespaceMode::Node),
                run_as_user: Some(Int64Value { value: USER }),
                run_as_group: Some(Int64Value { value: USER }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// The OCI spec containerd gave hostproc for `id` (the shim's bundle).
fn oci_spec(cd: &Containerd, id: &str) -> Value {
    let p = cd.bundle(id).join("config.json");
    serde_json::from_str(&fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// The lines of a CRI log file as (timestamp, stream, tag, content); each is checked to
/// be `<RFC3339Nano> <stdout|stderr> <F|P> <content>`.
#[track_caller]
fn cri_log(path: &Path) -> Vec<(String, String, String, String)> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            assert!(
                f.len() == 4
                    && is_rfc3339(f[0])
                    && matches!(f[1], "stdout" | "stderr")
                    && matches!(f[2], "F" | "P"),
                "{}: not a CRI log line: {l:?}",
                path.display()
            );
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

fn has_line(log: &[(String, String, String, String)], content: &str) -> bool {
    log.iter().any(|(_, s, t, c)| s == "stdout" && t == "F" && c == content)
}

fn read_trim(p: &Path) -> String {
    fs::read_to_string(p).map(|s| s.trim().to_owned()).unwrap_or_else(|e| format!("<{e}>"))
}

/// Nothing of `id` is left: no cgroup, hostproc state, shim, or mount naming it.
#[track_caller]
fn assert_gone(cd: &Containerd, id: &str) {
    let ok = wait_until_every(Duration::from_secs(15), POLL, || {
        cgroup_dirs_named(id).is_empty() && cd.shim_of(id).is_empty()
    });
    assert!(ok, "{id}: cgroups {:?} or shims {:?} left", cgroup_dirs_named(id), cd.shim_of(id));
    let state = cd.state_entries();
    assert!(!state.iter().any(|e| e.contains(id)), "{id}: hostproc's state left: {state:?}");
    let mounts = mountinfo_lines_with(id);
    assert!(mounts.is_empty(), "{id}: mounts left:\n{}", mounts.join("\n"));
}

#[test]
fn cri_runs_hostprocess_pods() {
    // hostproc runs without a test state root: hold the tests' live lock all the same
    // (dropped last), so that no other test's end removes /hpc from under this one.
    let _live = Live::new();
    let _cni_cache = CniCache::note();
    let Some(cd) = Containerd::start(NAMESPACE, Some(&cri_config)) else {
        return;
    };
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("[{:>6.2}s] {what}", t0.elapsed().as_secs_f64());
    cd.import_image(PAUSE, Some("/pause"));
    cd.import_image(IMAGE, None);
    let cri = Cri::connect(&cd.sock);
    let diag = |id: &str| cd.diagnostics(Some(id));

    let v = cri.wait_version(Duration::from_secs(60)).unwrap_or_else(|e| {
        panic!("CRI Version: {e}\n{}", cd.log_tail(60))
    });
    assert_eq!(v.runtime_name, "containerd", "{v:?}");
    assert_eq!(v.runtime_api_version, "v1", "{v:?}");
    for image in [PAUSE, IMAGE] {
        assert!(
            cri.wait_image(image, Duration::from_secs(30)),
            "the CRI does not list the imported {image}\n{}",
            cd.log_tail(40)
        );
    }
    step("containerd up, images imported");

    let tag = std::process::id();
    // A relative cgroup parent: containerd passes `<parent>/<id>`, beneath our cgroups.
    let parent = format!("hptest-cri-{tag}");
    let logs = cd.dir.join("logs/pod");
    fs::create_dir_all(logs.join("payload")).unwrap();
    let vol_host = cd.dir.join("vol");
    fs::create_dir_all(&vol_host).unwrap();
    fs::set_permissions(&vol_host, fs::Permissions::from_mode(0o777)).unwrap();
    fs::write(vol_host.join("in.txt"), "volume from the host\n").unwrap();
    // The mount's destination does not exist on the host: hostproc makes it and removes it.
    let vol = cd.dir.join("vol-in-container").display().to_string();
    let host_pid_ns = own_ns("pid");

    // --- the pod ---
    let pod = pod_config("hostprocess", &logs, &parent, NamespaceMode::Node);
    let sandbox = call!(cri, runtime.run_pod_sandbox(RunPodSandboxRequest {
        config: Some(pod.clone()),
        runtime_handler: HANDLER.into(),
    }))
    .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.log_tail(60)))
    .pod_sandbox_id;
    step("RunPodSandbox");
    let spec = oci_spec(&cd, &sandbox);
    assert_eq!(spec["linux"]["cgroupsPath"], format!("{parent}/{sandbox}"), "sandbox cgroupsPath");
    assert_eq!(spec["process"]["args"], serde_json::json!(["/pause"]), "sandbox command");
    assert_eq!(spec["annotations"]["microsoft.com/hostprocess-container"], "true");
    let pause_pid = fs::read_to_string(cd.bundle(&sandbox).join("init.pid")).unwrap_or_default();
    let pause_pid: i32 = pause_pid.trim().parse().unwrap_or_else(|_| panic!("sandbox init.pid\n{}", diag(&sandbox)));
    assert!(cmdline(pause_pid).contains("pause"), "the sandbox runs /pause from the image: {:?}", cmdline(pause_pid));
    assert_in_job(&read_trim(&PathBuf::from(format!("/proc/{pause_pid}/cgroup"))), &format!("{parent}/{sandbox}"), "the pause process");

    // --- the container ---
    let ctr = call!(cri, runtime.create_container(CreateContainerRequest {
        pod_sandbox_id: sandbox.clone(),
        config: Some(container_config(&vol_host, &vol)),
        sandbox_config: Some(pod.clone()),
    }))
    .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", cd.log_tail(60)))
    .container_id;
    let job = format!("{parent}/{ctr}");
    call!(cri, runtime.start_container(StartContainerRequest { container_id: ctr.clone() }))
        .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", diag(&ctr)));
    step("CreateContainer, StartContainer");
    let spec = oci_spec(&cd, &ctr);
    assert_eq!(spec["linux"]["cgroupsPath"], job, "container cgroupsPath");
    let ann = &spec["annotations"];
    assert_eq!(ann["microsoft.com/hostprocess-container"], "true", "pod annotation passed: {ann}");
    assert_eq!(ann["hostproc.io/grace-period"], "2s", "pod annotation passed: {ann}");
    assert_eq!(ann["hostproc.io/mount-mode"], "bind", "container annotation passed: {ann}");
    assert!(ann.get("hptest.io/not-passed").is_none(), "containerd filters pod annotations: {ann}");

    let init = read_pid(&vol_host.join("init"), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the payload never started\n{}", diag(&ctr)));
    let status = call!(cri, runtime.container_status(ContainerStatusRequest {
        container_id: ctr.clone(),
        verbose: true,
    }))
    .unwrap();
    let st = status.status.as_ref().unwrap();
    assert_eq!(st.state, ContainerState::ContainerRunning as i32, "ContainerStatus: {st:?}");
    let info: Value = serde_json::from_str(status.info.get("info").map(String::as_str).unwrap_or("{}")).unwrap();
    assert_eq!(info["pid"], init, "the CRI's pid is the payload's init: {info}");
    assert_in_job(&read_trim(&PathBuf::from(format!("/proc/{init}/cgroup"))), &job, "the payload's init");
    assert_eq!(fs::read_link(format!("/proc/{init}/ns/pid")).unwrap().display().to_string(), host_pid_ns, "host PID namespace");

    // --- exec ---
    let ex = call!(cri, runtime.exec_sync(ExecSyncRequest {
        container_id: ctr.clone(),
        cmd: vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo exec-out; echo uid=$(id -u); echo sandbox=$CONTAINER_SANDBOX_MOUNT_POINT; \
             echo cgroups-begin; cat /proc/self/cgroup; echo cgroups-end; echo exec-err >&2; exit 3"
                .into(),
        ],
        timeout: 30,
    }))
    .unwrap_or_else(|e| panic!("ExecSync: {e}\n{}", diag(&ctr)));
    let out = String::from_utf8_lossy(&ex.stdout).into_owned();
    let err = String::from_utf8_lossy(&ex.stderr).into_owned();
    assert_eq!(ex.exit_code, 3, "ExecSync exit code\n{out}\n{err}");
    assert!(out.starts_with("exec-out\n"), "ExecSync stdout: {out}");
    assert!(out.contains(&format!("\nuid={USER}\n")), "ExecSync runs as the container's user: {out}");
    assert!(out.contains("\nsandbox=/hpc\n"), "ExecSync sees the sandbox: {out}");
    assert_eq!(err, "exec-err\n", "ExecSync stderr");
    let cg = out.split("cgroups-begin\n").nth(1).and_then(|s| s.split("cgroups-end").next()).unwrap_or_default();
    assert_in_job(cg, &job, "the ExecSync process");
    step("ContainerStatus, ExecSync");

    // Long processes started by an exec: one plain, one in its own session ignoring SIGTERM.
    let ex = call!(cri, runtime.exec_sync(ExecSyncRequest {
        container_id: ctr.clone(),
        cmd: vec![
            "/bin/sh".into(),
            "-c".into(),
            format!(
                "sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > {vol}/bg1; \
                 setsid sh -c 'trap \"\" TERM; exec sleep 1001' </dev/null >/dev/null 2>&1 & \
                 echo $! > {vol}/bg2; echo started"
            ),
        ],
        timeout: 30,
    }))
    .unwrap_or_else(|e| panic!("ExecSync (background): {e}\n{}", diag(&ctr)));
    assert_eq!((ex.exit_code, String::from_utf8_lossy(&ex.stdout).trim()), (0, "started"));
    let bg: Vec<ProcId> = ["bg1", "bg2"]
        .iter()
        .map(|f| {
            let pid = read_pid(&vol_host.join(f), Duration::from_secs(10)).unwrap();
            assert_in_job(&read_trim(&PathBuf::from(format!("/proc/{pid}/cgroup"))), &job, f);
            ProcId::of(pid).unwrap_or_else(|| panic!("{f} ({pid}) is not running"))
        })
        .collect();

    // --- stats and resources ---
    let stats = call!(cri, runtime.container_stats(ContainerStatsRequest { container_id: ctr.clone() }))
        .unwrap_or_else(|e| panic!("ContainerStats: {e}\n{}", diag(&ctr)))
        .stats
        .unwrap();
    let cpu = stats.cpu.as_ref().and_then(|c| c.usage_core_nano_seconds.as_ref()).map(|v| v.value);
    assert!(cpu.is_some_and(|n| n > 0), "ContainerStats cpu: {stats:?}");
    let mem = stats.memory.as_ref().and_then(|m| m.working_set_bytes.as_ref()).map(|v| v.value);
    assert!(mem.is_some(), "ContainerStats memory: {stats:?}");

    let limit: i64 = 256 << 20;
    call!(cri, runtime.update_container_resources(UpdateContainerResourcesRequest {
        container_id: ctr.clone(),
        linux: Some(LinuxContainerResources {
            cpu_period: 100_000,
            cpu_quota: 50_000,
            cpu_shares: 512,
            memory_limit_in_bytes: limit,
            oom_score_adj: 1000,
            ..Default::default()
        }),
        ..Default::default()
    }))
    .unwrap_or_else(|e| panic!("UpdateContainerResources: {e}\n{}", diag(&ctr)));
    let mem_dir = own_cgroup_dir("memory").join(&job);
    let cpu_dir = own_cgroup_dir("cpu").join(&job);
    let expected: &[(&Path, &str, String)] = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        // cgroup v2 only (own_cgroup_dir gives the unified hierarchy).
        &[(&mem_dir, "memory.max", limit.to_string()), (&cpu_dir, "cpu.max", "50000 100000".into())]
    } else {
        &[
            (&mem_dir, "memory.limit_in_bytes", limit.to_string()),
            (&cpu_dir, "cpu.cfs_quota_us", "50000".into()),
            (&cpu_dir, "cpu.shares", "512".into()),
        ]
    };
    for (dir, file, value) in expected {
        assert_eq!(&read_trim(&dir.join(file)), value, "UpdateContainerResources: {}", dir.join(file).display());
    }
    step("ContainerStats, UpdateContainerResources");

    // --- logs ---
    let log = logs.join("payload/0.log");
    let first = ["uid=65534 gid=65534", "env=from-cri", "file=file from the image", "vol=volume from the host"];
    fs::write(vol_host.join("say"), "").unwrap();
    let seen = wait_until_every(Duration::from_secs(15), POLL, || has_line(&cri_log(&log), "said-1"));
    let lines = cri_log(&log);
    assert!(seen, "said-1 not logged: {lines:?}\n{}", diag(&ctr));
    for l in first {
        assert!(has_line(&lines, l), "{l:?} not in the CRI log: {lines:?}");
    }
    // The kubelet's rotation: rename, then ReopenContainerLog; the next line goes to a new file.
    let rotated = logs.join("payload/0.log.1");
    fs::rename(&log, &rotated).unwrap();
    call!(cri, runtime.reopen_container_log(ReopenContainerLogRequest { container_id: ctr.clone() }))
        .unwrap_or_else(|e| panic!("ReopenContainerLog: {e}\n{}", diag(&ctr)));
    fs::write(vol_host.join("say"), "").unwrap();
    let seen = wait_until_every(Duration::from_secs(15), POLL, || has_line(&cri_log(&log), "said-2"));
    assert!(seen, "said-2 not in the reopened log: {:?}", cri_log(&log));
    assert!(!has_line(&cri_log(&rotated), "said-2"), "said-2 went to the rotated file");
    step("log, ReopenContainerLog");

    // --- stop: the init goes on SIGTERM, the exec'd processes with the job ---
    let stop = Instant::now();
    call!(cri, runtime.stop_container(StopContainerRequest { container_id: ctr.clone(), timeout: 10 }))
        .unwrap_or_else(|e| panic!("StopContainer: {e}\n{}", diag(&ctr)));
    let stop_took = stop.elapsed();
    let gone = wait_until_every(Duration::from_secs(15), POLL, || bg.iter().all(|p| !p.alive()));
    let bg_gone_after = stop.elapsed();
    let left: Vec<_> = bg.iter().filter(|p| p.alive()).map(|p| (p.pid, cmdline(p.pid))).collect();
    for p in &bg {
        p.kill();
    }
    assert!(gone, "exec'd processes outlived StopContainer: {left:?}\n{}", diag(&ctr));
    eprintln!("StopContainer returned after {stop_took:?}; exec'd processes gone after {bg_gone_after:?}");
    let st = call!(cri, runtime.container_status(ContainerStatusRequest { container_id: ctr.clone(), verbose: false }))
        .unwrap()
        .status
        .unwrap();
    assert_eq!(
        (st.state, st.exit_code),
        (ContainerState::ContainerExited as i32, 0),
        "the payload exits 0 on SIGTERM: {st:?}"
    );
    assert!(has_line(&cri_log(&log), "stopping"), "the payload's trap ran: {:?}", cri_log(&log));
    step("StopContainer");

    call!(cri, runtime.remove_container(RemoveContainerRequest { container_id: ctr.clone() }))
        .unwrap_or_else(|e| panic!("RemoveContainer: {e}\n{}", cd.log_tail(40)));
    assert_gone(&cd, &ctr);
    assert!(!Path::new(&vol).exists(), "the mount point hostproc made on the host is left: {vol}");
    call!(cri, runtime.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: sandbox.clone() }))
        .unwrap_or_else(|e| panic!("StopPodSandbox: {e}\n{}", diag(&sandbox)));
    assert!(ProcId::of(pause_pid).is_none_or(|p| p.wait_gone(Duration::from_secs(10))), "the pause process outlived StopPodSandbox");
    call!(cri, runtime.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: sandbox.clone() }))
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}\n{}", cd.log_tail(40)));
    assert_gone(&cd, &sandbox);
    step("RemoveContainer, StopPodSandbox, RemovePodSandbox");

    // --- a pod network namespace: refused by hostproc, through RunPodSandbox ---
    let refused = call!(cri, runtime.run_pod_sandbox(RunPodSandboxRequest {
        config: Some(pod_config("podnetwork", &logs, &parent, NamespaceMode::Pod)),
        runtime_handler: HANDLER.into(),
    }));
    let msg = match refused {
        Ok(r) => panic!("a pod network namespace was accepted: {}", r.pod_sandbox_id),
        Err(e) => e.message().to_owned(),
    };
    assert!(
        msg.contains("linux.namespaces (network)") && msg.contains("is not the host's network namespace"),
        "RunPodSandbox did not return hostproc's refusal: {msg}\n{}",
        cd.log_tail(40)
    );
    step("RunPodSandbox with a pod network refused");

    // --- nothing left ---
    let pods = call!(cri, runtime.list_pod_sandbox(ListPodSandboxRequest { filter: None })).unwrap();
    assert!(pods.items.is_empty(), "sandboxes left: {:?}", pods.items);
    let cs = call!(cri, runtime.list_containers(ListContainersRequest { filter: None })).unwrap();
    assert!(cs.containers.is_empty(), "containers left: {:?}", cs.containers);
    assert!(cgroup_dirs_named(&parent).is_empty(), "the cgroup parent is left: {:?}", cgroup_dirs_named(&parent));
    let procs = processes_in_cgroup(&parent);
    assert!(procs.is_empty(), "processes left in the pod's cgroups: {:?}", procs.iter().map(|&p| (p, cmdline(p))).collect::<Vec<_>>());
    assert!(cd.state_entries().is_empty(), "hostproc's state left: {:?}", cd.state_entries());
    assert!(cd.our_shims().is_empty(), "shims left: {:?}", cd.our_shims());
    let dir = cd.dir.display().to_string();
    let mounts = mountinfo_lines_with(&dir);
    assert!(mounts.is_empty(), "mounts left:\n{}", mounts.join("\n"));
    step("nothing left");
}
